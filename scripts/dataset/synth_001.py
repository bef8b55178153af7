"""synth_001: HR tiles of mitochondria with LR made by a crappifier: training pairs without registration.

The lab's open question: does a model trained on crappified HR (here) do as well on real LR as one trained on
registered pairs (paired_001)? The split is paired_001's (same split_seed), so models can be evaluated on real
pairs they never saw. Output: <root>/datasets/synth_001/.

    python scripts/dataset/synth_001.py --source sample_pairs_mito
"""
from bpho_lib.datasets import run_script

SOURCE = "confocal_airyscan_pairs_mito"  # the HR side of the lab's pairs; any paired or single source works

PARAMS = dict(
    crappifier="pssr_fluo",        # PSSR's fluorescence degradation; try "physical" or "physical:photons=10"
    sizes=[128, 256, 512],         # as paired_001, so that the two datasets train the same schedule
    tiles_per_image=[24, 8, 3],    # as paired_001
    valid_frac=0.2,                # as paired_001
    split_seed=0,                  # as paired_001: the same fields are held out
    seed=1,                        # tile positions and crappifier noise
    percentiles=[2, 99.8],         # per-image normalisation of the HR before degradation
    fg_rel=1.0,                    # tiles where there is signal, as paired_001
    fields=True,                   # keep the normalised HR fields whole: training crops drawn and degraded anew each epoch (sampling="fields")
)

if __name__ == "__main__":
    raise SystemExit(run_script(__file__, __doc__, "synth", SOURCE, PARAMS))
