"CycleGAN end to end on the sample sources: notebooks 201, 106, 204, 108 and 202 in smoke mode, the dataset made by a generator, prediction in both directions, 2D and 3D."
import hashlib, json
from pathlib import Path
import numpy as np
import pytest
from conftest import bpho, own_project, script, REPO
from bpho_lib.io import read_image, write_czi

QUICK = "STAGES=[{'size': 128, 'bs': 8, 'epochs': 1, 'lr': 1e-3}]"  # CI checks that 106 runs; the demo measures quality
REAL_ONLY = "EVALUATE_ON=['paired_001']"  # CI evaluates on the real pairs only (the question); the demo does both

@pytest.fixture(scope="module")
def cycle(sampled, tmp_path_factory):
    "A project of its own (a copy of the sampled sources), so that the other tests' datasets are built as they expect."
    d, r = own_project(sampled, tmp_path_factory, "cycle")  # copied sources are checked against the lock, then frozen
    from bpho_lib.config import get_settings
    from bpho_lib.datasources import load_manifest
    n = sum(1 for v in load_manifest(get_settings(project=d)).values() if v.sample)  # every declared sample source
    assert r.returncode == 0 and r.stdout.count("present, matches its lock, now frozen here") == n >= 7, r.stdout + r.stderr
    for ds in ("paired_001", "synth_001"):
        r = script(ds, "--source", "sample_pairs_mito", cwd=d); assert r.returncode == 0, r.stderr
    runs = {"201": bpho("experiment", REPO/"nbs/201_cyclegan_hr2lr.ipynb", "--smoke", "--quiet", cwd=d)}
    runs["cyclegan_synth_001"] = script("cyclegan_synth_001", "--source", "sample_pairs_mito", cwd=d)
    runs["106"] = bpho("experiment", REPO/"nbs/106_cyclegan_synth_001_unet.ipynb", "--smoke", "--quiet", "--set", QUICK, "--set", REAL_ONLY, cwd=d)
    runs["204"] = bpho("experiment", REPO/"nbs/204_cyclegan_resnet_hr2lr.ipynb", "--smoke", "--quiet", cwd=d)
    runs["cyclegan_synth_002"] = script("cyclegan_synth_002", "--source", "sample_pairs_mito", cwd=d)
    runs["108"] = bpho("experiment", REPO/"nbs/108_cyclegan_synth_002_unet.ipynb", "--smoke", "--quiet", "--set", QUICK,
                       "--set", "EVALUATE_ON=['paired_001']", cwd=d)
    runs["202"] = bpho("experiment", REPO/"nbs/202_cyclegan_3d.ipynb", "--smoke", "--quiet", cwd=d)
    runs["train"] = bpho("train", REPO/"nbs/201_cyclegan_hr2lr.ipynb", "--smoke", "--quiet", "--set", "EXPERIMENT=t201",
                         "--set", "EPOCHS=1", "--set", "DECAY=0", "--set", "N_TRAIN=8", cwd=d)
    return d, runs

@pytest.mark.parametrize("nb", ["201_cyclegan_hr2lr", "202_cyclegan_3d"])
def test_cyclegan_notebooks_train_and_store(cycle, nb):
    d, runs = cycle
    r = runs[nb[:3]]; assert r.returncode == 0, r.stderr[-3000:]
    m, res = d/"data/models"/nb, d/"data/results"/nb
    cfg = json.loads((m/"config.json").read_text())
    assert cfg["learner"] == "cyclegan" and (m/"weights.pth").is_file() and not (m/"checkpoint.pth").exists()
    assert cfg["model"]["dims"] == (3 if nb.startswith("202") else 2) and cfg["model"]["factor"] == (1 if nb.startswith("202") else 4)
    assert set(cfg["domains"]) == {"A", "B"} and all(len(v["digest"]) == 64 for v in cfg["domains"].values())
    for h in cfg["history"]:  # every loss term, every epoch, finite
        for t in ("adv_ab", "adv_ba", "cycle_a", "cycle_b", "id_a", "id_b", "d_a", "d_b"):
            assert np.isfinite(h[f"train_{t}"]) and np.isfinite(h[f"valid_{t}"]), (h, t)
    for f in (f"{nb}.ipynb", "curves.png", "translations.png", "history.json"): assert (res/f).is_file(), f

