"""exmtransfer_001: labelled 3D EM crops carried into expansion-microscopy (ExM) style by a plain CycleGAN, labels kept.

Each whole EM volume is translated by the A (EM) -> B (ExM) generator of nbs/203_ccgan_em2exm.ipynb in its vanilla
configuration (a plain 3D CycleGAN, models/203_ccgan_em2exm_vanilla), in sub-volumes of 64 voxels blended over 16,
after normalising it by the percentiles the CycleGAN's domains were normalised by; then everything is exactly as
emseg3d_001: the same crops at the same places (the transfer draws from its own random stream), the same targets and
the same instance labels, computed from the EM labels, since the transfer keeps the voxels where they are. The
generator's model folder and the sha256 of its weights are recorded in dataset.json (params.transfer). A segmenter
trained here by nbs/303_exmtransfer_unet.ipynb is scored on the held-out ExM volumes of exmseg3d_001; exmtransfer_002
is the same with the CCGAN, whose segmentation-matching heads keep the objects in place.
Output: <root>/datasets/exmtransfer_001/.

    bpho experiment nbs/203_ccgan_em2exm.ipynb --smoke --set CONFIGURATION=vanilla --set EXPERIMENT=203_ccgan_em2exm_vanilla
    python scripts/dataset/exmtransfer_001.py --source sample_vol_em_labelled
"""
import bpho_lib.predict  # noqa: F401  (registers the degradation kind "transfer")
from bpho_lib.datasets import run_script

SOURCE = "sample_vol_em_labelled"  # simulated FIB-SEM volumes with the instance labels of their mitochondria

PARAMS = dict(
    transfer=dict(kind="transfer",                        # a trained generator changes the style, not the voxels
                  model="203_ccgan_em2exm_vanilla",       # its model folder under <root>/models/: the plain CycleGAN
                  direction="AB",                         # its A (EM) -> B (ExM) generator
                  tile=64,                                # sub-volumes, as the CycleGAN's training crops
                  overlap=16),                            # blended over the generator's reach: no seams
    dims=3,                        # ZYX volumes, as emseg3d_001
    targets="BCD",                 # foreground, contour, signed distance, as emseg3d_001
    contour_width=1,               # voxels, inside each object, as emseg3d_001
    fg_scale=8.0,                  # D: tanh(edt_fg / fg_scale - edt_bg / bg_scale), in voxels, as emseg3d_001
    bg_scale=50.0,
    sizes=[64],                    # crop size in Y and X (voxels), as emseg3d_001 and exmseg3d_001
    depth=32,                      # crop size in Z, as emseg3d_001 and exmseg3d_001
    tiles_per_image=[16],          # per volume, as emseg3d_001
    valid_frac=0.34,               # by volume: 2 of the sample's 6, as emseg3d_001
    split_seed=0,                  # fixed, as in every dataset: the same volumes as emseg3d_001 held out
    seed=1,                        # crop positions: the same crops as emseg3d_001
    percentiles=[1, 99],           # per translated volume, as exmseg3d_001 normalises the ExM it is scored on
    min_foreground=0.02,           # the rule for background-only crops, as emseg3d_001
)

if __name__ == "__main__":
    raise SystemExit(run_script(__file__, __doc__, "seg", SOURCE, PARAMS))
