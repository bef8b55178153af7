"""How far last-bit float differences move the simulated sample sources: the measurement behind FINGERPRINT_TOL.

Another CPU computes the simulator's float results (sines, exponentials, square roots, blurs, interpolations, tensor
products) with other SIMD kernels, so they may differ in their last bits. This simulates every sample source once as
it is (the reference, in the same run) and once for each noise level given, with every such result multiplied by
(1 + k * machine epsilon), k drawn uniformly from -ulps..ulps: a worst case for another CPU at 2 ulps, a far larger
disturbance above that. For each, it reports the pixels that differ and the largest change of any fingerprint
statistic in units of the file's standard deviation, beside the tolerance that `bpho sample` allows.

    python bench/last_bits.py [--ulps 2 1048576 1073741824] [--out FILE.json]
"""
from __future__ import annotations
import argparse, json, shutil, sys, tempfile, types
from pathlib import Path
import numpy as np
from scipy import ndimage
import bpho_lib.sample as sample
from bpho_lib.config import get_settings
from bpho_lib.io import read_image

REPO = Path(__file__).resolve().parent.parent
FLOAT_NUMPY = ("sin", "cos", "exp", "sqrt", "hypot", "tensordot")
FLOAT_NDIMAGE = ("gaussian_filter", "affine_transform", "map_coordinates")


def jittered_modules(ulps: int, seed: int):
    "Stand-ins for numpy and scipy.ndimage whose float results carry up to `ulps` ulps of noise."
    rng = np.random.default_rng(seed)
    def jit(x):
        x = np.asarray(x)
        if x.dtype.kind != "f" or x.ndim == 0: return x
        return x * (1 + rng.integers(-ulps, ulps + 1, x.shape) * np.finfo(x.dtype).eps)
    def wrap(f): return lambda *a, **k: jit(f(*a, **k))
    fake_np, fake_ndi = types.ModuleType("numpy"), types.ModuleType("ndimage")
    fake_np.__dict__.update(np.__dict__); fake_ndi.__dict__.update(ndimage.__dict__)
    for name in FLOAT_NUMPY: setattr(fake_np, name, wrap(getattr(np, name)))
    for name in FLOAT_NDIMAGE: setattr(fake_ndi, name, wrap(getattr(ndimage, name)))
    return fake_np, fake_ndi


def simulate(work: Path, modules=None) -> tuple[Path, dict]:
    "Every sample source, in a project of its own under `work` (the simulator's numpy and ndimage replaced by `modules`)."
    work.mkdir(parents=True)
    (work/"settings.ini").write_text("[bpho]\nroot = data\n")
    shutil.copy(REPO/"datasources.toml", work)  # no lock: each run freezes what it made
    s = get_settings(project=work)
    out = {}
    for name in sample.sample_names(s):
        if modules: sample.np, sample.ndi = modules
        try: sample.make_sample(s, name)
        finally: sample.np, sample.ndi = np, ndimage
        out[name] = sample.fingerprint(sample.get_source(s, name).path)
    return s.datasources, out


def stat_values(fp: dict) -> list:
    return [fp[k] for k in ("mean", "std", "p1", "p50", "p99")] + sum(fp["blocks"], []) + fp["planes"]


def compare(ref_dir: Path, ref: dict, dir_: Path, got: dict) -> dict:
    "Per source: pixels that differ, the largest statistic change (in std), the files the lock's check would refuse."
    res = {}
    for name, files in ref.items():
        worst, nd, tot = 0.0, 0, 0
        for rel, w in files.items():
            if "std" not in w: continue
            worst = max([worst] + [abs(a - b) / max(w["std"], 1.0) for a, b in zip(stat_values(w), stat_values(got[name][rel]))])
            a, b = read_image(ref_dir/name/rel).data, read_image(dir_/name/rel).data
            nd, tot = nd + int((a != b).sum()), tot + a.size
        res[name] = {"pixels_differ": nd, "pixels": tot, "worst_stat_change_in_std": worst,
                     "files_refused": sorted(sample.compare_fingerprints(files, got[name]))}
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ulps", type=int, nargs="+", default=[2, 2**20, 2**30], help="noise levels, in ulps")
    p.add_argument("--out", type=Path, help="write the results (JSON) here")
    a = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bpho-last-bits-"))
    try:
        ref_dir, ref = simulate(work/"reference")
        results = {}
        for i, ulps in enumerate(a.ulps):
            got_dir, got = simulate(work/f"ulps{ulps}", jittered_modules(ulps, 1000 + i))
            results[ulps] = compare(ref_dir, ref, got_dir, got)
    finally: shutil.rmtree(work, ignore_errors=True)
    print(f"tolerance of `bpho sample`: {sample.FINGERPRINT_TOL:g} x the file's std")
    print(f"{'ulps':>11} {'pixels differing':>22} {'worst stat change (std)':>24} {'files refused':>14}")
    for ulps, res in results.items():
        nd, tot = sum(r["pixels_differ"] for r in res.values()), sum(r["pixels"] for r in res.values())
        worst = max(r["worst_stat_change_in_std"] for r in res.values())
        refused = sum(len(r["files_refused"]) for r in res.values())
        print(f"{ulps:>11} {nd:>10} of {tot:>9} {worst:>24.2g} {refused:>14}")
    if a.out: a.out.write_text(json.dumps({"tolerance_in_std": sample.FINGERPRINT_TOL, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
