"""paired_001: registered LR/HR tiles of mitochondria (confocal LR, Airyscan HR), PSSR's main training set.

Each field of view is registered (shift + rotation measured at sub-pixel precision, HR resampled into the LR's
frame), normalised by percentiles, and cut into matched LR, HR and bicubic tiles at several sizes where there is
signal. Split 80/20 by field of view. Output: <root>/datasets/paired_001/.

    python scripts/dataset/paired_001.py                              # the lab's pairs
    python scripts/dataset/paired_001.py --source sample_pairs_mito   # the simulated ones
"""
from bpho_lib.datasets import run_script

SOURCE = "confocal_airyscan_pairs_mito"  # the lab's confocal/Airyscan pairs of the same fields

PARAMS = dict(
    sizes=[128, 256, 512],         # HR tile sizes: training grows from 128 to 512 (PSSR's progressive resizing)
    tiles_per_image=[24, 8, 3],    # per field and size: covers a 1024 px field about three times at each size
    valid_frac=0.2,                # 20% of fields held out, split by field, never by tile (PSSR)
    split_seed=0,                  # shared by every dataset of these fields: synth_001 holds out the same ones
    seed=1,                        # tile positions; same seed + sources + parameters = byte-identical tiles
    percentiles=[2, 99.8],         # per-image normalisation (CARE): robust to hot pixels and to bleaching
    fg_rel=1.0,                    # a tile must hold at least the field's share of foreground (relaxed after misses)
    max_residual_lr_px=0.25,       # registration misfit above this (LR px) means the pair is not trusted: skipped
    fields=True,                   # keep the registered fields whole: training ones for fresh crops each epoch (sampling="fields"), held-out ones to select the model on (SELECT="best")
)

if __name__ == "__main__":
    raise SystemExit(run_script(__file__, __doc__, "paired", SOURCE, PARAMS))
