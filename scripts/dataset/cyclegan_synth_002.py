"""cyclegan_synth_002: HR tiles of mitochondria with LR made by the CycleGAN as published (ResNet generators), for comparison.

The generator (HR -> LR, direction AB) was learned from unpaired HR and LR images by
nbs/204_cyclegan_resnet_hr2lr.ipynb, a ResNet: deterministic, so it cannot draw photon noise (cyclegan_synth_001's
generator can). Its weights' sha256 is recorded in dataset.json (params.degradation).
Everything else is exactly as synth_001 (same sizes, tiles, normalisation and split), so that 108 (a UNet trained
here) compares with 101, 102, 106 and 107 on the real held-out pairs: the vanilla CycleGAN's row.
Output: <root>/datasets/cyclegan_synth_002/.

    bpho experiment nbs/204_cyclegan_resnet_hr2lr.ipynb    # first: the generator
    python scripts/dataset/cyclegan_synth_002.py --source sample_pairs_mito
"""
import bpho_lib.predict  # noqa: F401  (registers the degradation kind "generator")
from bpho_lib.datasets import run_script

SOURCE = "confocal_airyscan_pairs_mito"  # the HR side of the lab's pairs, as synth_001

PARAMS = dict(
    degradation=dict(kind="generator",            # a trained CycleGAN generator makes the LR
                     model="204_cyclegan_resnet_hr2lr",  # its model folder under <root>/models/: HR -> LR learned
                     direction="AB"),             # its A (HR) -> B (LR) generator
    sizes=[128, 256, 512],           # as synth_001
    tiles_per_image=[24, 8, 3],      # as synth_001
    valid_frac=0.2,                  # as synth_001
    split_seed=0,                    # as synth_001 and paired_001: the same fields are held out
    seed=1,                          # tile positions
    percentiles=[2, 99.8],           # per-image normalisation of the HR, as the CycleGAN's domain A
    fg_rel=1.0,                      # tiles where there is signal, as synth_001
)

if __name__ == "__main__":
    raise SystemExit(run_script(__file__, __doc__, "synth", SOURCE, PARAMS))
