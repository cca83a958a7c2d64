"""What flattening uneven light costs next to the prediction it precedes.

For planes of 1024, 2048 and 4096 px a side (the shipped nuclei sample tiled, evenly lit,
and the same lit unevenly: light rising by 1.5 times its range along the diagonal), times
:func:`~napari_unet.core.images.background.flatten_plane` with ``"auto"`` (on the evenly lit
plane: the check alone, nothing is subtracted; on the uneven one: check and subtraction) and
the built-in model's prediction of the same plane (``Predictor.iter_probabilities`` with
``background="keep"``; 4096 px only with ``--big``). Prints a Markdown table; the ratio is
measured in the same run.

    python benchmarks/background.py [--threads 2] [--big] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np


def main(argv=None) -> int:
    """Print the table."""
    import torch
    from metrics import best_of  # benchmarks/metrics.py: the fastest of a few runs

    from napari_unet import Predictor, pretrained
    from napari_unet.core.images.background import flatten_plane
    from napari_unet.core.progress import drain
    from napari_unet.sample_data import nuclei_data

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--big", action="store_true", help="also predict 4096 px")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    model, meta = pretrained("nuclei")
    sample = nuclei_data()[0].astype(np.float32)
    predictor = Predictor(model, metadata=meta, background="keep")
    print(f"torch threads {args.threads}; seconds, best of {args.repeat}")
    print()
    print("| side (px) | auto, evenly lit (check) | auto, uneven (check + subtract) "
          "| prediction | flatten / prediction |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|")
    for side in (1024, 2048, 4096):
        reps = (-(-side // sample.shape[0]), -(-side // sample.shape[1]))
        even = np.tile(sample, reps)[:side, :side]
        ramp = 0.75 * np.add.outer(np.linspace(0, 1, side), np.linspace(0, 1, side))
        uneven = even + ramp.astype(np.float32) * float(np.ptp(even))
        check = best_of(lambda e=even: flatten_plane(e[None], "auto", False, 63), args.repeat)
        flat = best_of(lambda u=uneven: flatten_plane(u[None], "auto", False, 63), args.repeat)
        predicted = ""
        if side <= 2048 or args.big:
            secs = best_of(lambda e=even: drain(predictor.iter_probabilities(e)), 1)
            predicted = f"{secs:.2f} | {flat / secs:.1%}"
        else:
            predicted = "- | -"
        print(f"| {side} | {check:.3f} | {flat:.3f} | {predicted} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
