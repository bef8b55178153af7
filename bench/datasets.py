"""Benchmark of dataset builds on the sample sources: tiles/s and peak memory, 1 worker vs all cores.

Each build runs in a fresh process; peak RSS is the largest resident set of that process and its workers
(getrusage of the children). The reference in the same run is the bare interpreter with bpho's dataset code
imported, and the largest single source image: streaming means peak RSS does not grow with the number of fields.

    python bench/datasets.py [--repeats 3] [--out BENCHMARKS.md]
"""
import argparse, datetime, os, platform, re, shutil, subprocess, sys, tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BIN, REPO, PY, make_project, measured, stats, write_section

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3); ap.add_argument("--out", default=None)
    a = ap.parse_args()
    cores = os.cpu_count() or 1
    tmp = Path(tempfile.mkdtemp(prefix="bpho-bench-"))
    rows, notes = [], []
    try:
        proj = make_project(tmp/"p")
        subprocess.run([BIN/"bpho", "sample", "sample_pairs_mito"], cwd=proj, check=True, capture_output=True)
        # everything a build imports (lazily too), and nothing else
        base = ("import bpho_lib.datasets, bpho_lib.tiles, bpho_lib.crappify, czifile, imagecodecs, skimage.registration, "
                "skimage.transform, skimage.filters, scipy.fft, tqdm.auto, concurrent.futures")
        _, base_rss, _ = measured([PY, "-c", base], proj)
        for name in ("paired_001", "synth_001"):
            for w in sorted({1, cores}):
                secs, rss, tps = [], [], []
                for _ in range(a.repeats):
                    s, r, out = measured([PY, REPO/"scripts/dataset"/f"{name}.py", "--source", "sample_pairs_mito", "--workers", w, "--force"], proj)
                    n = int(re.search(r": (\d+) tiles", out).group(1))
                    secs.append(s); rss.append(r); tps.append(n / s)
                rows.append((name, w, n, stats(secs, "{:.1f}"), stats(tps, "{:.1f}"), stats(rss, "{:.1f}")))
                print(rows[-1], flush=True)
        # streaming: the same build over 4x more fields of view must not need more memory
        stream = []
        for n_fov in (6, 24):
            p = make_project(tmp/f"s{n_fov}", n_fov)
            subprocess.run([BIN/"bpho", "sample", "sample_pairs_mito"], cwd=p, check=True, capture_output=True)
            s, r, out = measured([PY, REPO/"scripts/dataset/paired_001.py", "--source", "sample_pairs_mito", "--workers", 1], p)
            stream.append((n_fov, s, r)); print(stream[-1], flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    img_mib = 1024 * 1024 * 2 / 2**20
    lines = [f"## Dataset builds (`make bench`, bench/datasets.py)", "",
             f"Measured {datetime.date.today()} on {platform.machine()}, {cores} cores, Python {platform.python_version()}; "
             f"{a.repeats} repeats, min / median / max. Sample source `sample_pairs_mito` (12 fields, HR 1024x1024 uint16, LR 256x256).", "",
             "| dataset | workers | tiles | seconds | tiles/s | peak RSS (MiB) |", "|---|---|---|---|---|---|"]
    lines += [f"| {n} | {w} | {t} | {s} | {tp} | {r} |" for n, w, t, s, tp, r in rows]
    lines += ["", f"Streaming (paired_001, 1 worker): reference in the same run, the interpreter with every module a build uses imported: "
              f"{base_rss:.0f} MiB; largest source image {img_mib:.0f} MiB.", "",
              "| fields of view | seconds | peak RSS (MiB) | above the interpreter (MiB) | in largest images |", "|---|---|---|---|---|"]
    lines += [f"| {n} | {s:.1f} | {r:.0f} | {r - base_rss:.0f} | {(r - base_rss) / img_mib:.1f}x |" for n, s, r in stream]
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out: write_section(a.out, text, "Dataset builds")

if __name__ == "__main__":
    main()
