"""Hard-example mining against the plain loss: experiment 301 (2D, B+C) in smoke mode, trained with the plain
class-balanced BCE + Dice and with online hard-example mining (the BCE of the hardest fraction of pixels), over
several seeds, each scored on the held-out images as `make demo` scores it. Prints the table and writes it as JSON.

    python scripts/compare_ohem.py [--root DIR] [--seeds 0 1 2] [--ohem 0.1] [--notebook nbs/301_emseg_001_unet.ipynb]

Each run is a `bpho experiment NOTEBOOK --smoke --set SEED=.. --set LOSS=.. --set EXPERIMENT=..` into the root's
models/ and results/ (named <notebook>_plain_s<seed> and <notebook>_ohem<f>_s<seed>); runs already there are reused.
"""
from __future__ import annotations
import argparse, json, statistics, subprocess, sys, time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
KEYS = ("iou", "dice", "f1_50", "f1_75", "ap_75")
DATASETS = {"301_emseg_001_unet": ("sample_em_labelled", "emseg_001"), "302_emseg3d_001_unet": ("sample_vol_em_labelled", "emseg3d_001")}

def run(cmd, cwd):
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True)
    if r.returncode: raise SystemExit(f"{' '.join(map(str, cmd))} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", default="demo", help="data root (default: %(default)s; sources and dataset are made if missing)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--ohem", type=float, default=0.1, help="fraction of hardest pixels kept (default: %(default)s)")
    ap.add_argument("--notebook", default="nbs/301_emseg_001_unet.ipynb")
    a = ap.parse_args()
    nb = Path(a.notebook)
    if nb.stem not in DATASETS: raise SystemExit(f"{nb}: expected one of {', '.join(DATASETS)}")
    if not 0 < a.ohem < 1: raise SystemExit(f"--ohem is a fraction in (0, 1), found {a.ohem}")
    root = Path(a.root).resolve()
    source, dataset = DATASETS[nb.stem]
    bpho = [BIN/"bpho", "--root", root]
    if not (root/"datasources"/source).is_dir(): run([*bpho, "sample", source], REPO)
    if not (root/"datasets"/dataset/"dataset.json").is_file():
        run([sys.executable, REPO/f"scripts/dataset/{dataset}.py", "--root", root, "--source", source], REPO)
    rows = {}
    for name, loss in (("plain", {"ohem": 1.0, "dice": 1.0}), (f"ohem{a.ohem:g}", {"ohem": a.ohem, "dice": 1.0})):
        for seed in a.seeds:
            exp = f"{nb.stem}_{name}_s{seed}"
            metrics = root/"results"/exp/"metrics.json"
            t = time.time()
            if not metrics.is_file():
                run([*bpho, "experiment", REPO/nb, "--smoke", "--quiet", "--set", f"SEED={seed}", "--set", f"LOSS={loss!r}",
                     "--set", f"EXPERIMENT={exp!r}"], REPO)
            row = next(e for e in json.loads(metrics.read_text())["evaluations"] if e["split"] == "valid")
            rows.setdefault(name, []).append({"seed": seed, **{k: row[k] for k in KEYS}})
            print(f"{exp}: " + ", ".join(f"{k} {row[k]:.3f}" for k in KEYS) + f" ({time.time() - t:.0f} s)", flush=True)
    lines = [f"| loss ({nb.stem}, smoke, {len(a.seeds)} seeds) | " + " | ".join(KEYS) + " |", "|---" * (len(KEYS) + 1) + "|"]
    for name, rs in rows.items():
        cell = lambda k: (f"{statistics.mean(r[k] for r in rs):.3f} ± {statistics.stdev(r[k] for r in rs):.3f}"
                          if len(rs) > 1 else f"{rs[0][k]:.3f}")
        lines.append(f"| {name} | " + " | ".join(cell(k) for k in KEYS) + " |")
    print("\n".join(lines))
    out = root/"results"/f"{nb.stem}_ohem.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"notebook": str(nb), "seeds": a.seeds, "rows": rows}, indent=1) + "\n")
    print(f"written {out}")

if __name__ == "__main__":
    main()
