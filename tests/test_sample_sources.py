"""The simulated sample sources as declared: they match the committed lock's recipe and fingerprint (on any CPU), are
frozen byte for byte on this machine, readable, never written to."""
import builtins, os
from pathlib import Path
import numpy as np
import pytest
from conftest import bpho, REPO
from bpho_lib.config import get_settings
from bpho_lib.datasources import load_manifest, load_lock, verify, require, scan_files
from bpho_lib.io import read_image, image_info, IMAGE_SUFFIXES

def test_sample_matches_committed_lock(sampled):
    d, out = sampled
    s = get_settings(project=d)
    names = [n for n, src in load_manifest(s).items() if src.sample]
    assert len(names) == 10
    for n in names: assert f"{n}" in out and "matches its lock" in out.split(n)[1].splitlines()[0], out
    assert (d/"datasources.lock.json").read_bytes() == (REPO/"datasources.lock.json").read_bytes()
    for n in names: assert verify(s, n, full=True).ok

def test_committed_lock_pins_recipes_not_bytes():
    "The committed lock holds, for each sample source, what every machine can agree on: no sha256 of simulated bytes."
    import json
    from bpho_lib.sample import SIMULATOR_VERSION
    lock = json.loads((REPO/"datasources.lock.json").read_text())["sources"]
    sims = {n: e for n, e in lock.items() if "simulated" in e}
    assert len(sims) == 10 and all("files" not in e and "sha256" not in json.dumps(e) for e in sims.values())
    assert all(e["simulated"]["recipe"]["simulator"] == SIMULATOR_VERSION for e in sims.values())

def test_changed_declaration_is_refused_against_the_lock(project):
    "A sample source's declared parameters changed after it was frozen: refused with what changed, nothing written."
    m = project/"datasources.toml"
    m.write_text(m.read_text().replace('generator = "pairs_mito", seed = 1, n = 12', 'generator = "pairs_mito", seed = 1, n = 13'))
    r = bpho("sample", "sample_pairs_mito", cwd=project)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "no longer matches the recipe it was frozen with in datasources.lock.json" in r.stderr
    assert "parameters: {'n': 12, 'size': 1024} in the lock, {'n': 13, 'size': 1024} here" in r.stderr, r.stderr
    assert "datasources.toml:" in r.stderr and "declare the new content under a new name" in r.stderr
    assert not (project/"data/datasources/sample_pairs_mito").exists()

def test_flipped_byte_is_named(sampled, tmp_path):
    "A simulated file changed by one byte (its mtime kept): `verify --full` names it, with the hashes; restored after."
    d, _ = sampled
    f = d/"data/datasources/sample_em/em_02.czi"
    st, data = f.stat(), bytearray(f.read_bytes())
    f.chmod(0o644)
    try:
        data[1000] ^= 0x10
        f.write_bytes(bytes(data)); os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
        r = bpho("datasources", "verify", "sample_em", "--full", cwd=d)
        assert r.returncode == 1 and "CHANGED  sample_em: 1 changed" in r.stdout, r.stdout
        assert f"changed: {f}: expected sha256" in r.stdout and "found sha256" in r.stdout, r.stdout
        r = bpho("sample", "sample_em", cwd=d)
        assert r.returncode == 1 and "bpho never rewrites a source" in r.stderr, r.stderr
    finally:
        data[1000] ^= 0x10
        f.write_bytes(bytes(data)); os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns)); f.chmod(st.st_mode)
    assert bpho("datasources", "verify", "sample_em", "--full", cwd=d).returncode == 0

def test_rerun_is_a_verified_noop(sampled):
    d, _ = sampled
    r = bpho("sample", "sample_em", cwd=d)
    assert r.returncode == 0 and "present, verified" in r.stdout

def test_sample_pairs_as_specified(sampled):
    d, _ = sampled
    s = get_settings(project=d)
    src = require(s, "sample_pairs_mito")
    stems = sorted(Path(f).stem for f in scan_files(src.folder("hr")))
    assert len(stems) == 12 and stems == sorted(Path(f).stem for f in scan_files(src.folder("lr")))
    hr, lr = read_image(src.folder("hr")/"fov_03.czi"), read_image(src.folder("lr")/"fov_03.czi")
    assert hr.data.shape == (1024, 1024) and lr.data.shape == (256, 256) and lr.data.dtype == np.uint16
    assert hr.pixel_size_um["X"] == pytest.approx(0.05) and lr.pixel_size_um["X"] == pytest.approx(0.2)
    import json
    truth = json.loads((src.path/"sample.json").read_text())["fields"]
    assert set(truth) == set(stems)
    assert all(abs(v) <= 1.5 for t in truth.values() for v in t["shift_lr_px"])
    assert all(abs(t["rotation_deg"]) < 0.5 for t in truth.values())
    # the LR is the HR scene: correlated once downsampled, and offset by the recorded shift
    small = hr.data.astype(float).reshape(256, 4, 256, 4).mean((1, 3))
    assert np.corrcoef(small.ravel(), lr.data.astype(float).ravel())[0, 1] > 0.5

