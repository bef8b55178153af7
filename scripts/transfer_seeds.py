"""The EM -> ExM transfer table over several seeds: every row of 303's table (302 on raw EM, the plain CycleGAN's
transfer, the CCGAN's transfer, the ExM oracle) trained once per seed in smoke mode, as `make demo` trains seed 0,
and scored on the held-out ExM volumes of exmseg3d_001. Writes results/303_exmtransfer_unet/transfer.json with
mean ± sd per row (`segment.transfer_table`) and prints it.

    python scripts/transfer_seeds.py [--seeds 0 1 2] [--root demo] [--set NAME=VALUE ...] [--seg-set NAME=VALUE ...]

Seed 0 is the demo's own runs (models 203_ccgan_em2exm, 203_ccgan_em2exm_vanilla, datasets exmtransfer_001 and
exmtransfer_002, segmenters 302_emseg3d_001_unet, 303_exmtransfer_001_unet, 303_exmtransfer_unet,
303_exmseg3d_001_unet); seed N > 0 adds `_sN` to each name. One seed drives both the CycleGAN (initialisation,
crops, pools) and the segmenter trained on its transfer. A transfer dataset of seed N is built from the same dataset
script's parameters, only its generator is that seed's. Runs already in the root are reused. `--set` passes
overrides to 203 (e.g. `--set SEG_WEIGHT=0.3`), `--seg-set` to 302 and 303 (e.g. their STAGES); a run made with
other overrides is trained again, and a transfer dataset built from another generator is refused: remove it first, or
use another root. About 9.5 minutes per new seed on 2 CPU cores.
"""
from __future__ import annotations
import argparse, importlib.util, subprocess, sys, time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SCORE_ON = "exmseg3d_001"
# row -> (the 203 configuration, its model, the transfer dataset it makes, the segmenter trained on that); the
# em_direct and exm_oracle rows need no CycleGAN and are trained in table_over_seeds
CHAINS = {"cyclegan": ("vanilla", "203_ccgan_em2exm_vanilla", "exmtransfer_001", "303_exmtransfer_001_unet"),
          "seg_match": ("seg_match", "203_ccgan_em2exm", "exmtransfer_002", "303_exmtransfer_unet")}

def named(base: str, seed: int) -> str: return base if seed == 0 else f"{base}_s{seed}"

def run(cmd):
    "Run a command here (its project's manifest and lock); stop with its output if it fails."
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    if r.returncode: raise SystemExit(f"{' '.join(map(str, cmd))} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")

def script_params(name: str) -> tuple[str, dict]:
    "The SOURCE and PARAMS of a dataset script (its __main__ guard keeps it from building)."
    spec = importlib.util.spec_from_file_location(name, REPO/"scripts/dataset"/f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.SOURCE, mod.PARAMS

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--root", default="demo", help="data root (default: %(default)s)")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="an override of 203's parameters")
    ap.add_argument("--seg-set", action="append", default=[], metavar="NAME=VALUE",
                    help="an override of the segmenters' parameters (302 and 303)")
    a = ap.parse_args()
    if len(set(a.seeds)) != len(a.seeds) or min(a.seeds) < 0:
        raise SystemExit(f"--seeds {' '.join(map(str, a.seeds))}: expected different seeds, none negative")
    for opt, sets in (("--set", a.set), ("--seg-set", a.seg_set)):
        bad = [s for s in sets if "=" not in s or s.split("=")[0] in ("SEED", "EXPERIMENT", "CONFIGURATION", "DATASET", "TABLE")]
        if bad: raise SystemExit(f"{opt} {bad}: expected NAME=VALUE (SEED, EXPERIMENT, CONFIGURATION, DATASET and TABLE are set here)")
    import warnings
    warnings.filterwarnings("ignore", message=".*torch.jit.script.*deprecated", category=FutureWarning)  # fastai's import
    import bpho_lib.predict  # noqa: F401  (registers the degradation kind "transfer")
    from bpho_lib.config import BphoError, get_settings
    root = Path(a.root).resolve()
    S = get_settings(root=root)
    bpho = [BIN/"bpho", "--root", root]
    missing = [d for d in ("emseg3d_001", SCORE_ON) if not (S.datasets/d/"dataset.json").is_file()]
    if missing: raise SystemExit(f"{root}: build {', '.join(missing)} first (make demo builds them)")
    exp = lambda nb, name, seed, *sets: run([*bpho, "experiment", REPO/"nbs"/f"{nb}.ipynb", "--smoke", "--quiet",
                                             "--set", f"SEED={seed}", "--set", f"EXPERIMENT={name}",
                                             *[x for s in sets for x in ("--set", s)]])
    try: table_over_seeds(a, S, exp)
    except BphoError as e: raise SystemExit(f"transfer_seeds: error: {e}") from None

def table_over_seeds(a, S, exp):
    "Train (or find) every row's runs for each seed of `a.seeds`, then write and print the table."
    from bpho_lib.datasets import build_dataset
    from bpho_lib.segment import transfer_markdown, transfer_table
    rows = {k: [] for k in ("em_direct", "cyclegan", "seg_match", "exm_oracle")}
    for seed in a.seeds:
        t = time.time()
        exp("302_emseg3d_001_unet", named("302_emseg3d_001_unet", seed), seed, *a.seg_set)
        rows["em_direct"].append(named("302_emseg3d_001_unet", seed))
        oracle = named("303_exmseg3d_001_unet", seed)
        exp("303_exmtransfer_unet", oracle, seed, f"DATASET={SCORE_ON}", "TABLE=None", *a.seg_set)
        rows["exm_oracle"].append(oracle)
        for row, (conf, gan, ds, seg) in CHAINS.items():
            exp("203_ccgan_em2exm", named(gan, seed), seed, f"CONFIGURATION={conf}", *a.set)
            source, params = script_params(ds)
            params = {**params, "transfer": {**params["transfer"], "model": named(gan, seed)}}
            build_dataset(S, named(ds, seed), "seg", source, params, script=REPO/"scripts/dataset"/f"{ds}.py",
                          workers=2, log=lambda s: None)
            exp("303_exmtransfer_unet", named(seg, seed), seed, f"DATASET={named(ds, seed)}", "TABLE=None", *a.seg_set)
            rows[row].append(named(seg, seed))
        print(f"seed {seed}: trained or found in {time.time() - t:.0f} s", flush=True)
    out = S.results/"303_exmtransfer_unet"/"transfer.json"
    table = transfer_table(S, rows, SCORE_ON, out)
    print(transfer_markdown(table))
    print(f"written {out}")

if __name__ == "__main__":
    main()
