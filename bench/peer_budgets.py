"""Peer comparison at several wall-clock training budgets and seeds: bpho's experiment 101 (smoke network, its
epochs scaled to each budget, up to the most that help) vs CARE as implemented in CAREamics, given the whole budget,
both scored as bench/peer.py scores them (CARE-style PSNR, foreground PSNR and SSIM on paired_001's held-out 512 px
tiles). Writes mean and spread over the seeds, samples seen, and whether the goals hold.

    python bench/peer_budgets.py [--work DIR] [--rows DIR] [--budgets 120 300 1200] [--seeds 0 1 2]
                                 [--max-epochs N] [--set NAME=VALUE ...] [--no-care] [--kept-only] [--out BENCHMARKS.md]

Every run's row is kept in bench/peer_rows/ (--rows; committed, with when, on which code and under which load it was
measured): the same command again reuses them, so the budgets can be measured in parts, by several sessions or
machines (e.g. `--budgets 120 300`, later `--budgets 1200`), and the whole table written by a last run that measures
nothing new (or `--kept-only`: the table of what is kept so far, the missing rows named); the table says how many
rows were kept and over which dates, code versions and CPUs they were measured.

The budget is bpho's training time (`train_seconds` in config.json, i.e. `fit_stages`, validation included): runs of
2 and 8 epochs measure the seconds an epoch adds and the rest, and each budget gets round((budget - rest) / per epoch)
epochs of 101's smoke stage, but at most --max-epochs (MAX_EPOCHS) for one network: beyond that the smoke network has
learnt what the 10 training fields teach and more epochs only learn them by heart (measured: EPOCH_CURVE below; README,
"Benchmarks"). A budget that affords more trains an ensemble instead (101's NET with `members`, bpho's own: each member
trained alone, their predictions averaged): as many members as it takes to keep each at most --max-epochs, sharing
95% of the budget (`plan`, ENSEMBLE_SHARE). CAREamics gets the budget, or what the bpho run took if that was longer, as Lightning's
`max_time`. `--set` goes to every bpho run (e.g. another NET). About 2 x sum(budgets) x seeds
of wall-clock time in all (about 2.7 h with the defaults on 2 cores): `make bench-peer`.
"""
import argparse, ast, datetime, hashlib, json, math, os, shutil, statistics, subprocess, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BIN, REPO, cpu_name, load, paired_project, smoke_model, write_section
from peer import peer_python, predict_held_out, scores, tiles
import numpy as np

TITLE = "Peer: CARE (CAREamics) at several training budgets and seeds (`make bench-peer`, bench/peer_budgets.py)"
NB = REPO/"nbs/101_paired_001_unet.ipynb"
DEFAULT_BUDGETS = [120, 300, 1200]  # seconds of bpho training: about 2, 5 and 20 min
ROWS = REPO/"bench/peer_rows"
# The smoke stage's longest useful schedule on paired_001's 10 training fields: held-out PSNR (dB) after a one-cycle
# schedule of N epochs, seed 0, measured with this script (rows of 2026-12-03 on one 2-core CPU, code 26bd822 and
# 6222f55; 116 and 200 epochs on 2026-12-07, another 2-core CPU). It peaks at 164 to 200 epochs; 660 epochs learn the
# training fields by heart (training L1 0.0395 -> 0.0366 from 164 to 660 epochs, validation L1 0.0360 -> 0.0362).
EPOCH_CURVE = {65: 24.07, 116: 24.24, 120: 24.26, 164: 24.29, 200: 24.29, 300: 24.24, 660: 24.06}
MAX_EPOCHS = 200
# Nor does a wider or deeper network use the rest of a long budget better (rows bpho_e200_s0_*.json, 2026-12-07, one
# 2-core CPU):
WIDER = ("200 epochs, seed 0, with 64 channels instead of 48 (--set NET=..., base 64): 24.26 dB, fg 17.61, in 853 s; "
         "with 3 levels instead of 2 (levels 3): 24.29 dB, fg 17.60, in 803 s; the smoke network (48 channels, 2 levels): "
         "24.29 dB, fg 17.63, in 617 s")

