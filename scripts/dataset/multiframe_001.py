"""multiframe_001: 5 consecutive crappified LR frames (as channels) -> the HR middle frame, from HR time-lapses.

PSSR's multi-frame input: neighbouring frames carry extra samples of slowly moving structures. One movie is in
memory at a time; split 80/20 by movie. Output: <root>/datasets/multiframe_001/.

    python scripts/dataset/multiframe_001.py --source sample_mito_movies_hr
"""
from bpho_lib.datasets import run_script

SOURCE = "live_neuron_mito_timelapse_for_deep_learning"  # the lab's HR (Airyscan) movies of moving mitochondria

PARAMS = dict(
    frames=5,                      # t-2..t+2, as PSSR
    crappifier="pssr_fluo",        # each frame degraded independently (its own noise), like separate exposures
    sizes=[128, 256],              # movies are smaller than fields of view
    tiles_per_image=[24, 8],       # per movie and size, each at a random time point
    valid_frac=0.2,                # by movie, never by frame: neighbouring frames are nearly identical
    split_seed=0,                  # fixed, so that other datasets of these movies hold out the same ones
    seed=1,                        # positions, time points and crappifier noise
    percentiles=[2, 99.8],         # one normalisation per movie: bleaching stays visible to the network
    fg_rel=1.0,                    # positions where the time-averaged movie has signal
)

if __name__ == "__main__":
    raise SystemExit(run_script(__file__, __doc__, "multiframe", SOURCE, PARAMS))
