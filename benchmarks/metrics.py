"""Time napari_unet.core.metrics on a large image pair; print a Markdown table.

Usage: python benchmarks/metrics.py [--size 2048] [--cells 1500] [--repeats 3]

The ground truth is the synthetic touching-cells generator; the "prediction" is the
ground truth with cells dropped, merged, shrunk, shifted and relabelled. The reference
row is scikit-image's adapted_rand_error alone (one contingency table of its own).
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
from scipy.ndimage import binary_erosion
from skimage.metrics import adapted_rand_error

from napari_unet import evaluate, touching_cells
from napari_unet.core.metrics import match_instances


def perturb(gt: np.ndarray, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ids = np.unique(gt[gt > 0])
    pred = gt.astype(np.int64).copy()
    pred[np.isin(pred, rng.choice(ids, len(ids) // 10, replace=False))] = 0
    pred[np.isin(pred, ids[: len(ids) // 8])] = ids[0]
    shrink = np.isin(pred, rng.choice(ids, len(ids) // 3, replace=False))
    pred[shrink & ~binary_erosion(shrink, iterations=2)] = 0
    pred = np.roll(pred, 1, axis=1)
    lut = rng.permutation(10**6)[: pred.max() + 1] + 1
    lut[0] = 0
    return lut[pred]


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--cells", type=int, default=1500)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    _, gt = touching_cells((args.size, args.size), n_cells=args.cells, seed=0, noise=0)
    pred = perturb(gt)
    n_gt, n_pred = len(np.unique(gt)) - 1, len(np.unique(pred)) - 1
    rows = [
        ("evaluate (all metrics, 10 DSB thresholds)", lambda: evaluate(gt, pred)),
        ("match_instances (10 DSB thresholds)", lambda: match_instances(gt, pred)),
        ("match_instances at IoU 0.1 (Hungarian path)", lambda: match_instances(gt, pred, (0.1,))),
        ("skimage adapted_rand_error alone (reference)", lambda: adapted_rand_error(gt, pred)),
    ]
    ref = best_of(rows[-1][1], args.repeats)
    r = evaluate(gt, pred)
    print(
        f"Image {args.size}x{args.size}, {n_gt} ground-truth cells, {n_pred} predicted; "
        f"AP {r['ap']:.3f}, best of {args.repeats}; {platform.processor() or platform.machine()}"
    )
    print()
    print("| operation | seconds | x skimage Rand alone |")
    print("|---|---:|---:|")
    for name, fn in rows:
        t = ref if fn is rows[-1][1] else best_of(fn, args.repeats)
        print(f"| {name} | {t:.3f} | {t / ref:.2f} |")


if __name__ == "__main__":
    main()
