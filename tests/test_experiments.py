"Experiment notebooks in smoke mode, prediction, evaluation and the results table, end to end on the sample sources."
import json, shutil
from pathlib import Path
import numpy as np
import pytest
from conftest import bpho, script, REPO
from bpho_lib.config import get_settings
from bpho_lib.io import read_image, write_czi, write_ome_tiff

NOTEBOOKS = {"101_paired_001_unet": ("paired_001", "sample_pairs_mito"), "102_synth_001_unet": ("synth_001", "sample_pairs_mito"),
             "103_multiframe_001_unet": ("multiframe_001", "sample_mito_movies_hr"), "104_denoise_001_unet": ("denoise_001", "sample_denoise"),
             "105_emsynth_001_unet": ("emsynth_001", "sample_em"), "107_synth_002_unet": ("synth_002", "sample_pairs_mito"),
             "109_emsynth_002_unet": ("emsynth_002", "sample_em")}
EXTRA = {"synth_002": ("--lr-source", "sample_pairs_mito")}  # its default is the lab's real confocal source
QUICK = "STAGES=[{'size': 128, 'bs': 8, 'epochs': 1, 'lr': 1e-3}]"  # CI checks the notebooks run; the demo measures quality
FRESH = {"102_synth_001_unet"}  # trained on crops drawn and crappified anew each epoch from synth_001's fields
quick = lambda nb: QUICK[:-2] + (", 'sampling': 'fields'}]" if nb in FRESH else "}]")

@pytest.fixture(scope="module")
def experiments(sampled):
    d, _ = sampled
    for ds, src in set(NOTEBOOKS.values()):
        r = script(ds, "--source", src, *EXTRA.get(ds, ()), cwd=d)
        assert r.returncode == 0, r.stderr
    runs = {nb: bpho("experiment", REPO/"nbs"/f"{nb}.ipynb", "--smoke", "--set", quick(nb), cwd=d) for nb in NOTEBOOKS}
    return d, runs

@pytest.mark.parametrize("nb", list(NOTEBOOKS))
def test_notebook_runs_in_smoke_mode(experiments, nb):
    d, runs = experiments
    assert runs[nb].returncode == 0, runs[nb].stderr[-3000:]
    m, r = d/"data/models"/nb, d/"data/results"/nb
    cfg = json.loads((m/"config.json").read_text())
    assert (m/"weights.pth").is_file() and not (m/"checkpoint.pth").exists()
    assert cfg["experiment"] == nb and cfg["dataset"]["name"] == NOTEBOOKS[nb][0]
    assert (cfg["model"]["arch"], cfg["model"]["upsample"], cfg["loss"]) == ("plain", "output", "l1")  # SMOKE's NET, LOSS
    assert cfg["schedule"] == [{"size": 128, "bs": 8, "epochs": 1, "lr": 1e-3,  # --set STAGES wins over SMOKE's
                                **({"sampling": "fields"} if nb in FRESH else {})}]
    if nb in FRESH:  # what was sampled, from which fields, with which seed and degradation
        info = json.loads((d/"data/datasets"/NOTEBOOKS[nb][0]/"dataset.json").read_text())
        train = sorted(k for k, f in info["files"].items() if f["split"] == "train")
        assert cfg["sampling"]["fields"] == train and cfg["sampling"]["seeds"] == [0]
        assert cfg["sampling"]["degradation"]["name"] == info["params"]["crappifier"] == "pssr_fluo"
    else: assert "sampling" not in cfg
    assert cfg["learner"] == "unet" and cfg["run_key"] and cfg["run"]["roles"] == list(cfg["roles"].values())
    # one network: no `members` in its record or run key (those of models trained before ensembles existed)
    assert "members" not in cfg["model"] and "members" not in cfg["run"]["model"] and "members" not in cfg
    assert cfg["name"].startswith("plainunet__" + NOTEBOOKS[nb][0] + "__l1__")
    for f in (f"{nb}.ipynb", "metrics.json", "curves.png", "panel.png", "history.json"): assert (r/f).is_file(), f
    rows = json.loads((r/"metrics.json").read_text())["evaluations"]
    assert all(np.isfinite(row["psnr"]) for row in rows)
    if nb == "102_synth_001_unet": assert {row["dataset"] for row in rows} == {"synth_001", "paired_001"}
    if nb == "107_synth_002_unet":
        assert {row["dataset"] for row in rows} == {"synth_002", "paired_001"}
        realism = json.loads((r/"realism.json").read_text())
        assert {"synth_001", "synth_002"} <= set(realism)
        assert 0.8 <= realism["synth_002"]["noise_ratio"] <= 1.25 and realism["synth_002"]["spectrum_distance_db"] < 1.0
    if nb == "105_emsynth_001_unet":  # scored on the crappified and on the point-scanned held-out image
        assert {row["dataset"] for row in rows} == {"emsynth_001", "emsynth_002"}
        realism = json.loads((r/"realism.json").read_text())
        assert set(realism) == {"emsynth_001", "emsynth_002"}
        # the point-scanned LR is the reference's own kind of LR: near 1 and 0 (measured 0.99, 0.22 dB, 0.14 dB)
        assert 0.9 < realism["emsynth_002"]["noise_ratio"] < 1.1 and realism["emsynth_002"]["noise_curve_distance_db"] < 0.5
    if nb == "109_emsynth_002_unet":
        assert {row["dataset"] for row in rows} == {"emsynth_001", "emsynth_002"}
        table = (r/"question.md").read_text()  # 105 and 109 side by side on the point-scanned held-out image
        assert "| 105_emsynth_001_unet | emsynth_001 |" in table and "| 109_emsynth_002_unet | emsynth_002 |" in table

