"""exmseg3d_001: 3D expansion-microscopy-like crops with the segmentation targets of their mitochondria, and their
instance labels: the ExM segmentation set.

Its train split trains the oracle segmenter (the upper bound, trained on ExM itself); its held-out volumes score every
segmenter of the EM->ExM transfer table (results/303_exmtransfer_unet/transfer.json). The source is never used to
train a transfer. Targets, from the instance labels (bpho_lib.labels.targets): B the foreground, C the 1-voxel contour
of each object and D the signed distance tanh(edt_fg/8 - edt_bg/50), computed on the whole volume. Crops of
32 x 64 x 64 voxels with less than 2% foreground are rejected (counted in dataset.json). Split by volume, 2 of 6 held
out. Each crop has `image` (normalised by its volume's 1st and 99th percentiles), `targets` (B, C, D stacked) and
`labels`. The parameters are emseg3d_001's: crops, targets and split follow the EM set's rules.
Output: <root>/datasets/exmseg3d_001/.

    python scripts/dataset/exmseg3d_001.py --source sample_vol_fluo_labelled
"""
from bpho_lib.datasets import run_script

SOURCE = "sample_vol_fluo_labelled"  # simulated ExM volumes with the instance labels of their mitochondria

PARAMS = dict(
    dims=3,                        # ZYX volumes
    targets="BCD",                 # foreground, contour, signed distance
    contour_width=1,               # voxels, inside each object
    fg_scale=8.0,                  # D: tanh(edt_fg / fg_scale - edt_bg / bg_scale), in voxels
    bg_scale=50.0,
    sizes=[64],                    # crop size in Y and X (voxels)
    depth=32,                      # crop size in Z
    tiles_per_image=[16],          # per volume
    valid_frac=0.34,               # by volume: 2 of the sample's 6
    split_seed=0,                  # fixed, as in every dataset
    seed=1,                        # crop positions
    percentiles=[1, 99],           # per volume: ExM is 16 bit with a detector offset, so fixed bounds would not do
    min_foreground=0.02,           # the rule for background-only crops
)

if __name__ == "__main__":
    raise SystemExit(run_script(__file__, __doc__, "seg", SOURCE, PARAMS))
