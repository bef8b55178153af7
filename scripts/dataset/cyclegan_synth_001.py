"""cyclegan_synth_001: HR tiles of mitochondria with LR made by a trained CycleGAN generator, not a hand-made crappifier.

The generator (HR -> LR, direction AB) was learned from unpaired HR and LR images by nbs/201_cyclegan_hr2lr.ipynb:
an instrument model, a learned blur, 4 x 4 block means, levels and noise whose variance grows with the signal
(bpho_lib.cyclegan.PhysicalGenerator), so that, unlike a ResNet (cyclegan_synth_002), it can draw photon-like noise.
It is named by its model folder under <root>/models/; the sha256 of its weights is recorded in dataset.json
(params.degradation); the noise is seeded per tile.
Everything else is exactly as synth_001 (same sizes, tiles, normalisation and split), so that 106 (a UNet trained
here) compares with 101 (registered pairs), 102 (crappified HR) and 107 (calibrated degradation) on the real
held-out pairs.
Output: <root>/datasets/cyclegan_synth_001/.

    bpho experiment nbs/201_cyclegan_hr2lr.ipynb       # first: the generator
    python scripts/dataset/cyclegan_synth_001.py --source sample_pairs_mito
"""
import bpho_lib.predict  # noqa: F401  (registers the degradation kind "generator")
from bpho_lib.datasets import run_script

SOURCE = "confocal_airyscan_pairs_mito"  # the HR side of the lab's pairs, as synth_001

PARAMS = dict(
    degradation=dict(kind="generator",            # a trained CycleGAN generator makes the LR
                     model="201_cyclegan_hr2lr",  # its model folder under <root>/models/: the CycleGAN that learned HR -> LR
                     direction="AB"),             # its A (HR) -> B (LR) generator
    sizes=[128, 256, 512],           # as synth_001
    tiles_per_image=[24, 8, 3],      # as synth_001
    valid_frac=0.2,                  # as synth_001
    split_seed=0,                    # as synth_001 and paired_001: the same fields are held out
    seed=1,                          # tile positions and the generator's noise
    percentiles=[2, 99.8],           # per-image normalisation of the HR, as the CycleGAN's domain A
    fg_rel=1.0,                      # tiles where there is signal, as synth_001
)

if __name__ == "__main__":
    raise SystemExit(run_script(__file__, __doc__, "synth", SOURCE, PARAMS))