def test_rerun_is_not_retrained(experiments):
    d, _ = experiments
    r = bpho("experiment", REPO/"nbs/104_denoise_001_unet.ipynb", "--smoke", "--set", QUICK, cwd=d)
    assert r.returncode == 0
    nb = json.loads((d/"data/results/104_denoise_001_unet/104_denoise_001_unet.ipynb").read_text())
    assert "already trained" in json.dumps(nb)

def test_predict_movie_streams_every_frame(experiments, tmp_path):
    d, _ = experiments
    movie = d/"data/datasources/sample_mito_movies_lr/movie_00.czi"
    for nb in ("101_paired_001_unet", "103_multiframe_001_unet"):
        r = bpho("predict", d/"data/models"/nb, movie, "-o", tmp_path/nb, "--dtype", "uint16", cwd=d)
        assert r.returncode == 0, r.stderr
        out = read_image(tmp_path/nb/"movie_00.ome.tif")
        assert (out.axes, out.shape, out.data.dtype) == ("TYX", (20, 512, 512), np.uint16)
        assert out.pixel_size_um["X"] == pytest.approx(0.05)
        assert (out.data[0] > 0).any() and (out.data[-1] > 0).any()  # the first and last frames too

def test_evaluate_json_and_results_table(experiments):
    d, _ = experiments
    r = bpho("evaluate", d/"data/models/101_paired_001_unet", "--dataset", "paired_001", "--json", cwd=d)
    assert r.returncode == 0, r.stderr
    row = json.loads(r.stdout)
    keys = {"experiment", "dataset", "model", "split", "psnr", "ssim", "nrmse", "psnr_fg", "ssim_fg"}
    assert keys <= set(row) and all({"psnr", "ssim", "nrmse", "psnr_fg", "ssim_fg"} <= set(row[b]) for b in ("bilinear", "bicubic", "denoised"))
    rows = json.loads(bpho("results", "--json", cwd=d).stdout)
    assert {x["experiment"] for x in rows} == set(NOTEBOOKS)
    text = bpho("results", cwd=d).stdout
    assert "| 101_paired_001_unet | paired_001 | valid |" in text and (d/"data/results/README.md").is_file()

