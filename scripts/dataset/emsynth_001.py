"""emsynth_001: EM crops with LR made by PSSR's EM crappifier (local-variance noise, 4x downsampling).

EM images are textured everywhere, so tiles are taken anywhere (no foreground criterion). Split 80/20 by image.
Output: <root>/datasets/emsynth_001/.

    python scripts/dataset/emsynth_001.py --source sample_em
"""
from bpho_lib.datasets import run_script

SOURCE = "sample_em"  # the simulated EM images; the lab's EM sources are single-image sources too

PARAMS = dict(
    crappifier="pssr_em",          # PSSR's EM degradation
    sizes=[128, 256, 512],         # as the fluorescence datasets
    tiles_per_mpix=[24, 8, 3],     # per 1024 x 1024 px and size: a 4000 x 2000 image gives 7.6x as many
    valid_frac=0.2,                # by image
    split_seed=0,                  # fixed, as in every dataset
    seed=1,                        # tile positions and crappifier noise
    percentiles=[0.5, 99.5],       # EM histograms are compact: clip less than for sparse fluorescence
    fg_rel=0.0,                    # any tile: EM has structure everywhere
)

if __name__ == "__main__":
    raise SystemExit(run_script(__file__, __doc__, "synth", SOURCE, PARAMS))
