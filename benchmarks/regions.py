"""Benchmark: rasterising an annotated-region polygon, skimage against the scanline fill.

Run ``python benchmarks/regions.py`` (about 2 minutes on 2 cores); it prints a Markdown table.
For each image side and vertex count, a regular polygon turned by 0.1 rad and covering about
half the image is rasterised by:

* skimage: ``skimage.draw.polygon`` (what ``region_mask`` called before). Where it would take
  over ``--budget`` seconds it is timed on a band of rows (the polygon shifted so that only the
  band falls on the image; its cost is per pixel of the bounding box) and scaled to the whole
  height ("est.");
* scanline: ``napari_unet.core.annotation.scanline.polygon_block``, best of ``--repeats``.

"same" says whether both gave the same pixels (where skimage ran in full). "GUI gap" is the
longest gap of a main thread that sleeps 10 ms in a loop (as napari's event loop would turn)
while the rasterisation runs in a worker thread: the scanline fill at the largest side,
skimage at 4096 only where it takes under the budget (it holds the GIL throughout).
"""

from __future__ import annotations

import argparse
import threading
import time

import numpy as np
from skimage.draw import polygon

from napari_unet.core.annotation.scanline import polygon_block


def half_image_polygon(side: int, n: int) -> np.ndarray:
    """A regular n-gon centred on the image, of half the image's area, turned by 0.1 rad."""
    radius = side * np.sqrt(0.5 / (n / 2 * np.sin(2 * np.pi / n)))
    t = np.linspace(0, 2 * np.pi, n, endpoint=False) + 0.1
    return side / 2 + radius * np.stack([np.sin(t), np.cos(t)], axis=1)


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def longest_gap(fn) -> float:
    """The longest gap of this thread, ticking every 10 ms, while ``fn`` runs in another.

    A gap runs from one tick to the next, the check whether the worker is still running
    included (it needs the GIL too), and from the last tick to the worker's end.
    """
    worker = threading.Thread(target=fn)
    gap, last = 0.0, time.perf_counter()
    worker.start()
    while worker.is_alive():
        time.sleep(0.01)
        now = time.perf_counter()
        gap, last = max(gap, now - last), now
    worker.join()
    return max(gap, time.perf_counter() - last)


def skimage_time(verts: np.ndarray, side: int, budget: float) -> tuple[float, bool]:
    """skimage's time on the whole image, or scaled from a band of rows (est.: False)."""
    band = 64
    shifted = verts - [side / 2 - band / 2, 0]  # rows side/2 - 32 .. side/2 + 31 on the image
    per_band = best_of(lambda: polygon(shifted[:, 0], shifted[:, 1], (band, side)), 1)
    rows = np.ceil(verts[:, 0].max()) - max(0, verts[:, 0].min()) + 1
    estimate = per_band * min(rows, side) / band
    if estimate > budget:
        return estimate, False
    return best_of(lambda: polygon(verts[:, 0], verts[:, 1], (side, side)), 1), True


def same_pixels(verts: np.ndarray, side: int) -> bool:
    expected = np.zeros((side, side), dtype=bool)
    expected[polygon(verts[:, 0], verts[:, 1], (side, side))] = True
    got = np.zeros((side, side), dtype=bool)
    rows, cols, inside = polygon_block(verts[:, 0], verts[:, 1], (side, side))
    got[rows, cols] = inside
    return bool(np.array_equal(expected, got))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sides", type=int, nargs="+", default=[2048, 4096, 8192])
    parser.add_argument("--vertices", type=int, nargs="+", default=[4, 64, 512])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--budget", type=float, default=12.0, help="skimage seconds, at most")
    args = parser.parse_args()
    print("| image | vertices | skimage (s) | scanline (s) | speed-up | same | GUI gap |")
    print("|---|---:|---:|---:|---:|---|---|")
    for side in args.sides:
        for n in args.vertices:
            verts = half_image_polygon(side, n)
            old, full = skimage_time(verts, side, args.budget)
            new = best_of(lambda v=verts, s=side: polygon_block(v[:, 0], v[:, 1], (s, s)), 3)
            same = ("yes" if same_pixels(verts, side) else "NO") if full else "-"
            gaps = []
            if side == max(args.sides):
                run = lambda v=verts, s=side: polygon_block(v[:, 0], v[:, 1], (s, s))  # noqa: E731
                gaps.append(f"scanline {longest_gap(run):.3f} s")
            if side == 4096 and full:
                run = lambda v=verts, s=side: polygon(v[:, 0], v[:, 1], (s, s))  # noqa: E731
                gaps.append(f"skimage {longest_gap(run):.2f} s")
            print(
                f"| {side} x {side} | {n} | {old:.2f}{'' if full else ' (est.)'} | {new:.3f} "
                f"| {old / new:.0f}x | {same} | {', '.join(gaps) or '-'} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