def test_bpho_train_runs_a_cyclegan_notebook_with_set_over_smoke(cycle):
    "`bpho train` stops after the notebook's `# training` cell; --set wins over the notebook's SMOKE values."
    d, runs = cycle
    r = runs["train"]
    assert r.returncode == 0, r.stderr[-3000:]
    cfg = json.loads((d/"data/models/t201/config.json").read_text())
    assert (cfg["schedule"]["epochs"], cfg["schedule"]["decay"], cfg["schedule"]["n_train"]) == (1, 0, 8)  # --set
    assert cfg["model"]["ngf"] == 8 and len(cfg["history"]) == 1  # SMOKE's width, --set's one epoch
    assert not (d/"data/results/t201/translations.png").exists()  # the cells after training did not run
    assert "trained on 1 process(es)" in r.stdout

def test_dataset_from_generator_records_it(cycle):
    d, runs = cycle
    assert runs["cyclegan_synth_001"].returncode == 0, runs["cyclegan_synth_001"].stderr
    meta = json.loads((d/"data/datasets/cyclegan_synth_001/dataset.json").read_text())
    w = d/"data/models/201_cyclegan_hr2lr/weights.pth"
    deg = meta["params"]["degradation"]
    assert (deg["kind"], deg["model"], deg["direction"], deg["scale"]) == ("generator", "201_cyclegan_hr2lr", "AB", 4)
    assert deg["weights_sha256"] == hashlib.sha256(w.read_bytes()).hexdigest() and meta["builder"] == "synth"
    synth = json.loads((d/"data/datasets/synth_001/dataset.json").read_text())
    assert meta["counts"] == synth["counts"]  # the same tiles per split and size as synth_001

def test_physical_generator_learns_and_draws_seeded_noise(cycle):
    "201 stores a physical A->B whose learned instrument is recorded; its dataset is repeatable; 204's ResNet row runs."
    d, runs = cycle
    for k in ("201", "cyclegan_synth_001", "204", "cyclegan_synth_002", "108"):
        assert runs[k].returncode == 0, (k, runs[k].stderr[-3000:])
    cfg = json.loads((d/"data/models/201_cyclegan_hr2lr/config.json").read_text())
    assert (cfg["model"]["gen"], cfg["model"]["gen_ab"]) == ("resnet", "physical")
    phys = json.loads((d/"data/results/201_cyclegan_hr2lr/physics.json").read_text())
    assert set(phys) == {"blur_fwhm_px", "scale", "shift", "noise_gain", "noise_floor"}
    assert phys != {"blur_fwhm_px": 4.0, "scale": 1.0, "shift": 0.0, "noise_gain": 0.02, "noise_floor": 0.001}  # it moved
    ds = d/"data/datasets/cyclegan_synth_001"
    before = {p.name: p.read_bytes() for p in sorted((ds/"train/128/lr").iterdir())[:5]}
    r = script("cyclegan_synth_001", "--source", "sample_pairs_mito", "--force", cwd=d)
    assert r.returncode == 0, r.stderr
    assert {n: (ds/"train/128/lr"/n).read_bytes() for n in before} == before  # same seed, same noise
    cfg = json.loads((d/"data/models/204_cyclegan_resnet_hr2lr/config.json").read_text())
    assert (cfg["model"]["gen"], cfg["model"]["gen_ab"]) == ("resnet", "")  # the vanilla row: ResNets both ways
    meta = json.loads((d/"data/datasets/cyclegan_synth_002/dataset.json").read_text())
    assert meta["params"]["degradation"]["model"] == "204_cyclegan_resnet_hr2lr"
    rows = json.loads((d/"data/results/108_cyclegan_synth_002_unet/metrics.json").read_text())["evaluations"]
    assert {r["dataset"] for r in rows} == {"paired_001"} and all(np.isfinite(r["psnr"]) for r in rows)

