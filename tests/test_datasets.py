"Dataset scripts end to end on the sample sources: provenance, co-location, splits, atomicity, determinism, bad input."
import csv, hashlib, json, os, signal, subprocess, sys, time
from pathlib import Path
import numpy as np
import pytest
import tifffile
from conftest import bpho, link_sources, script, REPO
from bpho_lib.config import get_settings, BphoError
from bpho_lib.datasets import build_dataset, load_tile
from bpho_lib.io import write_czi
from bpho_lib.sample import _pair

def _tree_hashes(folder: Path) -> dict:
    "sha256 of every tile and of tiles.csv (dataset.json carries build times)."
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "dataset.json"}

@pytest.fixture(scope="module")
def paired(sampled):
    d, _ = sampled
    r = script("paired_001", "--source", "sample_pairs_mito", "--workers", "2", cwd=d)
    assert r.returncode == 0, r.stderr
    return d, d/"data/datasets/paired_001", r.stdout

def test_paired_record_is_complete(paired):
    d, ds, out = paired
    meta = json.loads((ds/"dataset.json").read_text())
    for k in ("params", "seed", "sources", "counts", "files", "script", "bpho_version", "git_commit", "fingerprint"):
        assert k in meta, k
    assert meta["script"] == {"path": "scripts/dataset/paired_001.py",
                              "sha256": hashlib.sha256((REPO/"scripts/dataset/paired_001.py").read_bytes()).hexdigest()}
    assert meta["git_commit"]  # the code's commit, wherever the data lives
    lock = json.loads((d/"datasources.lock.json").read_text())["sources"]["sample_pairs_mito"]
    here = json.loads((d/"data/.bpho/frozen-here.json").read_text())["sources"]["sample_pairs_mito"]
    # the bytes it was built from (frozen on this machine), and the recipe that made them (the committed lock)
    assert meta["sources"]["sample_pairs_mito"] == {"digest": here["digest"], "kind": "paired", "recipe_digest": lock["digest"]}
    assert set(meta["counts"]) == {"train", "valid"} and meta["n_tiles"] > 300
    for f in meta["files"].values():
        assert abs(f["registration"]["shift_lr_px"][0]) <= 1.6 and max(map(abs, f["residual_shift_lr_px"])) < 0.1
        assert f["normalisation"]["hr"][1] > f["normalisation"]["hr"][0]
    assert "tiles/s" in out and "train" in out

def test_split_by_field_of_view(paired):
    _, ds, _ = paired
    rows = list(csv.DictReader(open(ds/"tiles.csv")))
    by_file = {}
    for r in rows: by_file.setdefault(r["source_file"], set()).add(r["split"])
    assert all(len(s) == 1 for s in by_file.values())
    assert sum(s == {"valid"} for s in by_file.values()) == 2 and len(by_file) == 12  # 20% of 12 fields

def test_lr_and_hr_tiles_are_co_located(paired):
    "The LR tile correlates with the binned HR tile at zero offset, better than one LR pixel away."
    _, ds, _ = paired
    rows = [r for r in csv.DictReader(open(ds/"tiles.csv")) if r["size"] == "256"][:20]
    for r in rows:
        lr, hr = load_tile(ds/r["lr"]), load_tile(ds/r["hr"])
        small = hr.reshape(64, 4, 64, 4).mean((1, 3))
        c = lambda a, b: np.corrcoef(a.ravel(), b.ravel())[0, 1]
        here = c(lr[2:-2, 2:-2], small[2:-2, 2:-2])
        assert here > 0.6, (r["tile"], here)
        for dy, dx in ((1, 0), (0, 1), (-1, 0), (0, -1)):
            assert here > c(lr[2:-2, 2:-2], np.roll(small, (dy, dx), (0, 1))[2:-2, 2:-2]), (r["tile"], dy, dx)

