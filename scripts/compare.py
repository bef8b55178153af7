"""Variants of one experiment side by side over several seeds: each variant is a set of `--set` overrides of the
notebook's parameters, trained in smoke mode by `bpho experiment` and scored on the held-out split as `make demo`
scores it. Prints mean ± standard deviation per variant and writes every row as JSON.

    python scripts/compare.py NOTEBOOK --variant NAME 'PARAM=VALUE' ... [--variant ...] [--seeds 0 1 2] [--root demo]

Notebooks trained on synthetic pairs (102, 107) are scored on the real held-out pairs (paired_001); 105 on its own
held-out image, 109 on the point-scanned one (both EM sets are built, as each notebook evaluates on both).

Examples (measured in the README):

    python scripts/compare.py nbs/301_emseg_001_unet.ipynb \\
        --variant plain "LOSS={'ohem': 1.0, 'dice': 1.0}" --variant ohem0.1 "LOSS={'ohem': 0.1, 'dice': 1.0}"
    python scripts/compare.py nbs/101_paired_001_unet.ipynb \\
        --variant tiles "STAGES=[{'size': 128, 'bs': 8, 'epochs': 30, 'lr': 3e-3}]" \\
        --variant fields "STAGES=[{'size': 128, 'bs': 8, 'epochs': 30, 'lr': 3e-3, 'sampling': 'fields'}]"
    python scripts/compare.py nbs/107_synth_002_unet.ipynb --variant smoke

Each run is `bpho experiment NOTEBOOK --smoke --set SEED=.. --set EXPERIMENT=<notebook>_<variant>_s<seed> --set ...`
into the root's models/ and results/; runs already there are reused. The dataset the notebook trains on is built
from its sample source when the root lacks it.
"""
from __future__ import annotations
import argparse, json, statistics, subprocess, sys, time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# notebook -> (sample source, the datasets it needs (scored on the last one's held-out split), keys of its evaluation row)
RESTORATION = ("psnr", "psnr_fg", "ssim")
SEGMENTATION = ("iou", "dice", "f1_50", "f1_75", "ap_75")
NOTEBOOKS = {"101_paired_001_unet": ("sample_pairs_mito", ["paired_001"], RESTORATION),
             "102_synth_001_unet": ("sample_pairs_mito", ["synth_001", "paired_001"], RESTORATION),
             "107_synth_002_unet": ("sample_pairs_mito", ["synth_002", "paired_001"], RESTORATION),
             "105_emsynth_001_unet": ("sample_em", ["emsynth_002", "emsynth_001"], RESTORATION),
             "109_emsynth_002_unet": ("sample_em", ["emsynth_001", "emsynth_002"], RESTORATION),
             "301_emseg_001_unet": ("sample_em_labelled", ["emseg_001"], SEGMENTATION),
             "302_emseg3d_001_unet": ("sample_vol_em_labelled", ["emseg3d_001"], SEGMENTATION)}
EXTRA = {"synth_002": ["--lr-source", "sample_pairs_mito"]}  # dataset script flags on the sample sources

def run(cmd, cwd):
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True)
    if r.returncode: raise SystemExit(f"{' '.join(map(str, cmd))} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")

def table(rows: dict, keys, title: str) -> str:
    "Markdown: one line per variant, mean ± sd over its seeds."
    cell = lambda rs, k: (f"{statistics.mean(r[k] for r in rs):.3f} ± {statistics.stdev(r[k] for r in rs):.3f}"
                          if len(rs) > 1 else f"{rs[0][k]:.3f}")
    return "\n".join([f"| {title} | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|",
                      *[f"| {name} | " + " | ".join(cell(rs, k) for k in keys) + " |" for name, rs in rows.items()]])

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebook")
    ap.add_argument("--variant", nargs="+", action="append", required=True, metavar=("NAME", "PARAM=VALUE"),
                    help="a name, then the --set overrides of this variant (none: the notebook's smoke configuration)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--root", default="demo", help="data root (default: %(default)s)")
    a = ap.parse_args()
    nb = Path(a.notebook)
    if nb.stem not in NOTEBOOKS: raise SystemExit(f"{nb}: expected one of {', '.join(NOTEBOOKS)}")
    names = [v[0] for v in a.variant]
    if len(set(names)) != len(names): raise SystemExit(f"variant names must differ, found {names}")
    for v in a.variant:
        bad = [s for s in v[1:] if "=" not in s or s.split("=")[0] in ("SEED", "EXPERIMENT")]
        if bad: raise SystemExit(f"variant {v[0]}: {bad}: expected PARAM=VALUE (SEED and EXPERIMENT are set here)")
    root = Path(a.root).resolve()
    source, datasets, keys = NOTEBOOKS[nb.stem]
    dataset = datasets[-1]  # scored on the last dataset it needs (the real pairs for 102 and 107)
    bpho = [BIN/"bpho", "--root", root]
    for ds in datasets:
        if (root/"datasets"/ds/"dataset.json").is_file(): continue
        if not (root/"datasources"/source).is_dir(): run([*bpho, "sample", source], REPO)
        run([sys.executable, REPO/f"scripts/dataset/{ds}.py", "--root", root, "--source", source, *EXTRA.get(ds, [])], REPO)
    rows = {}
    for name, *sets in a.variant:
        for seed in a.seeds:
            exp = f"{nb.stem}_{name}_s{seed}"
            metrics, t = root/"results"/exp/"metrics.json", time.time()
            if not metrics.is_file():
                run([*bpho, "experiment", REPO/nb, "--smoke", "--quiet", "--set", f"SEED={seed}", "--set", f"EXPERIMENT={exp!r}",
                     *[x for s in sets for x in ("--set", s)]], REPO)
            row = next(e for e in json.loads(metrics.read_text())["evaluations"] if e["split"] == "valid" and e["dataset"] == dataset)
            conf = json.loads((root/"models"/exp/"config.json").read_text())
            rows.setdefault(name, []).append({"seed": seed, **{k: row[k] for k in keys}, "train_seconds": conf["train_seconds"]})
            print(f"{exp}: " + ", ".join(f"{k} {row[k]:.3f}" for k in keys) + f", trained in {conf['train_seconds']:.0f} s "
                  f"({time.time() - t:.0f} s here)", flush=True)
    print(table(rows, keys, f"variant ({nb.stem}, smoke, {len(a.seeds)} seeds, mean ± sd)"))
    out = root/"results"/f"{nb.stem}_compare.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"notebook": str(nb), "seeds": a.seeds, "variants": {v[0]: v[1:] for v in a.variant}, "rows": rows},
                              indent=1) + "\n")
    print(f"written {out}")

if __name__ == "__main__":
    main()
