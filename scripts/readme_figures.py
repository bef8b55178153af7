"""Redraw the README's pictures from a data root that `make demo` filled (default: demo/).

    python scripts/readme_figures.py [--root demo]

writes docs/sample_pairs_mito.png (one simulated LR/HR pair), docs/sample_volumes.png (the two volume domains) and
docs/demo_prediction.png (a frame of the confocal-like movie and its prediction by the 101 smoke model).
"""
from __future__ import annotations
import argparse, sys
from pathlib import Path
import numpy as np
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from bpho_lib.config import BphoError, get_settings
from bpho_lib.io import read_image
from bpho_lib.sample import save_small_png, show_pair, show_volumes

DOCS = Path(__file__).resolve().parent.parent/"docs"


def prediction_figure(root: Path, movie: str = "movie_00", frame: int = 10):
    "A frame of the LR movie beside the same frame of its prediction, each scaled to its 0.5-99.8th percentiles."
    lr = read_image(root/"datasources/sample_mito_movies_lr"/f"{movie}.czi")
    pred_path = root/"predictions"/f"{movie}.ome.tif"
    if not pred_path.is_file(): raise BphoError(f"{pred_path}: no prediction (run `make demo` first)")
    pred = read_image(pred_path)
    fig, ax = plt.subplots(1, 2, figsize=(7.2, 3.9), layout="constrained")
    for a, im, title in ((ax[0], lr, f"confocal-like LR movie, frame {frame}"), (ax[1], pred, "bpho predict with the 101 smoke model")):
        plane = im.data[frame].astype(float)
        lo, hi = np.percentile(plane, (0.5, 99.8))
        a.imshow(plane, cmap="magma", vmin=lo, vmax=hi)
        a.set_title(f"{title}\n({im.pixel_size_um['X'] * 1000:.0f} nm pixels)", fontsize=8); a.axis("off")
    return fig


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--root", default="demo", help="data root of a finished demo (default: %(default)s)")
    a = p.parse_args(argv)
    s = get_settings(root=a.root)
    for name, fig in (("sample_pairs_mito.png", lambda: show_pair(s, crop=256)), ("sample_volumes.png", lambda: show_volumes(s)),
                      ("demo_prediction.png", lambda: prediction_figure(s.root))):
        print(f"{save_small_png(fig(), DOCS/name)}")
    return 0


if __name__ == "__main__":
    try: sys.exit(main())
    except BphoError as e: sys.exit(f"readme_figures: {e}")
