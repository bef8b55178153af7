"""Benchmark of prediction: the end-to-end `bpho predict` command (a fresh process: imports, model loading, reading,
normalising, tiling, blending, writing OME-TIFF) on a large LR image and on a movie, vs the bare forward passes of the
same tiles in this process (the reference, measured in the same run); and peak memory for movies of N and 4N frames
(streaming: it must not grow with the movie), and a movie whose output is larger than the memory the command may use
(a memory cgroup caps it; needs root or a delegated cgroup, else that figure says why it is missing).

    python bench/predict.py [--repeats 3] [--size 2048] [--model smoke|plain] [--out BENCHMARKS.md]
"""
import argparse, datetime, math, os, platform, shutil, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BIN, PY, capped, load, measured, smoke_model, stats, write_section
import numpy as np

TITLE = "Prediction (`make bench`, bench/predict.py)"

def bare(model, x, bs, multiple) -> float:
    "Seconds of the forward passes of the tiles `x` (N, 1, Y, X), `bs` at a time."
    import torch
    from bpho_lib.predict import _run
    t = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(x), bs): _run(model, x[i:i + bs], multiple)
    return time.perf_counter() - t

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--size", type=int, default=2048, help="LR side of the large image (default: %(default)s)")
    ap.add_argument("--frames", type=int, default=10, help="N: movies of N and 4N frames")
    ap.add_argument("--side", type=int, default=256, help="LR side of the movies' frames (default: %(default)s)")
    ap.add_argument("--model", choices=["smoke", "plain"], default="smoke",
                    help="smoke: experiment 101's smoke network (the demo's); plain: the plain UNet on the HR grid (16x slower on a CPU)")
    ap.add_argument("--out", default=None); a = ap.parse_args()
    import torch, tifffile
    from bpho_lib.io import write_czi
    from bpho_lib.predict import _starts
    from bpho_lib.store import save
    from bpho_lib.unet import ModelConfig, build_model
    from bpho_lib.config import tune_malloc
    tuned = tune_malloc()  # the reference runs with the allocator settings the `bpho` command uses
    torch.manual_seed(0); load0 = load()
    mc = smoke_model() if a.model == "smoke" else {"arch": "plain", "base": 32, "levels": 4, "scale": 4, "n_in": 1}
    mcfg = ModelConfig.from_dict(mc)
    net = (f"experiment 101's smoke network (plain UNet, {mcfg.base} base channels, {mcfg.levels} levels, on the LR grid, pixel shuffle to HR)"
           if a.model == "smoke" else f"plain UNet ({mcfg.base} base channels, {mcfg.levels} levels) on the HR grid")
    tmp = Path(tempfile.mkdtemp(prefix="bpho-bench-"))
    try:
        cfg = {"model": dict(vars(mcfg)), "normalisation": {"percentiles": [2, 99.8]}}
        model = build_model(mcfg).eval()
        save(tmp/"m", model, cfg)
        rng = np.random.default_rng(0)
        tile, ov, bs, mult = 128, 16, 8, mcfg.lr_multiple()  # bpho predict's defaults
        cli = lambda src, *o: [BIN/"bpho", "predict", tmp/"m", src, "-o", tmp/"out", "--overwrite", *o]
        # the fixed cost of a `bpho predict` process: a 32x32 LR image (a single small tile)
        write_czi(tmp/"tiny.czi", rng.poisson(20, (32, 32)).astype(np.uint16), "YX", {"X": 0.2, "Y": 0.2})
        fixed, fixed_rss, _ = measured(cli(tmp/"tiny.czi"))
        # a large image
        img = rng.poisson(20, (a.size, a.size)).astype(np.uint16)
        write_czi(tmp/"big.czi", img, "YX", {"X": 0.2, "Y": 0.2})
        boxes = [(y, x) for y in _starts(a.size, tile, ov) for x in _starts(a.size, tile, ov)]
        x = torch.from_numpy(np.stack([img[y:y + tile, x:x + tile] for y, x in boxes]).astype(np.float32)[:, None])
        ref, full = [], []
        for i in range(a.repeats):  # interleaved
            ref.append(bare(model, x, bs, mult)); full.append(measured(cli(tmp/"big.czi"))[0])
            print(f"{a.size}x{a.size}: bare {ref[-1]:.1f} s, bpho predict {full[-1]:.1f} s", flush=True)
        mpix = (a.size * 4) ** 2 / 1e6
        # movies of N and 4N frames: time and peak RSS of the whole command; bare passes of the 4N frames' tiles, a frame at a time as predict_file
        side, mov = a.side, {}
        fboxes = [(y, x) for y in _starts(side, tile, ov) for x in _starts(side, tile, ov)]
        for T in (a.frames, 4 * a.frames):
            frames = rng.poisson(20, (T, side, side)).astype(np.uint16)
            write_czi(tmp/f"m{T}.czi", frames, "TYX", {"X": 0.2, "Y": 0.2})
            s, r, _ = measured(cli(tmp/f"m{T}.czi")); mov[T] = (s, r); print(f"movie {T} frames: {s:.1f} s, peak RSS {r:.0f} MiB", flush=True)
        T = 4 * a.frames
        mref = sum(bare(model, torch.from_numpy(np.stack([f[y:y + tile, x:x + tile] for y, x in fboxes]).astype(np.float32)[:, None]), bs, mult)
                   for f in frames)
        base = measured([PY, "-c", "import bpho_lib.cli, bpho_lib.predict, bpho_lib.store, czifile, tifffile, torch"])[1]
        # a movie larger than the memory the process may use: a cgroup caps it below the size of its own output
        cap = int(math.ceil(max(r for _, r in mov.values()) * 1.25 / 64) * 64) * 2**20
        frame = (4 * side) ** 2 * 4
        F = int(math.ceil(1.25 * cap / frame))
        write_czi(tmp/"huge.czi", rng.poisson(20, (F, side, side)).astype(np.uint16), "TYX", {"X": 0.2, "Y": 0.2})
        print(f"capped: {F} frames of {side}x{side} LR -> {F * frame / 2**30:.2f} GiB of float32 output, memory capped at {cap / 2**30:.2f} GiB ...", flush=True)
        big = capped(cli(tmp/"huge.czi"), cap)
        if big.get("returncode") == 0:
            o = tmp/"out/huge.ome.tif"
            with tifffile.TiffFile(o) as tf: big.update(shape=tf.series[0].shape, last=float(tf.series[0].asarray(key=F - 1).std()), size=o.stat().st_size)
        print(f"capped: {big}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ratio = [r / f for r, f in zip(ref, full)]
    ms, frame_mib = T * (4 * side) ** 2 / 1e6, frame / 2**20
    grow = mov[T][1] - mov[a.frames][1]
    lines = [f"## {TITLE}", "",
             f"Measured {datetime.date.today()} on {platform.machine()}, {os.cpu_count()} cores, CPU, torch {torch.__version__}, load average {load0} -> {load()}; "
             f"min / median / max over {a.repeats} interleaved repeats. Untrained {net} (speed does not depend on the "
             f"weights), scale 4, `bpho predict`'s defaults: tiles of {tile} LR px overlapping by at least {ov}, batches of {bs}. "
             f"The command runs in a fresh process each time (`bpho predict MODEL IMAGE -o DIR`), so its time includes starting Python, "
             f"importing torch and bpho, loading the model, reading, normalising, blending and writing the OME-TIFF. "
             f"{'Both run with the allocator settings of `bpho_lib.config.tune_malloc` (the command sets them at start, this script for the bare passes).' if tuned else 'No allocator tuning here (not glibc).'}", "",
             f"Large image: {a.size}x{a.size} LR -> {4 * a.size}x{4 * a.size} ({mpix:.1f} MPix out, {len(boxes)} tiles).", "",
             "| what | seconds | MPix/s (output) |", "|---|---|---|",
             f"| bare forward passes of the same tiles (reference, in process) | {stats(ref)} | {stats([mpix / b for b in ref])} |",
             f"| `bpho predict` (the whole command) | {stats(full)} | {stats([mpix / f for f in full])} |", "",
             f"`bpho predict` / bare passes, in throughput: **{stats(ratio, '{:.3f}')}** (goal: at least 0.85). Of that, the fixed cost of a "
             f"`bpho predict` process (same command on a 32x32 LR image: start, imports, model load, one tiny tile, write) is "
             f"{fixed:.1f} s, measured once.", "",
             f"Movie: {T} frames of {side}x{side} LR -> {4 * side}x{4 * side} ({ms:.1f} MPix out, {len(fboxes)} tiles per frame), one run: "
             f"`bpho predict` {mov[T][0]:.1f} s = {ms / mov[T][0]:.2f} MPix/s; bare passes of the same tiles, a frame at a time in batches "
             f"of {bs} as `predict_file` does, {mref:.1f} s = {ms / mref:.2f} MPix/s; ratio **{mref / mov[T][0]:.3f}**.", "",
             "Streaming, peak RSS of the whole `bpho predict` process (the kernel's high-water mark, getrusage):", "",
             "| movie | frames | output if held in memory (MiB) | peak RSS (MiB) |", "|---|---|---|---|",
             f"| {side}x{side} LR -> {4 * side}x{4 * side} float32 | {a.frames} | {a.frames * frame_mib:.0f} | {mov[a.frames][1]:.0f} |",
             f"| {side}x{side} LR -> {4 * side}x{4 * side} float32 | {T} | {T * frame_mib:.0f} | {mov[T][1]:.0f} |", "",
             f"Reference: an interpreter that imports what the command imports, {base:.0f} MiB; the tiny-image command, {fixed_rss:.0f} MiB. "
             f"From {a.frames} to {T} frames the output grows by {(T - a.frames) * frame_mib:.0f} MiB and the peak RSS by {grow:+.0f} MiB.", ""]
    if big.get("returncode") == 0:
        lines += [f"Movie larger than the memory allowed: the command ran in a memory cgroup capped at {cap / 2**20:.0f} MiB (1.25x the larger "
                  f"peak above, rounded up; exceeding it kills the process) on {F} frames of {side}x{side} LR, whose float32 output is "
                  f"{F * frame / 2**20:.0f} MiB, {F * frame / cap:.2f}x the cap. It finished in {big['seconds']:.0f} s "
                  f"({F * frame / 4e6 / big['seconds']:.2f} MPix/s; the bare passes above, scaled to {F} frames, {mref / T * F:.0f} s: ratio "
                  f"{mref / T * F / big['seconds']:.3f}) with a peak RSS of {big['rss_mib']:.0f} MiB"
                  + (f" (the cgroup's own high-water mark, page cache of the file being written included: {big['cgroup_peak'] / 2**20:.0f} MiB)"
                     if big["cgroup_peak"] is not None else "") + f" and wrote a "
                  f"{big['size'] / 2**20:.0f} MiB OME-TIFF of shape {big['shape']} (last frame read back, standard deviation "
                  f"{big['last']:.3f}). Frames are read, predicted and written one at a time, so a movie larger than RAM needs no more "
                  f"memory than a short one.", ""]
    elif "why" in big:
        lines += [f"Movie larger than the memory allowed: not measured here, {big['why']}.", ""]
    else:
        peak = f"{big['cgroup_peak'] / 2**20:.0f} MiB" if big["cgroup_peak"] is not None else "unknown"
        lines += [f"Movie larger than the memory allowed: **failed** under a cap of {cap / 2**20:.0f} MiB (return code {big['returncode']}, "
                  f"cgroup peak {peak}): {big['stderr'][-300:]}", ""]
    text = "\n".join(lines)
    print(text)
    if a.out: write_section(a.out, text, TITLE)

if __name__ == "__main__":
    main()
