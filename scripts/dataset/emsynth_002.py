"""emsynth_002: EM crops with LR as a point-scanning microscope records them at 4x the pixel size.

The lab's open question for EM. PSSR's EM crappifier (emsynth_001) adds noise and interpolates; a scanning electron
microscope at 4x larger pixels instead visits every 4th point of the HR grid with the same beam, each point with the
HR pixel's own signal and noise at the same dwell time per pixel (and dwell_ratio x the noise variance at a shorter
dwell, following the noise-versus-intensity curve fitted on the source's own images, Foi et al. 2008). Nothing from the
simulator is used: the sampling is physics, the noise curve is measured (bpho_lib.calibrate.point_scan_from_spec).
The fit and the images it used are recorded in dataset.json (params.degradation); the held-out images are not used.
Everything else is as emsynth_001 (sizes, tiles, normalisation, split), so that 105 and 109 compare on both.
Output: <root>/datasets/emsynth_002/.

    python scripts/dataset/emsynth_002.py --source sample_em
"""
import bpho_lib.calibrate  # noqa: F401  (registers the degradation kind "point_scan")
from bpho_lib.datasets import run_script

SOURCE = "sample_em"  # the simulated EM images; the lab's EM sources are single-image sources too

PARAMS = dict(
    degradation=dict(kind="point_scan",                          # every 4th point of the HR grid, same beam
                     dwell_ratio=1.0,                            # HR dwell / LR dwell: the same dwell per pixel
                     max_images=8,                               # images the noise curve is fitted on
                     hold_out=dict(valid_frac=0.2, split_seed=0),  # the images held out below: not used to fit
                     percentiles=[0.5, 99.5]),                   # the normalisation the tiles use
    sizes=[128, 256, 512],         # as emsynth_001
    tiles_per_mpix=[24, 8, 3],     # as emsynth_001: per 1024 x 1024 px, so a 4000 x 2000 image gives 7.6x as many
    valid_frac=0.2,                # as emsynth_001: the same image is held out
    split_seed=0,                  # as emsynth_001
    seed=1,                        # tile positions, sampling phase and noise
    percentiles=[0.5, 99.5],       # as emsynth_001
    fg_rel=0.0,                    # as emsynth_001: any tile
)

if __name__ == "__main__":
    raise SystemExit(run_script(__file__, __doc__, "synth", SOURCE, PARAMS))
