"""synth_002: HR tiles of mitochondria with LR made by a degradation calibrated on unpaired real LR images.

The lab's open question, second answer: instead of inventing a degradation (synth_001's crappifier) or learning one
(cyclegan_synth_001), measure it. The LR images of --lr-source (any LR acquisitions of the same kind of sample; the
pairing is never used) fix a physical model: the extra PSF width, the binning, the intensity levels and the detector's
Poisson-Gaussian noise (gain, offset, read noise). Each is fitted by simulating LR from the HR images and matching a
statistic measurable without pairs: histogram, noise-versus-intensity curve (variance and third cumulant), power
spectrum (bpho_lib.calibrate). The fields this dataset (and paired_001) holds out are left out of the fit too. The
fit, its residuals and the LR files it used are recorded in dataset.json (params.degradation); a fit that does not
settle writes nothing.
Everything else is as synth_001 (sizes, tiles, normalisation, split), so that 107 compares with 101 and 102 on the
real held-out pairs. Output: <root>/datasets/synth_002/.

    python scripts/dataset/synth_002.py --source sample_pairs_mito --lr-source sample_pairs_mito
"""
import bpho_lib.calibrate  # noqa: F401  (registers the degradation kind "calibrated")
from bpho_lib.datasets import run_script

SOURCE = "confocal_airyscan_pairs_mito"  # the HR side of the lab's pairs, as synth_001

PARAMS = dict(
    degradation=dict(kind="calibrated",                        # LR from a fitted physical acquisition model
                     lr_source="confocal_airyscan_pairs_mito",  # real LR to fit it on (its lr side; pairing unused)
                     max_images=8,                              # enough pixels for the noise and the PSF, in ~30 s
                     hold_out=dict(valid_frac=0.2, split_seed=0),  # fields held out below: not used to calibrate
                     percentiles=[2, 99.8]),                    # the normalisation the datasets use, for both sides
    sizes=[128, 256, 512],           # as synth_001
    tiles_per_image=[24, 8, 3],      # as synth_001
    valid_frac=0.2,                  # as synth_001
    split_seed=0,                    # as synth_001 and paired_001: the same fields are held out
    seed=1,                          # tile positions and detector noise
    percentiles=[2, 99.8],           # per-image normalisation of the HR before degradation
    fg_rel=1.0,                      # tiles where there is signal, as synth_001
)

if __name__ == "__main__":
    raise SystemExit(run_script(__file__, __doc__, "synth", SOURCE, PARAMS))
