"The `bpho` command end to end: real files, real exit codes, nothing written on failure."
import json, os
from pathlib import Path
import numpy as np
import pytest
from conftest import bpho, REPO
from bpho_lib.io import write_czi, write_ome_tiff

def _snapshot(project: Path) -> dict:
    "Bytes of the manifest and the lock, to prove a failed command wrote nothing."
    return {p.name: p.read_bytes() for p in project.glob("datasources*")}

@pytest.mark.parametrize("cmd", [[], ["datasources"], ["datasources", "list"], ["datasources", "verify"],
                                 ["datasources", "freeze"], ["datasources", "add"], ["sample"], ["info"]])
def test_help_everywhere(cmd):
    r = bpho(*cmd, "--help")
    assert r.returncode == 0 and r.stdout.startswith("usage: bpho"), r.stderr

def test_info_json_is_stable(tmp_path):
    write_czi(tmp_path/"movie.czi", np.zeros((3, 2, 16, 24), np.uint16), "TCYX", {"X": 0.2, "Y": 0.2}, ["mito", "er"])
    write_ome_tiff(tmp_path/"stack.ome.tif", np.zeros((4, 16, 24), np.float32), "ZYX", {"X": 0.05, "Y": 0.05, "Z": 0.3})
    r = bpho("info", "--json", tmp_path/"movie.czi", tmp_path/"stack.ome.tif")
    assert r.returncode == 0, r.stderr
    movie, stack = [json.loads(l) for l in r.stdout.splitlines()]
    assert {k: movie[k] for k in ("shape", "axes", "dtype", "channel_names")} == \
           {"shape": [3, 2, 16, 24], "axes": "TCYX", "dtype": "uint16", "channel_names": ["mito", "er"]}
    assert movie["pixel_size_um"] == pytest.approx({"X": 0.2, "Y": 0.2})
    assert (stack["axes"], stack["shape"], stack["dtype"]) == ("ZYX", [4, 16, 24], "float32")
    assert stack["pixel_size_um"] == pytest.approx({"X": 0.05, "Y": 0.05, "Z": 0.3})
    text = bpho("info", tmp_path/"movie.czi").stdout
    assert "3 x 2 x 16 x 24 (TCYX), uint16" in text and "channels mito, er" in text

def test_info_names_unreadable_files(tmp_path):
    write_czi(tmp_path/"ok.czi", np.ones((8, 8), np.uint8), "YX", {"X": 1, "Y": 1})
    (tmp_path/"cut.czi").write_bytes((tmp_path/"ok.czi").read_bytes()[:200])
    (tmp_path/"fake.tif").write_text("not a tiff")
    r = bpho("info", tmp_path/"ok.czi", tmp_path/"cut.czi", tmp_path/"fake.tif", tmp_path/"gone.czi")
    assert r.returncode == 1
    assert "ok.czi" in r.stdout
    for name, what in (("cut.czi", "not a readable"), ("fake.tif", "not a readable"), ("gone.czi", "no such file")):
        assert f"{tmp_path/name}: {what}" in r.stderr, r.stderr

def test_malformed_manifest_names_the_line(project):
    m = project/"datasources.toml"
    m.write_text(m.read_text() + "\n[broken\nkind = 1\n")
    before = _snapshot(project)
    r = bpho("datasources", "list", cwd=project)
    n_lines = len(m.read_text().splitlines())
    assert r.returncode == 1 and f"{m}: malformed TOML" in r.stderr and f"line {n_lines - 1}" in r.stderr, r.stderr
    assert _snapshot(project) == before

def test_unknown_key_names_the_source_line(project):
    m = project/"datasources.toml"
    text = m.read_text().replace('[sample_em]\n', '[sample_em]\ncolour = "grey"\n')
    m.write_text(text)
    line = text.splitlines().index("[sample_em]") + 1
    r = bpho("datasources", "list", cwd=project)
    assert r.returncode == 1 and f"{m}:{line}: source 'sample_em': unknown keys ['colour']" in r.stderr, r.stderr