def test_106_answers_the_question_side_by_side(cycle):
    d, runs = cycle
    assert runs["106"].returncode == 0, runs["106"].stderr[-3000:]
    res = d/"data/results/106_cyclegan_synth_001_unet"
    realism = json.loads((res/"realism.json").read_text())
    assert set(realism) == {"synth_001", "cyclegan_synth_001"}
    assert all(np.isfinite(v["spectrum_distance_db"]) and v["noise_sigma_real"] > 0 for v in realism.values())
    rows = json.loads((res/"metrics.json").read_text())["evaluations"]
    assert {r["dataset"] for r in rows} == {"paired_001"} and all(np.isfinite(r["psnr"]) for r in rows)

def test_predict_both_directions_2d(cycle, tmp_path):
    d, _ = cycle
    m = d/"data/models/201_cyclegan_hr2lr"
    lr, hr = d/"data/datasources/sample_mito_movies_lr/movie_00.czi", d/"data/datasources/sample_mito_movies_hr/movie_00.czi"
    r = bpho("predict", m, lr, "-o", tmp_path/"ba", "--direction", "BA", cwd=d); assert r.returncode == 0, r.stderr
    out = read_image(tmp_path/"ba/movie_00.ome.tif")
    assert (out.axes, out.shape) == ("TYX", (20, 512, 512)) and out.pixel_size_um["X"] == pytest.approx(0.05)
    r = bpho("predict", m, hr, "-o", tmp_path/"ab", "--direction", "AB", "--dtype", "uint16", cwd=d); assert r.returncode == 0, r.stderr
    out = read_image(tmp_path/"ab/movie_00.ome.tif")
    assert (out.axes, out.shape, out.data.dtype) == ("TYX", (20, 128, 128), np.uint16) and out.pixel_size_um["X"] == pytest.approx(0.2)

def test_predict_refuses_bad_requests(cycle, tmp_path):
    d, _ = cycle
    m2, m3 = d/"data/models/201_cyclegan_hr2lr", d/"data/models/202_cyclegan_3d"
    vol, lr = d/"data/datasources/sample_vol_em/vol_00.czi", d/"data/datasources/sample_mito_movies_lr/movie_00.czi"
    from bpho_lib.store import save
    from bpho_lib.unet import ModelConfig, build_model
    unet = save(d/"data/models/a_unet", build_model(ModelConfig(arch="plain", base=8)), {"model": {"arch": "plain", "base": 8}, "name": "plainunet__x__mse__1E"})
    for args, msg in (((m2, lr), "a CycleGAN model: give --direction AB"), ((m2, lr, "--direction", "A->B"), "invalid choice"),
                      ((m2, vol, "--direction", "AB"), "given to a 2D CycleGAN"), ((m3, lr, "--direction", "AB"), "the model is 3D"),
                      ((unet, lr, "--direction", "AB"), "only for CycleGAN models")):
        r = bpho("predict", *args, "-o", tmp_path/"x", cwd=d)
        assert r.returncode != 0 and msg in r.stderr, (args, r.stderr)
    assert not (tmp_path/"x").exists() or not any((tmp_path/"x").iterdir())  # nothing written

def test_predict_volume_3d(cycle, tmp_path):
    d, _ = cycle
    vol = d/"data/datasources/sample_vol_em/vol_00.czi"
    r = bpho("predict", d/"data/models/202_cyclegan_3d", vol, "-o", tmp_path, "--direction", "AB", "--tile", "48", "--overlap", "16", cwd=d)
    assert r.returncode == 0, r.stderr
    src, out = read_image(vol), read_image(tmp_path/"vol_00.ome.tif")
    assert out.axes == src.axes == "ZYX" and out.shape == src.shape and out.pixel_size_um["Z"] == pytest.approx(src.pixel_size_um["Z"])
