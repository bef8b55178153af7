"EM -> ExM segmentation end to end on the sample sources: 203 (CCGAN and plain CycleGAN), the two transfer datasets, 303's rows and its table; tiny schedules (the demo measures quality)."
import hashlib, json
import pytest
from conftest import bpho, own_project, script, REPO

TINY_GAN = ["--set", "EPOCHS=1", "--set", "DECAY=1", "--set", "N_TRAIN=4"]
TINY_SEG = ["--set", "STAGES=[{'size': 64, 'bs': 4, 'epochs': 1, 'lr': 3e-3}]"]
ROWS = ("em_direct", "cyclegan", "seg_match", "exm_oracle")

@pytest.fixture(scope="module")
def em2exm(sampled, tmp_path_factory):
    "A project of its own (a copy of the sampled sources) through the whole EM -> ExM pipeline of `make demo`."
    d, r = own_project(sampled, tmp_path_factory, "em2exm")
    runs = {"sample": r}
    runs["emseg3d_001"] = script("emseg3d_001", "--source", "sample_vol_em_labelled", cwd=d)
    runs["exmseg3d_001"] = script("exmseg3d_001", "--source", "sample_vol_fluo_labelled", cwd=d)
    runs["302"] = bpho("experiment", REPO/"nbs/302_emseg3d_001_unet.ipynb", "--smoke", "--quiet", *TINY_SEG, cwd=d)
    nb203 = REPO/"nbs/203_ccgan_em2exm.ipynb"
    runs["203"] = bpho("experiment", nb203, "--smoke", "--quiet", *TINY_GAN, cwd=d)
    runs["203v"] = bpho("experiment", nb203, "--smoke", "--quiet", *TINY_GAN, "--set", "CONFIGURATION=vanilla",
                        "--set", "EXPERIMENT=203_ccgan_em2exm_vanilla", cwd=d)
    for ds in ("exmtransfer_001", "exmtransfer_002"): runs[ds] = script(ds, "--source", "sample_vol_em_labelled", cwd=d)
    nb303 = REPO/"nbs/303_exmtransfer_unet.ipynb"
    for ds, exp in (("exmtransfer_001", "303_exmtransfer_001_unet"), ("exmseg3d_001", "303_exmseg3d_001_unet")):
        runs[exp] = bpho("experiment", nb303, "--smoke", "--quiet", *TINY_SEG, "--set", f"DATASET={ds}",
                         "--set", f"EXPERIMENT={exp}", "--set", "TABLE=None", cwd=d)
    runs["303"] = bpho("experiment", nb303, "--smoke", "--quiet", *TINY_SEG, cwd=d)
    return d, runs

def test_ccgan_and_plain_cyclegan_are_stored_with_their_configuration(em2exm):
    d, runs = em2exm
    for k in ("sample", "emseg3d_001", "exmseg3d_001", "203", "203v"): assert runs[k].returncode == 0, (k, runs[k].stderr[-3000:])
    ccg = json.loads((d/"data/models/203_ccgan_em2exm/config.json").read_text())
    van = json.loads((d/"data/models/203_ccgan_em2exm_vanilla/config.json").read_text())
    assert (ccg["configuration"], ccg["name"]) == ("seg_match", "ccgan__vol_em2exm__seg_match__1E_1DE")
    assert (van["configuration"], van["name"]) == ("vanilla", "cyclegan__vol_em2exm__vanilla__1E_1DE")
    assert ccg["model"]["seg_match"] and ccg["model"]["seg_weight"] > 0 and not van["model"]["seg_match"]
    assert ccg["domains"]["A"]["source"] == "sample_vol_em_labelled" and ccg["domains"]["A"]["masks"] == "labels > 0"
    assert {"train_seg_ab", "valid_seg_rec", "valid_seg_iou"} <= set(ccg["history"][-1])  # every term, per epoch
    assert "train_seg_ab" not in van["history"][-1]
    assert (d/"data/results/203_ccgan_em2exm/curves.png").is_file()

def test_transfer_datasets_keep_the_crops_and_labels_and_record_the_generator(em2exm):
    d, runs = em2exm
    em = (d/"data/datasets/emseg3d_001/tiles.csv").read_text()
    for ds, model in (("exmtransfer_001", "203_ccgan_em2exm_vanilla"), ("exmtransfer_002", "203_ccgan_em2exm")):
        assert runs[ds].returncode == 0, runs[ds].stderr[-3000:]
        meta = json.loads((d/"data/datasets"/ds/"dataset.json").read_text())
        t = meta["params"]["transfer"]
        w = d/"data/models"/model/"weights.pth"
        assert (t["kind"], t["model"], t["direction"]) == ("transfer", model, "AB")
        assert t["weights_sha256"] == hashlib.sha256(w.read_bytes()).hexdigest()
        assert (d/"data/datasets"/ds/"tiles.csv").read_text() == em  # the same crops, at the same places