def test_rerun_is_a_noop_and_other_parameters_are_refused(paired):
    d, ds, _ = paired
    before = (ds/"dataset.json").read_bytes()
    r = script("paired_001", "--source", "sample_pairs_mito", cwd=d)
    assert r.returncode == 0 and "already built" in r.stdout
    assert (ds/"dataset.json").read_bytes() == before
    r = script("synth_001", "--source", "sample_pairs_mito", "--dry-run", cwd=d)
    assert r.returncode == 0 and "nothing written" in r.stdout and not (d/"data/datasets/synth_001").exists()

def test_deterministic_whatever_the_workers(paired, tmp_path):
    "Same sources, parameters and seed: byte-identical tiles, with 2 workers or 1."
    d, ds, _ = paired
    r = script("paired_001", "--source", "sample_pairs_mito", "--workers", "1", "--root", tmp_path/"other",
               "--manifest", d/"datasources.toml", cwd=d)
    assert r.returncode != 0 and "not present here" in r.stderr  # another root: the source must be there
    link_sources(d, tmp_path, "sample_pairs_mito")
    r = script("paired_001", "--source", "sample_pairs_mito", "--workers", "1", "--root", tmp_path, cwd=d)
    assert r.returncode == 0, r.stderr
    assert _tree_hashes(tmp_path/"datasets/paired_001") == _tree_hashes(ds)

