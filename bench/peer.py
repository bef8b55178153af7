"""Peer comparison at the same data and the same wall-clock training budget: bpho's experiment 101 (smoke
configuration, run as `bpho experiment --smoke`) vs CARE as implemented in CAREamics (PyTorch, Lightning) given the
bicubic-upsampled LR. Both scored by the same code (bpho_lib.metrics.image_metrics: percentile-normalised target,
affinely fitted prediction, CARE-style) on the same held-out tiles of paired_001.

CAREamics pins another torch than bpho, so it lives in its own venv, bench/.venv-peer, made here when missing
(from bench/requirements-peer.txt); data go to it and predictions come back as .npy files.

    python bench/peer.py [--work DIR] [--budget SECONDS] [--out BENCHMARKS.md]
"""
import argparse, datetime, json, os, shutil, subprocess, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BIN, PY, REPO, load, paired_project, write_section
import numpy as np

PEER = REPO/"bench/.venv-peer"
TITLE = "Peer: CARE (CAREamics) at the same training budget (`make bench`, bench/peer.py)"

def peer_python() -> tuple[Path | None, str]:
    "The peer venv's python, made if missing; (None, why) when it cannot be installed."
    py = PEER/"bin/python"
    ok = lambda: subprocess.run([py, "-c", "import careamics"], capture_output=True, cwd=tempfile.gettempdir()).returncode == 0
    if py.exists() and ok(): return py, ""
    print("creating bench/.venv-peer with CAREamics (a few minutes, several GB)...", flush=True)
    try:
        subprocess.run([PY, "-m", "venv", "--clear", PEER], check=True, capture_output=True, text=True)
        r = subprocess.run([py, "-m", "pip", "install", "-q", "-r", REPO/"bench/requirements-peer.txt"], capture_output=True, text=True)
        if r.returncode: return None, f"`pip install -r bench/requirements-peer.txt` failed: {(r.stderr or r.stdout).strip().splitlines()[-1][:300]}"
    except subprocess.CalledProcessError as e: return None, f"could not create the venv: {(e.stderr or '').strip()[:300]}"
    return (py, "") if ok() else (None, "CAREamics installed but does not import")

def tiles(folder: Path, split: str, size: int, role: str) -> np.ndarray:
    from bpho_lib.data import read_tiles_table
    from bpho_lib.datasets import load_tile
    return np.stack([load_tile(folder/r[role]) for r in read_tiles_table(folder)
                     if r["split"] == split and int(r["size"]) == size]).astype(np.float32)

def predict_held_out(model, cfg: dict, lr) -> list:
    "bpho's predictions of the held-out LR tiles, each in one piece (as `bpho evaluate` predicts them)."
    from bpho_lib.predict import model_multiple, predict_tiled
    return [predict_tiled(model, np.ascontiguousarray(x)[None], 4, tile=max(x.shape), overlap=0, multiple=model_multiple(cfg["model"])) for x in lr]

def scores(preds, targets) -> dict:
    "Mean CARE-style metrics over the tiles, as bpho_lib.evaluate averages them."
    from bpho_lib.metrics import image_metrics
    ms = [image_metrics(p, t) for p, t in zip(preds, targets)]
    return {k: float((np.nanmean if k.endswith("_fg") else np.mean)([m[k] for m in ms])) for k in ("psnr", "ssim", "psnr_fg", "ssim_fg")}

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=None, help="folder shared by the bench scripts (sample pairs, paired_001)")
    ap.add_argument("--budget", type=float, default=None, help="CARE's training seconds (default: what bpho's training took)")
    ap.add_argument("--set", action="append", default=[], help="passed to `bpho experiment` (a quick test: STAGES=..., which wins over SMOKE)")
    ap.add_argument("--out", default=None); a = ap.parse_args()
    work = Path(a.work) if a.work else Path(tempfile.mkdtemp(prefix="bpho-bench-"))
    try: text = run(work, a.budget, a.set)
    finally:
        if not a.work: shutil.rmtree(work, ignore_errors=True)
    print(text)
    if a.out: write_section(a.out, text, TITLE)

