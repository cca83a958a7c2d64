"""Time probabilities -> instances, with and without splitting joined cells: old path vs new.

The input is the worst case for the split: a foreground map of synthetic touching cells
WITHOUT the separation gap, so touching cells arrive joined and every cluster is cut.

    python benchmarks/postprocess.py [--sizes 1024 2048] [--repeats 3]

Prints a Markdown table: size, cells, and for "no split" and "split 1 px" the seconds of the
path before issue 21 (``tests/postprocess_reference.py``, whole-image transforms) and of
today's :func:`napari_unet.probabilities_to_labels`, measured in the same run, their ratio,
the instances found, and whether both gave the same labels (they must).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def best_time(fn, repeats: int, *args, **kwargs) -> tuple[float, object]:
    """The fastest of ``repeats`` calls ``fn(*args, **kwargs)``, and the last result."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        times.append(time.perf_counter() - t0)
    return min(times), out


def main(argv=None) -> int:
    """Run the table."""
    from postprocess_reference import reference_labels

    from napari_unet import probabilities_to_labels, touching_cells

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048])
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    print("| size | cells | split | old (s) | new (s) | speed-up | instances | same labels |")
    print("|---|---:|---|---:|---:|---:|---:|---|")
    for size in args.sizes:
        n = int(1500 * (size / 2048) ** 2)
        _, labels = touching_cells((size, size), n_cells=n, seed=0)
        fg = (labels > 0).astype(np.float32)
        for split in (0.0, 1.0):
            settings = (fg, 0.5, 10, 2, split)
            old_s, old = best_time(reference_labels, args.repeats, *settings)
            new_s, new = best_time(probabilities_to_labels, args.repeats, *settings)
            print(
                f"| {size} x {size} | {n:,} | {'1 px' if split else 'no'} | {old_s:.2f} | "
                f"{new_s:.2f} | {old_s / new_s:.1f}x | {int(new.max()):,} | "
                f"{'yes' if np.array_equal(old, new) else 'NO'} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
