"""What averaging predictions gives at the longest peer budget, from the models that bench/peer_budgets.py left in
its --work folder (inference only, a few minutes on 2 cores; nothing is trained):

- bpho: the 101 smoke models of --epochs epochs (seeds --seeds), each alone, averaged in pairs of seeds (two runs of
  200 epochs take about the 20 minutes that CARE trains one model for) and over all seeds, and each over the 8
  dihedral transforms of its input;
- CARE (CAREamics): each seed's model of the --budget run (its last checkpoint), alone and over the 8 dihedral
  transforms (bench/peer_care.py --dihedral; CAREamics 0.3.5 has no test-time averaging of its own).

Scored as bench/peer.py scores (CARE-style PSNR and foreground PSNR on paired_001's 6 held-out 512 px tiles).

    python bench/peer_averaging.py [--work bench/.peer-work] [--budget 1200] [--epochs 200] [--seeds 0 1 2] [--out BENCHMARKS.md]
"""
import argparse, datetime, itertools, statistics, subprocess, sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, cpu_name, write_section
from peer import predict_held_out, scores, tiles
from peer_care import turn, unturn
from peer_budgets import config_tag
import numpy as np

TITLE = "Peer: averaging predictions at the longest budget (bench/peer_averaging.py)"

def bpho_predictions(mdir: Path, lr) -> list:
    "For each of the 8 dihedral transforms, the model's predictions of the tiles `lr`, transformed back."
    from bpho_lib import store
    if not (mdir/"config.json").exists():
        raise SystemExit(f"{mdir}: no bpho model (expected a run of bench/peer_budgets.py with this --work, --epochs and --seeds)")
    model, cfg = store.load(mdir)
    return [[unturn(p, k) for p in predict_held_out(model, cfg, [turn(x, k) for x in lr])] for k in range(8)]

def mean_of(*preds) -> list:
    "The tile-wise mean of several lists of predictions."
    return [np.mean(ps, 0) for ps in zip(*preds)]

def ms(vals, fmt="{:.2f}") -> str:
    return fmt.format(statistics.mean(vals)) + (" ± " + fmt.format(statistics.stdev(vals)) if len(vals) > 1 else "")

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", type=Path, default=REPO/"bench/.peer-work", help="bench/peer_budgets.py's --work")
    ap.add_argument("--budget", type=int, default=1200, help="the CARE runs' budget (seconds)")
    ap.add_argument("--epochs", type=int, default=200, help="the bpho runs' epochs")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--set", action="append", default=[], help="the bpho runs' --set (picks their models)")
    ap.add_argument("--out", default=None); a = ap.parse_args()
    if len(set(a.seeds)) < 2: ap.error(f"--seeds: at least 2 different seeds (models are averaged in pairs), found {a.seeds}")
    a.seeds = sorted(set(a.seeds))
    py = REPO/"bench/.venv-peer/bin/python"
    if not py.exists(): raise SystemExit(f"{py}: missing (CAREamics's venv, made by bench/peer_budgets.py; run `make bench-peer` first)")
    folder = a.work/"p/data/datasets/paired_001"
    if not folder.exists(): raise SystemExit(f"{folder}: missing (run bench/peer_budgets.py --work {a.work} first)")
    hr, lr = (tiles(folder, "valid", 512, r) for r in ("hr", "lr"))
    tag = config_tag(a.set)
    res = {}  # name -> list over seeds (or seed pairs) of (psnr, psnr_fg)
    add = lambda name, preds: res.setdefault(name, []).append((lambda s: (s["psnr"], s["psnr_fg"]))(scores(preds, hr)))
    P = {}
    for s in a.seeds:
        P[s] = bpho_predictions(a.work/f"p/data/models/101_e{a.epochs}_s{s}{tag}", lr)
        add("bpho, one model", P[s][0]); add("bpho, one model, 8 dihedral", mean_of(*P[s]))
        print(f"bpho seed {s}: {res['bpho, one model'][-1][0]:.2f} dB, dihedral {res['bpho, one model, 8 dihedral'][-1][0]:.2f}", flush=True)
    for s, t in itertools.combinations(a.seeds, 2):
        add("bpho, two models (seed pairs)", mean_of(P[s][0], P[t][0]))
        add("bpho, two models, 8 dihedral", mean_of(*P[s], *P[t]))
    if len(a.seeds) > 2:
        add(f"bpho, {len(a.seeds)} models", mean_of(*(P[s][0] for s in a.seeds)))
    for s in a.seeds:
        d = a.work/f"peer_s{s}_{a.budget}"
        r = subprocess.run([py, REPO/"bench/peer_care.py", "--dihedral", d], capture_output=True, text=True, cwd=d if d.exists() else None)
        if r.returncode: raise SystemExit(f"CARE seed {s} ({d}): {(r.stderr or r.stdout).strip().splitlines()[-1][:300]}")
        add("CARE, as benchmarked (the model at the end of training)", list(np.load(d/"pred_test.npy")))
        add("CARE, its last checkpoint", list(np.load(d/"pred_test_last.npy")))
        add("CARE, last checkpoint, 8 dihedral", list(np.load(d/"pred_test_dihedral.npy")))
        print(f"CARE seed {s}: {res['CARE, as benchmarked (the model at the end of training)'][-1][0]:.2f} dB, "
              f"dihedral {res['CARE, last checkpoint, 8 dihedral'][-1][0]:.2f}", flush=True)
    care = statistics.mean(p for p, _ in res["CARE, as benchmarked (the model at the end of training)"])
    care_fg = statistics.mean(f for _, f in res["CARE, as benchmarked (the model at the end of training)"])
    lines = [f"## {TITLE}", "",
             f"Measured {datetime.date.today()} on {cpu_name()}, inference only, from the models of the {a.budget // 60} min rows of the "
             f"section above (bpho: {a.epochs} epochs, seeds {', '.join(map(str, a.seeds))}; CARE: {a.budget} s). Same scoring. Two bpho "
             f"runs of {a.epochs} epochs train for about as long as CARE's one run; dihedral averaging costs 8 predictions instead of one. "
             "Mean ± standard deviation over the seeds (for two models: over the pairs of seeds).", "",
             "| predictions | PSNR | PSNR fg | − CARE as benchmarked (fg) |", "|---|---|---|---|"]
    for name, v in res.items():
        ps, fs = [p for p, _ in v], [f for _, f in v]
        lines.append(f"| {name} | {ms(ps)} | {ms(fs)} | {statistics.mean(ps) - care:+.2f} ({statistics.mean(fs) - care_fg:+.2f}) |")
    m = lambda name: statistics.mean(p for p, _ in res[name])
    lines += ["", f"Averaged alike, bpho's one model over 8 dihedral transforms against CARE's: "
              f"{m('bpho, one model, 8 dihedral') - m('CARE, last checkpoint, 8 dihedral'):+.2f} dB "
              f"(without: {m('bpho, one model') - care:+.2f}). Two bpho models in CARE's training time against CARE as benchmarked: "
              f"{m('bpho, two models (seed pairs)') - care:+.2f} dB."]
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out: write_section(a.out, text, TITLE)

if __name__ == "__main__":
    main()