def parameters_cell() -> str:
    "The source of 101's parameters cell (its SMOKE configuration among them)."
    nb = json.loads(NB.read_text())
    return next("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).lstrip().startswith("# parameters"))

def smoke_values() -> dict:
    "101's SMOKE configuration (its parameters cell holds plain assignments of constants)."
    ps = {}; exec(parameters_cell(), ps)
    return ps["SMOKE"]

def smoke_net() -> dict: return smoke_values()["NET"]

def smoke_stage() -> dict:
    "The single stage of 101's SMOKE configuration."
    (st,) = smoke_values()["STAGES"]
    return st

def config_tag(sets) -> str:
    "The suffix of the rows and models of one bpho configuration: a hash of the --set values and 101's parameters cell."
    return "_" + hashlib.sha256(json.dumps([list(sets), parameters_cell()]).encode()).hexdigest()[:8]

# An ensemble's epochs are planned for this share of the budget: the probes' seconds per epoch (8 epochs) underestimate
# a long run's, and CARE is given bpho's time where that exceeds the budget. Measured: 2 members x 191 epochs, planned
# for 1199 s of a 20-minute budget, took 1220 s (row bpho_e191x2_s0_1908dcfe.json, 2026-12-07, 3.19 s per epoch
# against the probes' 3.13); runs of 200 epochs took 599 to 636 s on the same machine.
ENSEMBLE_SHARE = 0.95

def plan(budget: float, per_epoch: float, fixed: float, max_epochs: int) -> tuple[int, int]:
    """(members, epochs of each) for `budget` seconds of training: one network of round((budget - fixed) / per_epoch)
    epochs if that is at most `max_epochs`, else the fewest members that keep each at most `max_epochs`, sharing
    ENSEMBLE_SHARE of the budget (each member costs `fixed` besides its epochs)."""
    members = math.ceil(max(1, round((budget - fixed) / per_epoch)) / max_epochs)
    if members > 1: budget *= ENSEMBLE_SHARE
    return members, min(max_epochs, max(1, round((budget - members * fixed) / (members * per_epoch))))

def bpho_run(proj: Path, name: str, seed: int, stage: dict, sets, members: int = 1) -> dict:
    """Train 101 (smoke network; an ensemble of `members` of them if more than 1) with `stage`; its config.json, and its
    scores on the held-out 512 px tiles."""
    root = proj/"data"
    if members > 1:  # NET (101's smoke network, or the caller's --set NET) with members
        given = [s for s in sets if s.startswith("NET=")]
        try: net = ast.literal_eval(given[-1][4:]) if given else smoke_net()
        except (ValueError, SyntaxError): net = None
        if not isinstance(net, dict):
            raise SystemExit(f"--set {given[-1]}: NET must be a dict literal, e.g. NET={smoke_net()!r}")
        sets = [*[s for s in sets if not s.startswith("NET=")], f"NET={ {**net, 'members': members}!r}"]
    # always run: bpho's own run key says whether a model of this name was trained by this schedule (then it is reused)
    r = subprocess.run([BIN/"bpho", "--root", root, "--manifest", proj/"datasources.toml", "experiment", NB, "--smoke", "--quiet",
                        "--set", f"SEED={seed}", "--set", f"EXPERIMENT={name!r}", "--set", f"STAGES={[stage]!r}",
                        *[x for s in sets for x in ("--set", s)]], cwd=proj, capture_output=True, text=True)
    if r.returncode: raise SystemExit(f"bpho experiment {name} failed:\n{(r.stderr or r.stdout)[-2000:]}")
    from bpho_lib import store
    folder = root/"datasets/paired_001"
    model, cfg = store.load(root/"models"/name)
    hr, lr = (tiles(folder, "valid", 512, r) for r in ("hr", "lr"))
    pred = predict_held_out(model, cfg, lr)
    n_train = len(tiles(folder, "train", 128, "hr"))
    samples = members * stage["epochs"] * (n_train // stage["bs"]) * stage["bs"]
    return {**scores(pred, hr), "train_seconds": cfg["train_seconds"], "epochs": stage["epochs"], "samples": samples,
            "members": cfg["model"].get("members", 1), "selection": cfg.get("selection", {}), "set": list(sets)}

def care_run(py, work: Path, folder: Path, seed: int, budget: float) -> dict:
    "CAREamics for `budget` seconds with `seed`; its record and scores (`given`: the budget)."
    d = work/f"peer_s{seed}_{int(budget)}"; d.mkdir(parents=True, exist_ok=True)
    hr = tiles(folder, "valid", 512, "hr")
    for k, arr in {"x_train": tiles(folder, "train", 128, "bicubic"), "y_train": tiles(folder, "train", 128, "hr"),
                   "x_valid": tiles(folder, "valid", 128, "bicubic"), "y_valid": tiles(folder, "valid", 128, "hr"),
                   "x_test": tiles(folder, "valid", 512, "bicubic")}.items():
        np.save(d/f"{k}.npy", arr)
    r = subprocess.run([py, REPO/"bench/peer_care.py", d, str(budget), str(seed)], capture_output=True, text=True, cwd=d)
    if r.returncode: raise SystemExit(f"CAREamics run failed: {(r.stderr or r.stdout).strip()[-1000:]}")
    care = json.loads((d/"care.json").read_text())
    return {**scores(np.load(d/"pred_test.npy"), hr), "train_seconds": care["train_seconds"], "epochs": care["epochs"],
            "samples": care["samples"], "careamics": care["careamics"], "given": budget,
            "early_stopping": care["early_stopping"]}

def code_version() -> str:
    "The checkout's commit, marked when it has uncommitted changes (the rows are kept across commits: see `kept`)."
    git = lambda *a: subprocess.run(["git", "-C", REPO, *a], capture_output=True, text=True).stdout.strip()
    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + (" with uncommitted changes" if git("status", "--porcelain", "--untracked-files=no") else "")

def kept(path: Path, make, valid=lambda row: True, measure: bool = True) -> dict | None:
    """A row measured once: read from `path` when an earlier run of this command measured it (and `valid(row)`), else
    made now (None if not `measure`) and written there with the time, load and code version it was measured at. So
    the budgets can be run in parts. bpho's rows are keyed by --set, 101's parameters cell and the epochs, not by the
    code: after a change to bpho's training, delete them (or use another --rows) to measure it."""
    if path.is_file():
        row = json.loads(path.read_text())
        if valid(row): return {**row, "reused": True}
    if not measure: return None
    t0 = load()
    r = {**make(), "measured": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "load": f"{t0} -> {load()}",
         "code": code_version(), "cpu": f"{cpu_name()}, {os.cpu_count()} cores"}
    from bpho_lib.config import atomic_write_json
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, r)
    return r

def span(seconds: float) -> str: return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"

def ms(rows: list, k: str, fmt: str = "{:.2f}") -> str:
    "mean ± sd over seeds."
    v = [r[k] for r in rows]
    return (fmt + " ± " + fmt).format(statistics.mean(v), statistics.stdev(v)) if len(v) > 1 else fmt.format(v[0])

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", default=None, help="folder shared by the bench scripts (sample pairs, paired_001)")
    ap.add_argument("--rows", default=ROWS, type=Path, help="where each run's row is kept (default: bench/peer_rows, committed)")
    ap.add_argument("--max-epochs", type=int, default=MAX_EPOCHS, help="bpho's epochs at any budget (default: %(default)s)")
    ap.add_argument("--budgets", type=float, nargs="+", default=DEFAULT_BUDGETS, help="bpho training seconds (default: %(default)s)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--set", action="append", default=[], help="passed to every `bpho experiment` run")
    ap.add_argument("--no-care", action="store_true", help="bpho only (no CAREamics venv needed)")
    ap.add_argument("--kept-only", action="store_true", help="measure nothing: the table of the rows kept so far, the missing ones listed")
    ap.add_argument("--out", default=None); a = ap.parse_args()
    if a.max_epochs < 1: ap.error(f"--max-epochs must be at least 1, found {a.max_epochs}")
    work = Path(a.work).resolve() if a.work else Path(tempfile.mkdtemp(prefix="bpho-bench-"))
    t_all, load0 = time.perf_counter(), load()
    try:
        proj = paired_project(work)
        folder = proj/"data/datasets/paired_001"
        py, why = (None, "--no-care") if a.no_care else (REPO/"bench/.venv-peer/bin/python", "") if a.kept_only else peer_python()
        stage = smoke_stage()
        # rows are kept per configuration: other --set or another 101 parameters cell, other runs
        tag = config_tag(a.set)
        rows = a.rows.resolve()
        # two probes: the seconds an epoch adds, and what a run costs besides its epochs (loaders, fields, learner)
        probe = lambda: [kept(rows/f"probe{k}{tag}.json", lambda: bpho_run(proj, f"101_probe{k}{tag}", 0, {**stage, "epochs": k}, a.set),
                              measure=not a.kept_only) for k in (2, 8)]
        probes = probe()
        if None in probes: raise SystemExit(f"--kept-only: no probes kept in {rows} for this configuration (tag {tag[1:]})")
        if probes[1]["train_seconds"] <= probes[0]["train_seconds"]:  # the machine was busy during one of them: once more
            if a.kept_only: raise SystemExit(f"--kept-only: the probes kept in {rows} (tag {tag[1:]}) took 8 epochs no longer "
                                             f"than 2; run without --kept-only to measure them again")
            print(f"probes of 2 and 8 epochs took {probes[0]['train_seconds']:.0f} and {probes[1]['train_seconds']:.0f} s: "
                  f"measuring them again", flush=True)
            for k in (2, 8):  # the row, and the model, which `bpho experiment` would otherwise reuse with its time
                (rows/f"probe{k}{tag}.json").unlink(missing_ok=True)
                shutil.rmtree(proj/"data/models"/f"101_probe{k}{tag}", ignore_errors=True)
            probes = probe()
            if probes[1]["train_seconds"] <= probes[0]["train_seconds"]:
                raise SystemExit(f"8 epochs took no longer than 2 ({probes[1]['train_seconds']:.0f} s, {probes[0]['train_seconds']:.0f} s): "
                                 f"the machine is too busy to measure the seconds an epoch takes")
        per_epoch = max(0.01, (probes[1]["train_seconds"] - probes[0]["train_seconds"]) / 6)
        fixed = max(0.0, probes[0]["train_seconds"] - 2 * per_epoch)
        print(f"{per_epoch:.2f} s per epoch, {fixed:.1f} s besides (probes of 2 and 8 epochs"
              f"{', kept from ' + probes[0]['measured'] if probes[0].get('reused') else ''})", flush=True)
        res, seeds, missing = {}, {}, []
        for b in a.budgets:
            m, n = plan(b, per_epoch, fixed, a.max_epochs)
            run = f"e{n}" + (f"x{m}" if m > 1 else "")  # (one network's rows keep their names)
            for seed in a.seeds:
                r = {"bpho": kept(rows/f"bpho_{run}_s{seed}{tag}.json",
                                  lambda: bpho_run(proj, f"101_{run}_s{seed}{tag}", seed, {**stage, "epochs": n}, a.set, m),
                                  measure=not a.kept_only)}
                if r["bpho"] is None:
                    missing.append(f"{span(b)} seed {seed}"); continue
                # CARE's rows do not depend on bpho's configuration: kept while they had at least this bpho run's time
                given = max(b, r["bpho"]["train_seconds"])
                if py:
                    care = kept(rows/f"care_b{int(b)}_s{seed}.json", lambda: care_run(py, work, folder, seed, given),
                                lambda row: row.get("given", row["train_seconds"]) >= 0.99 * given, measure=not a.kept_only)
                    if care is None: missing.append(f"{span(b)} seed {seed} (CARE)")
                    else: r["care"] = care
                res.setdefault(b, []).append(r); seeds.setdefault(b, []).append(seed)
                print(f"budget {b:.0f} s, seed {seed}: " + ", ".join(f"{k} {v['psnr']:.2f} dB (fg {v['psnr_fg']:.2f}) in {v['train_seconds']:.0f} s"
                                                                   for k, v in r.items()), flush=True)
        bic = scores(tiles(folder, "valid", 512, "bicubic"), tiles(folder, "valid", 512, "hr"))
    finally:
        if not a.work: shutil.rmtree(work, ignore_errors=True)
    if not res: raise SystemExit(f"no rows kept in {rows} for these budgets and seeds")
    net = smoke_model()
    every = probes + [x for rs in res.values() for r in rs for x in r.values()]
    when = sorted(x["measured"] for x in every)
    reused = sum(bool(x.get("reused")) for x in every)
    codes = sorted({x.get("code", "unrecorded") for x in every})
    cpus = sorted({x.get("cpu", "unrecorded") for x in every})
    lines = [f"## {TITLE}", "",
             f"Measured {when[0][:16]} to {when[-1][:16]} UTC on {os.cpu_count()} CPU cores (each row's time and load average in "
             f"{rows.relative_to(REPO) if rows.is_relative_to(REPO) else rows}), {(time.perf_counter() - t_all) / 60:.0f} min in this run"
             + (f", {reused} of its {len(every)} runs (the probes included) kept from earlier runs of this command"
                if reused else "") + f"; code: {', '.join(codes)}; CPU: {'; '.join(cpus)}; load average {load0} -> {load()}. Data and scoring as in the section above (paired_001 from the "
             f"sample pairs; the 6 held-out 512 px tiles; CARE-style metrics; bicubic {bic['psnr']:.2f} dB, fg {bic['psnr_fg']:.2f}). "
             f"bpho: experiment 101's smoke network (plain UNet, {net['base']} ch, {net['levels']} levels, on the LR grid), its "
             f"smoke stage ({stage['size']} px, batch {stage['bs']}, lr {stage['lr']:g}) for round((budget - {fixed:.1f} s) / {per_epoch:.2f} s) epochs, "
             f"at most {a.max_epochs} for one network, else an ensemble of as many networks as keep each at most {a.max_epochs} "
             f"epochs, sharing {ENSEMBLE_SHARE:.0%} of the budget (NET's `members`: each trained alone, with its own seed, and their predictions averaged). "
             f"The held-out PSNR of one network after N epochs, seed 0, was "
             + ", ".join(f"{v:.2f} dB ({k})" for k, v in EPOCH_CURVE.items())
             + " (earlier runs of this script, 2026-12-03 and 2026-12-07, on 2-core CPUs): the 10 training fields are learnt by "
             "heart past a few hundred epochs" + (f"; with {' '.join(a.set)}" if a.set else "")
             + ". CARE: CAREamics's defaults given the budget (or the bpho run's training "
             f"time if longer), without its early stopping (bench/peer_care.py: the budget ends training, as it ends bpho's)."
             + ("" if sorted(a.budgets) == sorted(DEFAULT_BUDGETS) else f" Partial: the full table's budgets are "
                f"{', '.join(span(b) for b in DEFAULT_BUDGETS)}; the others are still to be measured.") + f" Mean ± standard deviation over the seeds each row lists"
             + (f"; not yet measured: {', '.join(missing)}" if missing else "") + ".", "",
             "| budget (training s: bpho; CARE) | seeds | bpho (networks ×) epochs | bpho PSNR | bpho fg | bpho SSIM | bpho samples | CARE PSNR | CARE fg | CARE SSIM | CARE samples | bpho − CARE (fg) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for b, rs in res.items():
        bp = [r["bpho"] for r in rs]
        cr = [r["care"] for r in rs if "care" in r]
        c = (f"{ms(cr, 'psnr')} | {ms(cr, 'psnr_fg')} | {ms(cr, 'ssim', '{:.3f}')} | {ms(cr, 'samples', '{:.0f}')} | "
             f"{statistics.mean(x['psnr'] for x in bp) - statistics.mean(x['psnr'] for x in cr):+.2f} "
             f"({statistics.mean(x['psnr_fg'] for x in bp) - statistics.mean(x['psnr_fg'] for x in cr):+.2f})") if cr else "- | - | - | - | -"
        took = ms(bp, 'train_seconds', '{:.0f}') + (f"; {ms(cr, 'train_seconds', '{:.0f}')}" if cr else "")
        sd = ", ".join(map(str, seeds[b])) + ("" if len(cr) == len(bp) else
                                                f" (CARE: {', '.join(str(x) for x, r in zip(seeds[b], rs) if 'care' in r) or 'none'})")
        ep = f"{bp[0]['members']} × {bp[0]['epochs']}" if bp[0].get("members", 1) > 1 else f"{bp[0]['epochs']}"
        lines.append(f"| {span(b)} ({took}) | {sd} | {ep} | {ms(bp, 'psnr')} | "
                     f"{ms(bp, 'psnr_fg')} | {ms(bp, 'ssim', '{:.3f}')} | {bp[0]['samples']} | {c} |")
    bs = sorted(res)
    mean = lambda b, who, k: statistics.mean(r[who][k] for r in res[b] if who in r)
    held = lambda v, goal: f"{v:+.2f} dB (goal ≥ {goal:+g}{'' if v >= goal else ': **missed**'})"
    goals = [f"bpho at {span(bs[-1])} vs at {span(bs[0])}: {held(mean(bs[-1], 'bpho', 'psnr') - mean(bs[0], 'bpho', 'psnr'), 0)}"]
    if py:
        goals += [f"{span(b)}: bpho − CARE {held(mean(b, 'bpho', 'psnr') - mean(b, 'care', 'psnr'), 0.5)}, "
                  f"fg {held(mean(b, 'bpho', 'psnr_fg') - mean(b, 'care', 'psnr_fg'), 0.3)}" for b in bs
                  if any("care" in r for r in res[b])]
    else: lines += ["", f"CARE not run: {why}."]
    lines += ["", "Goals: " + "; ".join(goals) + ".", "", "A wider or deeper network does not use the rest of a long budget better: " + WIDER + "."]
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out: write_section(a.out, text, TITLE)

if __name__ == "__main__":
    main()
