"""emseg_001: 2D EM tiles with the segmentation targets of their mitochondria, and their instance labels.

Targets, from the instance labels (bpho_lib.labels.targets): B the foreground and C the 1 px contour of each object,
computed on the whole image, so that a tile's edge never makes a contour. Tiles with less than 2% foreground are
rejected (counted in dataset.json). Split by image, 25% held out. Each tile has `image` (normalised by its image's
1st and 99th percentiles), `targets` (B, C stacked) and `labels` (the ids, for instance scores).
Output: <root>/datasets/emseg_001/.

    python scripts/dataset/emseg_001.py --source sample_em_labelled

The lab's proofread images register as a labelled source (images/ and labels/ paired by stem):
    bpho datasources add mito_em_proofread /data/bpho/datasources/mito_em_proofread --kind labelled
"""
from bpho_lib.datasets import run_script

SOURCE = "sample_em_labelled"  # simulated EM with the instance labels of its mitochondria

PARAMS = dict(
    dims=2,                        # YX images
    targets="BC",                  # foreground and contour (D, the signed distance, is the 3D set's third map)
    contour_width=1,               # pixels, inside each object
    fg_scale=8.0,                  # D's scales (pixels), recorded even where D is not made
    bg_scale=50.0,
    sizes=[256],                   # tile size (px): a mitochondrion is 60-150 px long at 4 nm
    tiles_per_image=[24],          # per image
    valid_frac=0.25,               # by image: 2 of the sample's 8
    split_seed=0,                  # fixed, as in every dataset
    seed=1,                        # tile positions
    percentiles=[1, 99],           # per image
    min_foreground=0.02,           # the rule for background-only tiles: rejected below this foreground share
)

if __name__ == "__main__":
    raise SystemExit(run_script(__file__, __doc__, "seg", SOURCE, PARAMS))