def test_sample_volumes_as_specified(sampled):
    "Two unpaired 3D domains at the same isotropic voxel size: FIB-SEM-like uint8 and expansion-microscopy-like uint16."
    d, _ = sampled
    s = get_settings(project=d)
    vols = {}
    for name, dtype in (("sample_vol_em", np.uint8), ("sample_vol_fluo", np.uint16)):
        src = require(s, name)
        assert src.kind == "volume" and sorted(scan_files(src.folder("volumes"))) == ["sample.json"] + [f"vol_{i:02d}.czi" for i in range(4)]
        im = read_image(src.folder("volumes")/"vol_00.czi")
        assert im.axes == "ZYX" and im.data.shape == (48, 192, 192) and im.data.dtype == dtype
        assert [im.pixel_size_um[a] for a in "XYZ"] == pytest.approx([0.02] * 3)
        vols[name] = im.data.astype(float)
    em, fl = vols["sample_vol_em"], vols["sample_vol_fluo"]
    assert np.median(em) > np.percentile(em, 1) + 50     # dark membranes on a grey background
    assert np.percentile(fl, 99.5) > 1.5 * np.median(fl)  # bright structures on a dark background
    assert abs(np.corrcoef(em.ravel(), fl.ravel())[0, 1]) < 0.1  # different scenes: never paired

def test_reading_never_writes_to_a_source(sampled, monkeypatch):
    d, _ = sampled
    s = get_settings(project=d)
    before = {p: p.stat().st_mtime_ns for p in (s.datasources).rglob("*") if p.is_file()}
    opened_for_writing, real_open = [], builtins.open
    def spy(file, mode="r", *a, **k):
        if any(c in mode for c in "wax+") and str(s.datasources) in str(Path(file).resolve()):
            opened_for_writing.append((file, mode))
        return real_open(file, mode, *a, **k)
    monkeypatch.setattr(builtins, "open", spy)
    for name, src in load_manifest(s).items():
        if not src.sample: continue
        require(s, name, full=True)
        for rel in scan_files(src.path):
            if rel.lower().endswith(IMAGE_SUFFIXES): image_info(src.path/rel); read_image(src.path/rel)
    monkeypatch.setattr(builtins, "open", real_open)
    assert opened_for_writing == []
    assert before == {p: p.stat().st_mtime_ns for p in (s.datasources).rglob("*") if p.is_file()}
    assert all(p.stat().st_mode & 0o222 == 0 for p in before)  # frozen files are read-only

def test_registration_recovers_known_shifts(sampled):
    "On every sample pair, the measured LR-vs-HR motion matches the simulator's truth to within 0.1 LR px."
    import json
    from bpho_lib.tiles import register_pair
    d, _ = sampled
    src = require(get_settings(project=d), "sample_pairs_mito")
    truth = json.loads((src.path/"sample.json").read_text())["fields"]
    for stem, t in truth.items():
        lr, hr = read_image(src.folder("lr")/f"{stem}.czi").data, read_image(src.folder("hr")/f"{stem}.czi").data
        reg = register_pair(lr, hr, 4)
        assert reg.ok, (stem, reg)
        err = np.abs(np.array(reg.shift_lr_px) - t["shift_lr_px"]).max()
        assert err < 0.1, (stem, reg, t)
        assert abs(reg.rotation_deg - t["rotation_deg"]) < 0.1, (stem, reg, t)

def test_labelled_sources_pair_images_and_labels(sampled, tmp_path):
    "Images and instance labels paired by stem, of one shape and pixel size; a copy registers as a labelled source."
    import shutil
    d, _ = sampled
    s = get_settings(project=d)
    for name, axes, n_min in (("sample_em_labelled", "YX", 40), ("sample_vol_em_labelled", "ZYX", 60),
                              ("sample_vol_fluo_labelled", "ZYX", 60)):
        src = load_manifest(s)[name]
        images, labels = sorted(src.folder("images").iterdir()), sorted(src.folder("labels").iterdir())
        assert [p.name.split(".")[0] for p in images] == [p.name.split(".")[0] for p in labels] and images
        objects = 0
        for im, lb in zip(images, labels):
            i, l = read_image(im), read_image(lb)
            assert (i.axes, l.axes, l.data.dtype, l.shape, l.pixel_size_um) == (axes, axes, np.uint16, i.shape, i.pixel_size_um)
            objects += int(l.data.max())
            assert np.array_equal(np.unique(l.data), np.arange(l.data.max() + 1))  # ids 1..n, each present
        assert objects >= n_min, (name, objects)
    # the lab's proofread volumes register the same way, their voxel sizes read from the files
    new = d/"data/datasources/proofread_vols"
    shutil.copytree(load_manifest(s)["sample_vol_em_labelled"].path, new, ignore=shutil.ignore_patterns("sample.json"))
    for p in new.rglob("*"): p.chmod(0o755 if p.is_dir() else 0o644)
    m, lock = (d/"datasources.toml").read_bytes(), (d/"datasources.lock.json").read_bytes()
    try:
        r = bpho("datasources", "add", "proofread_vols", new, "--kind", "labelled", cwd=d)
        assert r.returncode == 0, r.stderr
        assert load_manifest(get_settings(project=d))["proofread_vols"].pixel_size_um == {"xy": 0.02, "z": 0.02}
    finally:  # the session's project stays as the other tests expect it
        (d/"datasources.toml").write_bytes(m)
        (d/"datasources.lock.json").write_bytes(lock)
        shutil.rmtree(new)