def test_unknown_source_lists_known_ones(project):
    r = bpho("datasources", "freeze", "sample_pears", cwd=project)
    assert r.returncode == 1 and "unknown source 'sample_pears'" in r.stderr and "sample_pairs_mito" in r.stderr

def test_absent_lab_sources_break_nothing(project):
    r = bpho("datasources", "verify", cwd=project)
    assert r.returncode == 0, r.stdout + r.stderr
    for name in ("confocal_airyscan_pairs_mito", "live_neuron_mito_timelapse_for_deep_learning",
                 "MitoTracker_Red_FM_movie_data", "Poisson-Gaussian_denoising_dataset"):
        assert f"{name}: not present here" in r.stdout
    assert "not present here" in bpho("datasources", "list", cwd=project).stdout

def _incoming(project: Path) -> Path:
    "A folder of new EM images, as the lab would copy in from a microscope."
    d = project/"data/datasources/em_batch_7"; d.mkdir(parents=True)
    for i in range(3):
        write_czi(d/f"img_{i}.czi", np.full((32, 32), 10 * i, np.uint8), "YX", {"X": 0.004, "Y": 0.004}, key=f"em7/{i}")
    return d

def test_add_freeze_verify_and_tamper(project):
    d = _incoming(project)
    r = bpho("datasources", "add", "em_batch_7", d, "--kind", "single", "--description", "EM batch 7",
             "--origin", "SEM, 2026-11", cwd=project)
    assert r.returncode == 0, r.stderr
    assert "[em_batch_7]" in (project/"datasources.toml").read_text()
    lock = json.loads((project/"datasources.lock.json").read_text())["sources"]["em_batch_7"]
    assert sorted(lock["files"]) == ["img_0.czi", "img_1.czi", "img_2.czi"]
    assert bpho("datasources", "verify", "em_batch_7", cwd=project).returncode == 0
    # re-registering the name, with any content, is refused and writes nothing
    before = _snapshot(project)
    r = bpho("datasources", "add", "em_batch_7", d, "--kind", "single", cwd=project)
    assert r.returncode == 1 and "already declared" in r.stderr
    # a flipped byte is detected and named, with expected and found hashes
    f = d/"img_1.czi"; f.chmod(0o644)
    raw = bytearray(f.read_bytes()); raw[-5] ^= 0x01; f.write_bytes(bytes(raw))
    r = bpho("datasources", "verify", "em_batch_7", cwd=project)
    assert r.returncode == 1 and f"changed: {f}: expected sha256" in r.stdout and "found sha256" in r.stdout, r.stdout
    # freezing the changed content under the same name is refused
    r = bpho("datasources", "freeze", "em_batch_7", cwd=project)
    assert r.returncode == 1 and "frozen with other content" in r.stderr
    assert _snapshot(project) == before

def test_add_refuses_bad_input_and_writes_nothing(project):
    d = _incoming(project)
    before = _snapshot(project)
    cases = [(["sample_em", d, "--kind", "single"], "already declared"),
             (["em new", d, "--kind", "single"], "names are letters"),
             (["em_x", project/"nowhere", "--kind", "single"], "no such folder"),
             (["em_x", d, "--kind", "paired"], "layout folder 'lr'"),
             (["em_x", d, "--kind", "single", "--pixel-size", "-1"], "positive number")]
    for args, msg in cases:
        r = bpho("datasources", "add", *args, cwd=project)
        assert r.returncode == 1 and msg in r.stderr, (args, r.stderr)
    assert _snapshot(project) == before

def test_root_from_environment(project, tmp_path_factory):
    other = tmp_path_factory.mktemp("elsewhere")
    env = {"BPHO_ROOT": str(other)}
    r = bpho("datasources", "list", "--json", cwd=project, env=env)
    rows = {x["name"]: x for x in json.loads(r.stdout)}
    assert rows["sample_em"]["path"] == str(other/"datasources/sample_em")
