"""Time probabilities -> instances, with and without splitting joined cells.

The input is the worst case for the split: a foreground map of synthetic touching cells
WITHOUT the separation gap, so touching cells arrive joined and every cluster is cut.

    python benchmarks/postprocess.py [--sizes 1024 2048] [--repeats 3]

Prints a Markdown table: size, cells, seconds without split, with split (1 px), and the
instances found by each (the truth has ``cells`` instances).
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


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
    from napari_unet import probabilities_to_labels, touching_cells

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048])
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    print("| size | cells | no split (s) | split 1 px (s) | instances, no split | with split |")
    print("|---|---:|---:|---:|---:|---:|")
    for size in args.sizes:
        n = int(1500 * (size / 2048) ** 2)
        _, labels = touching_cells((size, size), n_cells=n, seed=0)
        fg = (labels > 0).astype(np.float32)
        plain_s, plain = best_time(probabilities_to_labels, args.repeats, fg, 0.5, 10, 2)
        split_s, split = best_time(probabilities_to_labels, args.repeats, fg, 0.5, 10, 2, 1.0)
        print(
            f"| {size} x {size} | {n:,} | {plain_s:.2f} | {split_s:.2f} | "
            f"{int(plain.max()):,} | {int(split.max()):,} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