def test_bad_input_is_refused(experiments, tmp_path):
    d, _ = experiments
    m101, m103 = d/"data/models/101_paired_001_unet", d/"data/models/103_multiframe_001_unet"
    single = tmp_path/"one.czi"; write_czi(single, np.ones((32, 32), np.uint16), "YX", {"X": 0.2, "Y": 0.2})
    (tmp_path/"bad.tif").write_text("no")
    (tmp_path/"empty").mkdir()
    broken = tmp_path/"broken"; shutil.copytree(m101, broken); shutil.copy(m103/"weights.pth", broken/"weights.pth")
    cases = [(["predict", tmp_path/"empty", single, "-o", tmp_path/"o"], "not a model folder (no config.json)"),
             (["predict", broken, single, "-o", tmp_path/"o"], "weights do not fit the network"),
             (["predict", m103, single, "-o", tmp_path/"o"], "takes 5 consecutive frames"),
             (["predict", m101, tmp_path/"bad.tif", "-o", tmp_path/"o"], "bad.tif: not a readable"),
             (["evaluate", m101, "--dataset", "paired_999"], "dataset 'paired_999' not found"),
             (["experiment", REPO/"nbs/101_paired_001_unet.ipynb", "--set", "EPOCS=1"], "unknown parameters ['EPOCS']")]
    nan = np.ones((32, 32), np.float32)
    nan[0, :5] = np.nan
    write_ome_tiff(tmp_path/"nan.ome.tif", nan, "YX", {"X": 0.2, "Y": 0.2})
    cases.append((["predict", m101, tmp_path/"nan.ome.tif", "-o", tmp_path/"o"], "5 NaN or Inf pixels of 1024"))
    cases.append((["predict", m101, tmp_path/"empty", "-o", tmp_path/"o"], "empty: a folder, expected a CZI or TIFF file"))
    (tmp_path/"x").mkdir(); shutil.copy(single, tmp_path/"x/one.czi")
    cases.append((["predict", m101, single, tmp_path/"x/one.czi", "-o", tmp_path/"o"], "several inputs would be written here"))
    for args, msg in cases:
        r = bpho(*args, cwd=d)
        assert r.returncode == 1 and msg in r.stderr, (args, r.stderr[-2000:])
    assert not (tmp_path/"o").exists() or not any((tmp_path/"o").iterdir())  # nothing partial
    r = bpho("predict", m101, tmp_path/"nan.ome.tif", "-o", tmp_path/"q", "--nan-policy", "mean", cwd=d)
    assert r.returncode == 0 and np.isfinite(read_image(tmp_path/"q/nan.ome.tif").data).all(), r.stderr
    r = bpho("predict", m101, single, "-o", tmp_path/"p", cwd=d); assert r.returncode == 0, r.stderr
    r = bpho("predict", m101, single, "-o", tmp_path/"p", cwd=d)
    assert r.returncode == 1 and "already exists (pass --overwrite" in r.stderr

def test_executed_notebook_keeps_its_outputs(experiments):
    d, runs = experiments
    nb = json.loads((d/"data/results/101_paired_001_unet/101_paired_001_unet.ipynb").read_text())
    text = json.dumps([c.get("outputs") for c in nb["cells"]])
    assert "PSNR" in text and "image/png" in text  # the evaluation lines and the figures
    assert "[101_paired_001_unet] cell 1/" in runs["101_paired_001_unet"].stdout  # progress while it runs

SEG = {"301_emseg_001_unet": ("emseg_001", "sample_em_labelled", "STAGES=[{'size': 256, 'bs': 8, 'epochs': 1, 'lr': 3e-3}]"),
       "302_emseg3d_001_unet": ("emseg3d_001", "sample_vol_em_labelled",
                                "STAGES=[{'size': 64, 'bs': 4, 'epochs': 1, 'lr': 3e-3}]")}

