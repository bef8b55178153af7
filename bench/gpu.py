"""GPU benchmark: the largest training batch per tile size (bpho find-bs), training samples/s and peak memory at that
batch through the real training path (tile_dls: tiles in RAM, pinned memory, workers; restoration_learner: mixed
precision, channels_last), and tiled prediction MPix/s. Writes the `## GPU` section of BENCHMARKS.md, naming the card.

    bench/gpu.sh                                   # on a CUDA machine: python bench/gpu.py --device cuda --out BENCHMARKS.md
    python bench/gpu.py --device cpu --quick       # the same code path on the CPU, tiny sizes (what CI runs)
"""
import argparse, datetime, os, platform, re, sys, tempfile, time
from pathlib import Path
import numpy as np

REPO = Path(__file__).resolve().parent.parent

def synthetic_dataset(folder: Path, tile: int, scale: int, n_in: int, n_train: int, n_valid: int) -> Path:
    "A dataset folder as the dataset scripts write it (tiles.csv, .npy tiles) of random tiles: throughput does not depend on content."
    rng = np.random.default_rng(0)
    (folder/"t").mkdir(parents=True, exist_ok=True)
    rows = ["tile,split,size,lr,hr,source_file,y,x"]
    for i in range(n_train + n_valid):
        lr = rng.random((n_in, tile // scale, tile // scale), dtype=np.float32)
        np.save(folder/f"t/{tile}_{i}_lr.npy", lr[0] if n_in == 1 else lr)
        np.save(folder/f"t/{tile}_{i}_hr.npy", rng.random((tile, tile), dtype=np.float32))
        rows.append(f"{i},{'train' if i < n_train else 'valid'},{tile},t/{tile}_{i}_lr.npy,t/{tile}_{i}_hr.npy,f,0,0")
    (folder/"tiles.csv").write_text("\n".join(rows) + "\n")
    return folder

def train_rate(cfg, tile: int, bs: int, device, steps: int, warmup: int, work: Path) -> dict:
    "Training samples/s over `steps` batches after `warmup`, and the peak memory, through tile_dls and restoration_learner."
    import torch
    from fastai.callback.core import Callback
    from bpho_lib.data import tile_dls
    from bpho_lib.learn import restoration_learner
    folder = synthetic_dataset(work/f"ds{tile}", tile, cfg.scale, cfg.n_in, bs * (steps + warmup), bs)
    dls = tile_dls(folder, tile, bs, device=device)
    learn = restoration_learner(dls, cfg)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    class Clock(Callback):
        def before_batch(self):
            if self.training and self.iter == warmup: sync(); self.t0 = time.perf_counter()
        def after_train(self): sync(); self.t1 = time.perf_counter()
    clock = Clock()
    if device.type == "cuda": torch.cuda.reset_peak_memory_stats(device)
    learn.fit(1, 1e-4, cbs=[clock])
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None
    return {"samples_per_s": steps * bs / (clock.t1 - clock.t0), "peak_bytes": peak, "workers": dls.train.fake_l.num_workers,
            "pinned": dls.train.pin_memory, "precision": type(getattr(learn, "mixed_precision", None)).__name__}

def predict_rate(cfg, device, lr_side: int, tile: int, batch: int) -> dict:
    "Output MPix/s of tiled prediction (bpho_lib.predict.predict_tiled) of one LR image, after a warm-up."
    import torch
    from bpho_lib.predict import predict_tiled
    from bpho_lib.unet import build_model
    model = build_model(cfg).to(device).eval()
    img = np.random.default_rng(1).random((cfg.n_in, lr_side, lr_side), dtype=np.float32)
    kw = dict(tile=tile, overlap=tile // 8, batch=batch, device=device, multiple=cfg.lr_multiple())
    predict_tiled(model, img[:, :tile, :tile], cfg.scale, **kw)  # warm-up (cuDNN, allocator)
    if device.type == "cuda": torch.cuda.synchronize(device); torch.cuda.reset_peak_memory_stats(device)
    t = time.perf_counter(); out = predict_tiled(model, img, cfg.scale, **kw)
    if device.type == "cuda": torch.cuda.synchronize(device)
    s = time.perf_counter() - t
    return {"mpix_per_s": out.size / 1e6 / s, "seconds": s, "out_shape": out.shape,
            "peak_bytes": torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None}

def write_gpu_section(out: Path, text: str):
    "Replace the `## GPU...` section of `out` (up to the next `## `) with `text`, or append it."
    doc = out.read_text() if out.exists() else "# bpho benchmarks\n\n"
    pat = re.compile(r"^## GPU.*?(?=^## |\Z)", re.S | re.M)
    body = text.rstrip() + "\n\n"
    doc = pat.sub(lambda m: body, doc, count=1) if pat.search(doc) else doc.rstrip() + "\n\n" + body
    out.write_text(doc.rstrip() + "\n")

def gib(b): return "-" if b is None else f"{b / 2**30:.2f} GiB"

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    ap.add_argument("--quick", action="store_true", help="tiny model and tiles, a few steps: checks the code path (CPU CI)")
    ap.add_argument("--arch", default="resnet34", help="model (default: PSSR's %(default)s UNet with self-attention and blur)")
    ap.add_argument("--tiles", type=int, nargs="+", default=[128, 256, 512], help="HR tile sizes (default: %(default)s)")
    ap.add_argument("--budget", default=None, help="memory budget for find-bs (default: 90%% of the GPU; required on the CPU)")
    ap.add_argument("--steps", type=int, default=20, help="timed training batches per tile size (default: %(default)s)")
    ap.add_argument("--out", default=None, help="write the section into this file (e.g. BENCHMARKS.md)")
    a = ap.parse_args(argv)
    import torch
    from bpho_lib.batchsize import find_batch_size, parse_bytes, device_name
    from bpho_lib.unet import ModelConfig, amp_dtype
    device = torch.device(a.device)
    if device.type == "cuda" and not torch.cuda.is_available(): sys.exit("bench/gpu.py: no CUDA device here; for a dry run: --device cpu --quick")
    if a.quick:
        cfg, tiles, steps, warmup = ModelConfig(arch="plain", base=4), [32, 64], 2, 1
        budget, pred = parse_bytes(a.budget or "6MiB"), dict(lr_side=64, tile=32, batch=4)
    else:
        cfg = ModelConfig(arch=a.arch, self_attention=a.arch != "plain", blur=a.arch != "plain")
        tiles, steps, warmup = a.tiles, a.steps, 5
        budget, pred = (parse_bytes(a.budget) if a.budget else None), dict(lr_side=1024, tile=256, batch=16)
    if budget is None and device.type != "cuda": sys.exit("bench/gpu.py: on the CPU give --budget (or --quick)")
    rows, t0 = [], time.time()
    with tempfile.TemporaryDirectory(prefix="bpho-gpu-bench-") as work:
        for tile in tiles:
            f = find_batch_size(cfg, tile, device, budget)
            print(f"tile {tile}: batch {f['batch_size']} fits (peak {gib(f['peak_bytes'])}, {len(f['trials'])} trials, {f['seconds']:.0f} s)", flush=True)
            tr = train_rate(cfg, tile, f["batch_size"], device, steps, warmup, Path(work)) if f["batch_size"] else None
            if tr: print(f"tile {tile}: {tr['samples_per_s']:.1f} samples/s at batch {f['batch_size']}, peak {gib(tr['peak_bytes'])}", flush=True)
            rows.append((tile, f, tr))
    p = predict_rate(cfg, device, **pred)
    print(f"prediction: {p['mpix_per_s']:.2f} MPix/s (output {p['out_shape']}), peak {gib(p['peak_bytes'])}")
    amp = {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(amp_dtype(device), "fp32")
    name = device_name(device)
    if device.type == "cuda":
        card = f"{name}, {torch.cuda.get_device_properties(device).total_memory / 2**30:.0f} GiB, CUDA {torch.version.cuda}"
        title = f"## GPU: {name} (bench/gpu.sh)"
    else:
        card, title = f"CPU ({os.cpu_count()} cores)", "## GPU code path, dry run on the CPU (bench/gpu.py --device cpu --quick; not GPU figures)"
    model = f"{cfg.arch} UNet" + (" with self-attention and blur" if cfg.self_attention else f" ({cfg.base} base channels)")
    lines = [title, "",
             f"Measured {datetime.date.today()} on {card}; torch {torch.__version__}, {amp}, "
             f"{'channels_last, ' if device.type == 'cuda' else ''}{model}, scale {cfg.scale}, MSE, Adam. "
             f"Batch sizes from `bpho find-bs` (largest that fits {gib(budget or rows[0][1]['budget_bytes'])}; peak by "
             f"{rows[0][1]['measure']}); training through `tile_dls` + `restoration_learner` on random tiles held in RAM, "
             f"{steps} timed batches after {warmup} of warm-up; {time.time() - t0:.0f} s in all.", "",
             "| HR tile | batch found | find-bs peak | training samples/s | training peak | DataLoader workers, pinned |", "|---|---|---|---|---|---|"]
    for tile, f, tr in rows:
        lines.append(f"| {tile} | {f['batch_size']} | {gib(f['peak_bytes'])} | {tr['samples_per_s']:.1f} | {gib(tr['peak_bytes'])} | "
                     f"{tr['workers']}, {'yes' if tr['pinned'] else 'no'} |" if tr else f"| {tile} | 0 | - | - | - | - |")
    lines += ["", f"Prediction (`predict_tiled`, {pred['lr_side']}x{pred['lr_side']} LR, tiles of {pred['tile']} LR px, batches of "
              f"{pred['batch']}): {p['mpix_per_s']:.2f} MPix/s of output, peak {gib(p['peak_bytes'])}.", ""]
    text = "\n".join(lines)
    print("\n" + text)
    if a.out: write_gpu_section(Path(a.out) if Path(a.out).is_absolute() else REPO/a.out, text)
    return rows, p

if __name__ == "__main__":
    main()