def test_transfer_script_refuses_a_generator_of_the_other_direction(em2exm):
    "Pointed at ExM volumes, the EM -> ExM generator is refused before anything is written."
    d, _ = em2exm
    before = (d/"data/datasets/exmtransfer_002/dataset.json").read_text()
    r = script("exmtransfer_002", "--source", "sample_vol_fluo", "--force", cwd=d)
    assert r.returncode != 0 and "trained in the other direction" in r.stderr, r.stderr[-2000:]
    assert (d/"data/datasets/exmtransfer_002/dataset.json").read_text() == before  # the built dataset is untouched

def test_the_table_has_four_rows_scored_on_held_out_exm(em2exm):
    d, runs = em2exm
    for k in ("302", "303_exmtransfer_001_unet", "303_exmseg3d_001_unet", "303"):
        assert runs[k].returncode == 0, (k, runs[k].stderr[-3000:])
    t = json.loads((d/"data/results/303_exmtransfer_unet/transfer.json").read_text())
    assert set(t["rows"]) == set(ROWS) and t["missing"] == {}, t
    assert t["scored_on"] == {"dataset": "exmseg3d_001", "split": "valid"}
    trained = {k: r["trained_on"] for k, r in t["rows"].items()}
    assert trained == {"em_direct": "emseg3d_001", "cyclegan": "exmtransfer_001", "seg_match": "exmtransfer_002",
                       "exm_oracle": "exmseg3d_001"}
    for r in t["rows"].values():
        assert all(0 <= r[k] <= 1 for k in ("iou", "f1_50", "f1_75")) and r["n_true"] > 0, r
    # each transfer-trained segmenter chose its thresholds on its own (translated) training volumes
    cfg = json.loads((d/"data/models/303_exmtransfer_unet/config.json").read_text())
    assert cfg["dataset"]["name"] == "exmtransfer_002" and "thres1" in cfg["thresholds"]

def test_held_out_translates_as_the_dataset_did(em2exm):
    "303 tunes its thresholds on `held_out(.., 'train')`: the stored training crops must be cut from those translations, not from raw EM."
    import csv
    import numpy as np
    from bpho_lib.config import get_settings
    from bpho_lib.datasets import image_stem, load_tile
    from bpho_lib.segment import held_out
    d, _ = em2exm
    s = get_settings(project=d)
    folder = d/"data/datasets/exmtransfer_002"
    rows = [r for r in csv.DictReader(open(folder/"tiles.csv")) if r["split"] == "train"][:6]
    em = {stem: img for stem, img, _, _ in held_out(s, "emseg3d_001", "train")}
    ex = {stem: img for stem, img, _, _ in held_out(s, "exmtransfer_002", "train")}
    assert set(ex) == set(em) and len(rows) == 6
    for r in rows:
        tile = load_tile(folder/r["image"])
        z, y, x, stem = int(r["z"]), int(r["y"]), int(r["x"]), image_stem(r["source_file"].split("/")[-1])
        at = np.s_[z:z + tile.shape[0], y:y + tile.shape[1], x:x + tile.shape[2]]
        np.testing.assert_allclose(ex[stem][at], tile, atol=1e-3, err_msg=f"{r['tile']}: held_out's translation")
        assert np.abs(em[stem][at] - tile).mean() > 0.05, f"{r['tile']}: the tile is not a translation of the EM crop"

def test_transfer_seeds_reuses_the_demo_seed_and_adds_the_spread(em2exm):
    "scripts/transfer_seeds.py: seed 0 is the runs above (not retrained), seed 1 a whole new chain; the table gets mean ± sd."
    import subprocess, sys
    d, _ = em2exm
    models = d/"data/models"
    seed0 = {m: (models/m/"weights.pth").stat().st_mtime_ns for m in ("203_ccgan_em2exm", "303_exmtransfer_unet")}
    r = subprocess.run([sys.executable, str(REPO/"scripts/transfer_seeds.py"), "--root", "data", "--seeds", "0", "1",
                        *TINY_GAN, "--seg-set", TINY_SEG[1]], cwd=d, capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    assert {m: (models/m/"weights.pth").stat().st_mtime_ns for m in seed0} == seed0  # reused, not trained again
    t = json.loads((d/"data/results/303_exmtransfer_unet/transfer.json").read_text())
    assert t["rows"]["seg_match"]["runs"] == ["303_exmtransfer_unet", "303_exmtransfer_unet_s1"]
    assert t["rows"]["cyclegan"]["runs"] == ["303_exmtransfer_001_unet", "303_exmtransfer_001_unet_s1"]
    for row in ROWS:
        assert len(t["rows"][row]["runs"]) == 2 and t["rows"][row]["iou_sd"] >= 0, t["rows"][row]
    meta = json.loads((d/"data/datasets/exmtransfer_002_s1/dataset.json").read_text())
    assert meta["params"]["transfer"]["model"] == "203_ccgan_em2exm_s1"  # the seed-1 generator made the seed-1 data
    assert meta["params"]["transfer"]["weights_sha256"] == hashlib.sha256(
        (models/"203_ccgan_em2exm_s1/weights.pth").read_bytes()).hexdigest()
    assert "± " in r.stdout  # the printed table shows the spread