def run(work: Path, budget, sets=()) -> str:
    proj = paired_project(work); root = proj/"data"; load0 = load()
    folder = root/"datasets/paired_001"
    # bpho: experiment 101 exactly as `make demo` runs it (its SMOKE: plain UNet, 30 epochs of 128 px crops, batch 8)
    import resource
    cpu0 = (lambda u: u.ru_utime + u.ru_stime)(resource.getrusage(resource.RUSAGE_CHILDREN))
    t = time.perf_counter()
    subprocess.run([BIN/"bpho", "--root", root, "--manifest", proj/"datasources.toml", "experiment",
                    REPO/"nbs/101_paired_001_unet.ipynb", "--smoke", "--quiet", *[x for s in sets for x in ("--set", s)]], cwd=proj, check=True, capture_output=True)
    exp_s = time.perf_counter() - t
    exp_cpu = (lambda u: u.ru_utime + u.ru_stime)(resource.getrusage(resource.RUSAGE_CHILDREN)) - cpu0
    mdir = root/"models/101_paired_001_unet"
    conf = json.loads((mdir/"config.json").read_text())
    bpho_train = conf["train_seconds"]; stages = conf["schedule"]
    n_train = len(tiles(folder, "train", 128, "hr"))
    bpho_samples = sum(s["epochs"] for s in stages) * (n_train // stages[0]["bs"]) * stages[0]["bs"]
    # the held-out tiles: the largest size of the valid split, as `bpho evaluate` scores
    import torch
    from bpho_lib import store
    hr, lr, bic = (tiles(folder, "valid", 512, r) for r in ("hr", "lr", "bicubic"))
    model, cfg = store.load(mdir)
    mc, n_par = cfg["model"], sum(p.numel() for p in model.parameters())
    net = (f"plain UNet ({mc['base']} ch, {mc['levels']} levels, {n_par / 1e6:.1f}M parameters)" if mc["arch"] == "plain"
           else f"{mc['arch']} UNet ({n_par / 1e6:.1f}M parameters)")
    feed = ("LR; UNet on the LR grid, pixel shuffle to HR" if mc.get("upsample") == "output" else "LR, upsampled inside (bilinear)")
    t = time.perf_counter()
    pred_bpho = predict_held_out(model, cfg, lr)
    bpho_pred_s = time.perf_counter() - t
    res = {"bpho": scores(pred_bpho, hr), "bicubic": scores(bic, hr)}
    lines = [f"## {TITLE}", ""]
    py, why = peer_python()
    care = None
    if py:
        d = work/"peer"; d.mkdir(exist_ok=True)
        for k, arr in {"x_train": tiles(folder, "train", 128, "bicubic"), "y_train": tiles(folder, "train", 128, "hr"),
                       "x_valid": tiles(folder, "valid", 128, "bicubic"), "y_valid": tiles(folder, "valid", 128, "hr"), "x_test": bic}.items():
            np.save(d/f"{k}.npy", arr)
        r = subprocess.run([py, REPO/"bench/peer_care.py", d, str(budget or bpho_train)], capture_output=True, text=True, cwd=d)
        if r.returncode: why = f"CAREamics run failed: {(r.stderr or r.stdout).strip().splitlines()[-1][:300]}"
        else:
            care = json.loads((d/"care.json").read_text())
            res["care"] = scores(np.load(d/"pred_test.npy"), hr)
    f = lambda k, s: f"{res[k]['psnr']:.2f} | {res[k]['psnr'] - res['bicubic']['psnr']:+.2f} | {res[k]['psnr_fg']:.2f} | {res[k]['ssim']:.3f} | {s}"
    lines += [f"Measured {datetime.date.today()} on {os.cpu_count()} CPU cores, load average {load0} -> {load()}. Data: paired_001 built from the sample pairs; both train on its "
              f"{n_train} training tiles of 128 px (HR){' (bpho: as many crops per epoch, drawn anew from the fields these tiles were cut from)' if stages[0].get('sampling') == 'fields' else ''}, validate on its 128 px valid tiles, and are scored on its {len(hr)} held-out "
              f"512 px tiles (the 2 held-out fields) by the same code, bpho_lib.metrics.image_metrics (CARE-style: percentile-normalised "
              f"target, affinely fitted prediction; PSNR in dB, `fg` on the foreground). The budget is bpho's training time; "
              f"CAREamics gets it as Lightning's `max_time`.", "",
              "| method | input | PSNR | vs bicubic | PSNR fg | SSIM | training (s) |", "|---|---|---|---|---|---|---|",
              f"| bicubic | LR | {f('bicubic', '-')} |",
              f"| bpho 101 smoke: {net}, {conf['loss'].upper()}, AdamW (fused, decoupled wd {conf['wd']:g}), one-cycle to lr {stages[0]['lr']:g}, {stages[0]['epochs']} epochs, "
              f"batch {stages[0]['bs']}, {'crops drawn anew each epoch from the training fields, ' if stages[0].get('sampling') == 'fields' else ''}dihedral flips ({bpho_samples} samples; torch {torch.__version__}) | {feed} | {f('bpho', f'{bpho_train:.0f}')} |"]
    if care:
        m = care["model"]
        lines.append(f"| CARE, CAREamics {care['careamics']}: UNet depth {m.get('depth')}, {m.get('num_channels_init')} ch, L1, Adam, "
                     f"{care['lr_scheduler']}, batch 8, flips + rotations ({care['samples']} samples in {care['epochs']} epochs; torch {care['torch']}) "
                     f"| bicubic-upsampled LR | {f('care', f'{care['train_seconds']:.0f}')} |")
        gap = res["bpho"]["psnr"] - res["care"]["psnr"]
        lines += ["", f"bpho - CARE: {gap:+.2f} dB PSNR, {res['bpho']['psnr_fg'] - res['care']['psnr_fg']:+.2f} dB on the foreground, "
                  f"{res['bpho']['ssim'] - res['care']['ssim']:+.3f} SSIM (goal: at least match, aiming for +0.5 dB). "
                  f"CARE's training time is its whole `train()` call (Lightning set-up and data preparation included, the budget covers the "
                  f"fit loop); bpho's is `fit_stages` (DataLoaders, learner, every epoch with its validation and checkpoint). Prediction of the "
                  f"{len(hr)} tiles: bpho {bpho_pred_s:.1f} s, CAREamics {care['predict_seconds']:.1f} s. The whole `bpho experiment` "
                  f"(training, panel, evaluation) took {exp_s:.0f} s and {exp_cpu:.0f} CPU-seconds; CAREamics's `train()` took "
                  f"{care['train_cpu_seconds']:.0f} CPU-seconds (on a machine shared with other jobs, CPU-seconds show how much of the "
                  f"wall-clock budget each got). The `bpho` command sets glibc's allocator to keep freed memory "
                  f"(`bpho_lib.config.tune_malloc`, part of bpho); CAREamics runs as installed. Single run each (seeded): differences "
                  f"under about 0.2 dB are within what another seed gives."]
    else:
        lines += ["", f"CARE not measured: {why}. Install it with `python3.12 -m venv bench/.venv-peer && "
                  "bench/.venv-peer/bin/pip install -r bench/requirements-peer.txt` (CAREamics pins torch < 2.14, so not in bpho's venv)."]
    return "\n".join(lines) + "\n"

if __name__ == "__main__":
    main()