@pytest.mark.parametrize("nb", list(SEG))
def test_segmentation_notebook_runs_in_smoke_mode(sampled, nb):
    "301 and 302 train one epoch, tune the decoder on training images, score whole held-out ones, and list the row."
    from bpho_lib.segment import SEG_KEYS
    d, _ = sampled
    ds, src, stages = SEG[nb]
    r = script(ds, "--source", src, cwd=d)
    assert r.returncode == 0, r.stderr
    r = bpho("experiment", REPO/"nbs"/f"{nb}.ipynb", "--smoke", "--set", stages, cwd=d)
    assert r.returncode == 0, r.stderr[-3000:]
    cfg = json.loads((d/"data/models"/nb/"config.json").read_text())
    assert cfg["learner"] == "segmenter" and cfg["model"]["dims"] == (2 if "3d" not in ds else 3), cfg["model"]
    assert set(cfg["thresholds"]) >= {"thres1", "thres2", "thres3", "thres_small"}, cfg["thresholds"]
    row = json.loads((d/"data/results"/nb/"metrics.json").read_text())["evaluations"][0]
    assert set(SEG_KEYS) | {"n_true", "n_pred"} <= set(row) and row["n_true"] > 0 and 0 <= row["iou"] <= 1, row
    for f in ("curves.png", "panel.png", f"{nb}.ipynb"): assert (d/"data/results"/nb/f).is_file(), f
    rows = json.loads(bpho("results", "--json", cwd=d).stdout)
    assert any(r["experiment"] == nb and r["task"] == "segmentation" for r in rows)
    assert "| IoU | Dice | F1 @0.5 |" in bpho("results", cwd=d).stdout
    # bpho segment: labels and maps with the input's pixel sizes; the other dimensionality is refused, nothing written
    src = d/"data/datasources"/src/"images"
    img = sorted(src.iterdir())[0]
    out = d/"data/segmented"/nb
    r = bpho("segment", d/"data/models"/nb, img, "-o", out, "--chunk", "12", "--halo", "4", cwd=d)
    assert r.returncode == 0, r.stderr[-3000:]
    stem = img.name.split(".")[0]
    lab, maps, im = (read_image(p) for p in (out/f"{stem}.labels.ome.tif", out/f"{stem}.maps.ome.tif", img))
    assert (lab.shape, lab.pixel_size_um, lab.data.dtype) == (im.shape, im.pixel_size_um, np.uint16)
    assert maps.channel_names == list(cfg["model"]["targets"]) and maps.shape == (len(maps.channel_names), *im.shape)
    other = sorted((d/"data/datasources"/SEG[[k for k in SEG if k != nb][0]][1]/"images").iterdir())[0]
    r = bpho("segment", d/"data/models"/nb, other, "-o", d/"data/segmented/other", cwd=d)
    assert r.returncode == 1 and "segmenter, which takes" in r.stderr, r.stderr
    assert not (d/"data/segmented/other").exists()


def test_select_best_on_whole_held_out_fields(experiments):
    "SELECT='best' with fresh crops: every epoch scored on the whole held-out fields, the best kept, the last in last.pth."
    import torch
    d, _ = experiments
    stages = "STAGES=[{'size': 128, 'bs': 8, 'epochs': 3, 'lr': 3e-3, 'sampling': 'fields'}]"
    r = bpho("experiment", REPO/"nbs/101_paired_001_unet.ipynb", "--smoke", "--set", stages, "--set", "SELECT='best'",
             "--set", "EXPERIMENT='101_best'", cwd=d)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    m = d/"data/models/101_best"
    cfg = json.loads((m/"config.json").read_text())
    fp = [h["field_psnr"] for h in cfg["history"]]
    sel = cfg["selection"]
    assert len(fp) == 3 and sel["select"] == "best" and sel["field_psnr"] == max(fp) and sel["last_field_psnr"] == fp[-1]
    assert sel["epoch"] == fp.index(max(fp)) + 1 and cfg["name"].endswith("_3E")  # named after the epochs it trained
    # (run last in this module: the executed copy of the notebook replaces the one the tests above read)
    assert f"kept epoch {sel['epoch']} of 3" in (d/"data/results/101_paired_001_unet/101_paired_001_unet.ipynb").read_text()
    assert (m/"last.pth").is_file() and not (m/"best.pth").exists() and not (m/"checkpoint.pth").exists()
    w, last = (torch.load(m/f, weights_only=True) for f in ("weights.pth", "last.pth"))
    same = all(torch.equal(w[k], last[k]) for k in w)
    assert same == (sel["epoch"] == 3)
    # refused before anything is trained: a dataset that does not keep its held-out fields; fresh crops of a synthetic
    # dataset whose LR comes from a calibrated degradation (only crappifiers are drawn anew)
    for ds, why in (("emsynth_001", "no stored held-out fields"), ("synth_002", "made with a crappifier")):
        r = bpho("experiment", REPO/"nbs/101_paired_001_unet.ipynb", "--smoke", "--set", stages, "--set", "SELECT='best'",
                 "--set", f"DATASET={ds!r}", "--set", f"EXPERIMENT='101_{ds}'", cwd=d)
        assert r.returncode != 0 and why in r.stdout + r.stderr, r.stdout[-2000:] + r.stderr[-2000:]
        assert not (d/f"data/models/101_{ds}").exists()


