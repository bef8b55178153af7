"""denoise_001: same-size noisy/clean tile pairs at every noise level (means of 1 to 16 frames vs 50).

All images of a field share the clean image's normalisation, so the network learns to remove noise, not to
rescale. Split 80/20 by field. Output: <root>/datasets/denoise_001/.

    python scripts/dataset/denoise_001.py --source sample_denoise
"""
from bpho_lib.datasets import run_script

SOURCE = "Poisson-Gaussian_denoising_dataset"  # the lab's repeated low-light acquisitions with their clean means

PARAMS = dict(
    levels=[],                     # noise levels to keep (frames averaged); empty = every level of the source
    sizes=[128, 256],              # no upsampling here: tiles are the same size in input and target
    tiles_per_image=[16, 4],       # per field and size, at the same positions in every level
    valid_frac=0.2,                # by field of view
    split_seed=0,                  # fixed, as in every dataset
    seed=1,                        # tile positions
    percentiles=[2, 99.8],         # of the clean image, applied to all of its noisy versions
    fg_rel=1.0,                    # tiles where the clean image has signal
)

if __name__ == "__main__":
    raise SystemExit(run_script(__file__, __doc__, "denoise", SOURCE, PARAMS))