def test_interrupted_build_leaves_nothing(sampled, tmp_path):
    d, _ = sampled
    link_sources(d, tmp_path, "sample_pairs_mito")
    # Ctrl-C as at a terminal: a test runner started in the background (`cmd &` without job control) ignores SIGINT,
    # and a child inherits that, so Python would install no KeyboardInterrupt handler; give it the default back
    p = subprocess.Popen([sys.executable, str(REPO/"scripts/dataset/paired_001.py"), "--source", "sample_pairs_mito",
                          "--workers", "1", "--root", str(tmp_path)], cwd=d, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120  # wait until tiles are being written, then Ctrl-C
    while time.time() < deadline and not any((tmp_path/"datasets").rglob("*.tif")): time.sleep(0.2)
    assert any((tmp_path/"datasets").rglob("*.tif")), "the build never started writing"
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130 and "interrupted" in err, (p.returncode, err)
    assert list((tmp_path/"datasets").iterdir()) == []  # no dataset, no temporary
    r = script("paired_001", "--source", "sample_pairs_mito", "--workers", "2", "--root", tmp_path, cwd=d)
    assert r.returncode == 0, r.stderr

def test_every_dataset_builds_on_the_samples(sampled):
    d, _ = sampled
    for name, src in (("synth_001", "sample_pairs_mito"), ("multiframe_001", "sample_mito_movies_hr"),
                      ("denoise_001", "sample_denoise"), ("emsynth_001", "sample_em"), ("emsynth_002", "sample_em"),
                      ("emseg_001", "sample_em_labelled"), ("emseg3d_001", "sample_vol_em_labelled"),
                      ("exmseg3d_001", "sample_vol_fluo_labelled")):
        r = script(name, "--source", src, cwd=d)
        assert r.returncode == 0, (name, r.stderr)
        meta = json.loads((d/f"data/datasets/{name}/dataset.json").read_text())
        assert meta["n_tiles"] > 50 and meta["sources"][src]["digest"], name
    syn = json.loads((d/"data/datasets/synth_001/dataset.json").read_text())
    assert syn["params"]["crappifier"] == "pssr_fluo"
    em = json.loads((d/"data/datasets/emsynth_002/dataset.json").read_text())
    deg, held_out = em["params"]["degradation"], [k for k, v in em["files"].items() if v["split"] == "valid"]
    assert deg["kind"] == "point_scan" and deg["hr_files"] and not {f"{s}.czi" for s in held_out} & set(deg["hr_files"])
    # the sample's SEM noise is white, sd 9 of 255 (the fit never reads it): measured here 90.3 (edges add a little)
    lo, hi = deg["levels"]
    assert deg["noise"]["a"] < 1e-3 and abs(deg["noise"]["b"] * (hi - lo) ** 2 / 81 - 1) < 0.15, deg
    assert em["counts"] == json.loads((d/"data/datasets/emsynth_001/dataset.json").read_text())["counts"]
    mf = next(csv.DictReader(open(d/"data/datasets/multiframe_001/tiles.csv")))
    assert load_tile(d/"data/datasets/multiframe_001"/mf["lr"]).shape[0] == 5
    for name, shapes in (("emseg_001", [(256, 256), (2, 256, 256)]), ("emseg3d_001", [(32, 64, 64), (3, 32, 64, 64)]),
                         ("exmseg3d_001", [(32, 64, 64), (3, 32, 64, 64)])):
        rows = list(csv.DictReader(open(d/f"data/datasets/{name}/tiles.csv")))
        assert [load_tile(d/f"data/datasets/{name}"/rows[0][k]).shape for k in ("image", "targets")] == shapes
        splits = {}
        for r in rows: splits.setdefault(r["source_file"], set()).add(r["split"])
        assert all(len(v) == 1 for v in splits.values()) and {"train", "valid"} == set().union(*splits.values())

# ---- bad input: a small paired source made here, registered with `bpho datasources add`

def _source(project: Path, name: str, pairs: dict) -> Path:
    "Write LR/HR CZI pairs {stem: (lr, hr)} under the data root; returns the folder."
    src = project/"data/datasources"/name
    for stem, (lr, hr) in pairs.items():
        for role, a, px in (("lr", lr, 0.2), ("hr", hr, 0.05)):
            if a is None: continue
            (src/role).mkdir(parents=True, exist_ok=True)
            if a.dtype == np.float32: tifffile.imwrite(src/role/f"{stem}.tif", a, photometric="minisblack")
            else: write_czi(src/role/f"{stem}.czi", a, "YX", {"X": px, "Y": px})
    return src

def _add(project, name, src):
    r = bpho("datasources", "add", name, src, "--kind", "paired", "--pixel-size", "lr=0.2", "--pixel-size", "hr=0.05", cwd=project)
    assert r.returncode == 0, r.stderr

@pytest.fixture
def good_pairs():
    return {f"f{i}": _pair(i, 256, 0.05, 4)[1::-1] for i in range(3)}

def _run(project, source, **kw):
    return script("paired_001", "--source", source, "--workers", "1", cwd=project, **kw)

def test_bad_scale_names_the_pair(project, good_pairs):
    lr, hr = good_pairs["f1"]
    good_pairs["f1"] = (lr[:60], hr)
    _add(project, "bad_scale", _source(project, "bad_scale", good_pairs))
    r = _run(project, "bad_scale")
    assert r.returncode == 1 and "pair f1:" in r.stderr and "expected 4x the LR" in r.stderr, r.stderr
    assert not (project/"data/datasets").exists()

def test_unpaired_stems_are_named(project, good_pairs):
    good_pairs["f9"] = (good_pairs["f0"][0], None)
    _add(project, "unpaired", _source(project, "unpaired", good_pairs))
    r = _run(project, "unpaired")
    assert r.returncode == 1 and "unpaired stems: f9 (only in lr/)" in r.stderr, r.stderr

def test_constant_image_is_skipped_and_recorded(project, good_pairs):
    good_pairs["f2"] = (np.zeros((64, 64), np.uint16), good_pairs["f2"][1])
    _add(project, "dead", _source(project, "dead", good_pairs))
    r = _run(project, "dead")
    assert r.returncode == 0, r.stderr
    meta = json.loads((project/"data/datasets/paired_001/dataset.json").read_text())
    assert "constant image" in meta["skipped"]["f2"] and "skipped f2" in r.stdout
    assert all(row["source_file"] != "hr/f2.czi" for row in csv.DictReader(open(project/"data/datasets/paired_001/tiles.csv")))

def test_nan_is_an_error(project, good_pairs):
    lr, hr = good_pairs["f0"]
    lr = lr.astype(np.float32); lr[3, 3] = np.nan
    good_pairs["f0"] = (lr, hr)
    _add(project, "nan", _source(project, "nan", good_pairs))
    r = _run(project, "nan")
    assert r.returncode == 1 and "f0.tif: contains NaN" in r.stderr, r.stderr
    assert not (project/"data/datasets/paired_001").exists()
    assert not [p for p in (project/"data/datasets").iterdir()]  # no temporary either

def test_changed_source_is_refused_before_any_work(project, good_pairs):
    src = _source(project, "tampered", good_pairs); _add(project, "tampered", src)
    f = src/"hr/f1.czi"; f.chmod(0o644); raw = bytearray(f.read_bytes()); raw[-3] ^= 1; f.write_bytes(bytes(raw))
    r = _run(project, "tampered")
    assert r.returncode == 1 and "refusing to use source 'tampered'" in r.stderr and "hr/f1.czi" in r.stderr, r.stderr
    assert not (project/"data/datasets").exists()

def test_unknown_crappifier_lists_known_ones(sampled):
    d, _ = sampled
    with pytest.raises(BphoError, match="unknown crappifier 'fuzzy'; known: pssr_fluo, pssr_em, physical"):
        build_dataset(get_settings(project=d), "x", "synth", "sample_em", {"crappifier": "fuzzy"})
    assert not (d/"data/datasets/x").exists()

# ---- synth_002: a degradation calibrated on unpaired real LR

def test_synth_002_calibrates_on_the_real_lr_and_records_the_fit(sampled):
    "The fit recovers the sample's confocal model (which it never reads) and dataset.json records it and its files."
    d, _ = sampled
    r = script("synth_002", "--source", "sample_pairs_mito", "--lr-source", "sample_pairs_mito", cwd=d)
    assert r.returncode == 0, r.stderr
    meta = json.loads((d/"data/datasets/synth_002/dataset.json").read_text())
    deg = meta["params"]["degradation"]
    assert deg["kind"] == "calibrated" and deg["lr_source"] == "sample_pairs_mito" and deg["lr_source_digest"]
    held_out = sorted(k for k, v in meta["files"].items() if v["split"] == "valid")
    assert len(held_out) == 2 and not {f"{s}.czi" for s in held_out} & set(deg["lr_files"] + deg["hr_files"])
    assert len(deg["lr_files"]) == 8 and deg["iterations"] >= 3
    truth = json.loads((d/"data/datasources/sample_pairs_mito/sample.json").read_text())
    lr_m, hr_m = truth["lr_microscope"], truth["hr_microscope"]
    acq = deg["acquisition"]
    # 50 nm HR pixels: the LR optics add sqrt(250² - 140²) nm of PSF
    # measured here: 4.01 px, gain 7.67, offset 98.1, read noise 1.50
    extra = (lr_m["psf_fwhm_um"] ** 2 - hr_m["psf_fwhm_um"] ** 2) ** 0.5 / 0.05
    assert abs(acq["psf_fwhm_hr_px"] / extra - 1) < 0.1, (acq, extra)
    assert abs(acq["gain"] / lr_m["gain"] - 1) < 0.1 and abs(acq["read_noise"] / lr_m["read_noise"] - 1) < 0.15, acq
    assert abs(acq["offset"] - lr_m["offset"]) < 5, acq
    assert deg["residuals"]["spectrum_db"] < 1.0 and deg["residuals"]["noise_curve_db"] < 0.5, deg["residuals"]
    assert set(meta["counts"]) == {"train", "valid"} and meta["n_tiles"] > 300

def test_synth_002_refuses_lr_of_another_pixel_size_or_kind(sampled):
    d, _ = sampled
    for lr_src, msg in (("sample_em", "expected the HR's (0.05 µm"), ("sample_mito_movies_lr", "is movie")):
        r = script("synth_002", "--source", "sample_pairs_mito", "--lr-source", lr_src, "--force", cwd=d)
        assert r.returncode == 1 and msg in r.stderr and "Traceback" not in r.stderr, (lr_src, r.stderr)
    assert not list((d/"data/datasets").glob(".synth_002*"))