def test_ensemble_trains_members_alone_and_averages(experiments):
    "NET's members=2: each member trained alone with its own seed, stored as one model that averages them, evaluated as one."
    import torch
    from bpho_lib.store import load
    from bpho_lib.unet import Ensemble
    d, _ = experiments
    net = "NET={'arch': 'plain', 'base': 16, 'levels': 2, 'upsample': 'output', 'members': 2}"
    stages = "STAGES=[{'size': 128, 'bs': 8, 'epochs': 2, 'lr': 3e-3, 'sampling': 'fields'}]"
    r = bpho("experiment", REPO/"nbs/101_paired_001_unet.ipynb", "--smoke", "--set", net, "--set", stages,
             "--set", "SELECT='best'", "--set", "SEED=1", "--set", "EXPERIMENT='101_ens'", cwd=d)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    m = d/"data/models/101_ens"
    cfg = json.loads((m/"config.json").read_text())
    assert cfg["model"]["members"] == 2 and cfg["members"]["seeds"] == [2, 3] and cfg["name"].endswith("_2x2E")
    assert cfg["sampling"]["seeds"] == [2, 3]
    assert [h["member"] for h in cfg["history"]] == [1, 1, 2, 2]
    for i, sel in enumerate(cfg["selection"]["members"]):  # each member its own best epoch
        fp = [h["field_psnr"] for h in cfg["history"] if h["member"] == i + 1]
        assert sel["field_psnr"] == max(fp) and sel["epoch"] == fp.index(max(fp)) + 1
    assert (m/"last.pth").is_file() and not any(m.glob("member*")) and not (m/"checkpoint.pth").exists()
    model, _ = load(m)
    assert isinstance(model, Ensemble) and len(model.members) == 2
    a, b = (p.detach() for p in (model.members[0].core.out.weight, model.members[1].core.out.weight))
    assert not torch.allclose(a, b)  # two networks, not one twice
    # each member holds its own selected epoch: its last one (last.pth's members.<i>) where that was the best, else another
    w, last = (torch.load(m/f, weights_only=True) for f in ("weights.pth", "last.pth"))
    for i, sel in enumerate(cfg["selection"]["members"]):
        same = all(torch.equal(w[k], last[k]) for k in w if k.startswith(f"members.{i}."))
        assert same == (sel["epoch"] == 2) and sel["last_weights"] == f"last.pth, members.{i}.*"
    rows = json.loads((d/"data/results/101_ens/metrics.json").read_text())["evaluations"]
    assert rows and all(np.isfinite(row["psnr"]) for row in rows)
    # (the executed copy of the notebook: run after test_select_best_on_whole_held_out_fields, which reads the one before)
    nb = (d/"data/results/101_paired_001_unet/101_paired_001_unet.ipynb").read_text()
    assert "member 2 of 2 (seed 3)" in nb and "101_ens member 2: kept epoch" in nb
