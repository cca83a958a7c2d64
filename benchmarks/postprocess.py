"""Time probabilities -> instances, with and without splitting joined cells: old path vs new.

The input is the worst case for the split: a foreground map of synthetic touching cells
WITHOUT the separation gap, so touching cells arrive joined and every cluster is cut.

    python benchmarks/postprocess.py [--sizes 1024 2048] [--repeats 3]
    python benchmarks/postprocess.py --real SHARED_DATA/dsb2018_full [--clock cpu]


Prints a Markdown table: size, cells, and for "no split" and "split 1 px" the seconds of the
path before issue 21 (``tests/postprocess_reference.py``, whole-image transforms) and of
today's :func:`napari_unet.probabilities_to_labels`, measured in the same run, their ratio,
the instances found, and whether both gave the same labels (they must). ``--real`` instead
times the same on the built-in ``nuclei`` model's probabilities of real 1024 x 1024 DSB2018
images (brightfield, which that fluorescence model finds messy: the Live dock's case), with
the model's own settings.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


CLOCK = {"wall": time.perf_counter, "cpu": time.process_time}
clock = time.perf_counter


def best_time(fn, repeats: int, *args, **kwargs) -> tuple[float, object]:
    """The fastest of ``repeats`` calls ``fn(*args, **kwargs)``, and the last result."""
    times, out = [], None
    for _ in range(repeats):
        t0 = clock()
        out = fn(*args, **kwargs)
        times.append(clock() - t0)
    return min(times), out


REAL = ["023_08275a5b1c2d", "063_1a1155256916"]  # brightfield 1024 x 1024, train split


def row(name: str, cells: str, fg: np.ndarray, post: tuple, repeats: int) -> str:
    """One table row: old and new post-processing of ``fg`` in the same run.

    ``post``: threshold, min_size, gap, split.
    """
    from postprocess_reference import reference_labels

    from napari_unet import probabilities_to_labels

    settings = (fg, *post)
    split = post[-1]
    old_s, old = best_time(reference_labels, repeats, *settings)
    new_s, new = best_time(probabilities_to_labels, repeats, *settings)
    return (
        f"| {name} | {cells} | {f'{split:g} px' if split else 'no'} | {old_s:.2f} | {new_s:.2f} | "
        f"{old_s / new_s:.1f}x | {int(new.max()):,} | "
        f"{'yes' if np.array_equal(old, new) else 'NO'} |"
    )


def real_inputs(data: Path):
    """``(name, n nuclei, foreground, settings)`` of the :data:`REAL` images by the built-in
    model; the settings are the model's own (threshold 0.6, min_size 20, split 2 px) and the
    same without the split."""
    import tifffile

    from napari_unet import Postprocess, predict, pretrained, read_image

    model, meta = pretrained("nuclei")
    post = Postprocess.for_model(meta)
    own = (post.threshold, post.min_size, post.gap)
    for name in REAL:
        image = np.asarray(read_image(data / "images" / f"{name}.png"))
        truth = tifffile.imread(data / "masks" / f"{name}.tif")
        fg = predict(model, image, metadata=meta)[1]
        for split in (0.0, post.split):
            yield name, f"{len(np.unique(truth)) - 1} (truth)", fg, (*own, split)


def main(argv=None) -> int:
    """Run the table."""
    from napari_unet import touching_cells

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--real", type=Path, metavar="DSB2018_FULL")
    p.add_argument(
        "--clock", choices=sorted(CLOCK), default="wall",
        help="cpu: the process's CPU time (both paths run on one thread), steadier than the "
        "wall clock when other jobs share the cores",
    )  # fmt: skip
    args = p.parse_args(argv)
    global clock
    clock = CLOCK[args.clock]
    print("| image | cells | split | old (s) | new (s) | speed-up | instances | same labels |")
    print("|---|---:|---|---:|---:|---:|---:|---|")
    if args.real:
        cases = real_inputs(args.real)
    else:
        cases = []
        for size in args.sizes:
            n = int(1500 * (size / 2048) ** 2)
            _, labels = touching_cells((size, size), n_cells=n, seed=0)
            fg = (labels > 0).astype(np.float32)
            for split in (0.0, 1.0):
                cases.append((f"{size} x {size}", f"{n:,}", fg, (0.5, 10, 2, split)))
    for name, cells, fg, post in cases:
        print(row(name, cells, fg, post, args.repeats), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
