"""Benchmark of tiled prediction: `predict_file` on a large LR image and a movie vs the bare forward passes of
the same tiles in the same run (the overhead of reading, normalising, blending and writing), and peak memory
for movies of 10 and 40 frames (streaming: it must not grow with the movie).

    python bench/predict.py [--repeats 3] [--out BENCHMARKS.md]
"""
import argparse, datetime, json, os, platform, re, statistics, subprocess, sys, tempfile, time
from pathlib import Path
import numpy as np

REPO = Path(__file__).resolve().parent.parent

def stats(v): return f"{min(v):.2f} / {statistics.median(v):.2f} / {max(v):.2f}"

def child_rss(code: str) -> float:
    "Peak RSS (MiB) of a fresh interpreter running `code`."
    # measured as a grandchild: Linux carries a process's peak RSS across exec, and this process is large
    probe = ("import resource, subprocess, sys; subprocess.run([sys.executable, '-c', sys.argv[1]], check=True); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)")
    return float(subprocess.run([sys.executable, "-c", probe, code], capture_output=True, text=True, check=True).stdout.split()[-1])

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3); ap.add_argument("--size", type=int, default=256, help="LR image side")
    ap.add_argument("--out", default=None); a = ap.parse_args()
    import torch
    from bpho_lib.io import write_czi
    from bpho_lib.predict import predict_file, _starts, _run
    from bpho_lib.store import save_model
    from bpho_lib.unet import ModelConfig, build_model
    torch.manual_seed(0)
    tmp = Path(tempfile.mkdtemp(prefix="bpho-bench-"))
    cfg = {"model": {"arch": "plain", "base": 32, "scale": 4, "n_in": 1}}
    model = build_model(ModelConfig(arch="plain")).eval()
    save_model(tmp/"m", model, cfg)
    rng = np.random.default_rng(0)
    img = rng.poisson(20, (a.size, a.size)).astype(np.uint16)
    write_czi(tmp/"big.czi", img, "YX", {"X": 0.2, "Y": 0.2})
    tile, ov, bs = 128, 16, 8
    boxes = [(y, x) for y in _starts(a.size, tile, ov) for x in _starts(a.size, tile, ov)]
    x = torch.from_numpy(np.stack([img[y:y + tile, x:x + tile] for y, x in boxes]).astype(np.float32)[:, None])
    bare, full = [], []
    for _ in range(a.repeats):
        t = time.perf_counter()
        with torch.no_grad():
            for i in range(0, len(x), bs): _run(model, x[i:i + bs], 4)
        bare.append(time.perf_counter() - t)
        t = time.perf_counter()
        predict_file(model, cfg, tmp/"big.czi", tmp/"big.ome.tif", overwrite=True, tile=tile, overlap=ov, batch=bs)
        full.append(time.perf_counter() - t)
    mpix = (a.size * 4) ** 2 / 1e6
    ratio = [f / b for f, b in zip(full, bare)]
    # streaming: peak memory for a short and a 4x longer movie of 128x128 LR frames (1 MiB per output frame)
    rss = {}
    for T in (10, 40):
        write_czi(tmp/f"m{T}.czi", rng.poisson(20, (T, 128, 128)).astype(np.uint16), "TYX", {"X": 0.2, "Y": 0.2})
        rss[T] = child_rss(f"from bpho_lib.store import load_model\nfrom bpho_lib.predict import predict_file\n"
                           f"m, c = load_model({str(tmp/'m')!r})\npredict_file(m, c, {str(tmp/f'm{T}.czi')!r}, {str(tmp/f'm{T}.ome.tif')!r})")
    base = child_rss("from bpho_lib.store import load_model\nfrom bpho_lib.predict import predict_file\nimport bpho_lib.io, czifile, tifffile")
    lines = ["## Prediction (`make bench`, bench/predict.py)", "",
             f"Measured {datetime.date.today()} on {platform.machine()}, {os.cpu_count()} cores, CPU, torch {torch.__version__}; "
             f"{a.repeats} repeats, min / median / max. Plain UNet (32 base channels), {a.size}x{a.size} LR -> {4 * a.size}x{4 * a.size}, "
             f"tiles of {tile} LR px overlapping by {ov}, batches of {bs} ({len(boxes)} tiles).", "",
             "| what | seconds | MPix/s (output) |", "|---|---|---|",
             f"| bare forward passes of the same tiles (reference) | {stats(bare)} | {stats([mpix / b for b in bare])} |",
             f"| `predict_file` (read, normalise, tiles, blend, write OME-TIFF) | {stats(full)} | {stats([mpix / f for f in full])} |", "",
             f"Overhead of `predict_file` over the bare passes: {stats([100 * (r - 1) for r in ratio])} % (goal: at most 15 %).", "",
             f"Movie streaming, peak RSS of a process predicting a movie of 128x128 LR frames: 10 frames {rss[10]:.0f} MiB, "
             f"40 frames {rss[40]:.0f} MiB (interpreter with the code imported: {base:.0f} MiB; each 512x512 float32 output "
             f"frame is 1 MiB, so holding the 40-frame output would add 30 MiB).", ""]
    text = "\n".join(lines)
    print(text)
    if a.out:
        out = REPO/a.out
        old = out.read_text() if out.exists() else "# bpho benchmarks\n\n"
        old = re.sub(r"## Prediction \(.*?(?=\n## |\Z)", "", old, flags=re.S).rstrip() + "\n\n"
        out.write_text(old + text + "\n")

if __name__ == "__main__":
    main()
