"""What the object size buys: the built-in model on DSB2018 test images at other scales.

Images: the DSB2018 fluorescence TEST images of ``dsb2018_full`` (``index.csv``: split
``test``, group ``fluo_*``; 115 images), sorted by name, of which ``--n`` (20) evenly spaced
ones are taken (``names[round(i * 115 / n)]``): a fixed choice spanning the groups. Never
tuned on: the estimate's rules (pieces left out, the model's zoom range kept) were chosen on
``--images unseen-train``: as many fluorescence TRAIN images the built-in model was not
trained on (its file lists those it was).

Each image AND its ground truth are resized by each ``--scales`` factor (0.5, 1, 2; the
image linearly, with anti-aliasing when shrinking, rounded back to uint8; the labels by
nearest neighbour), so the nuclei are half, as large or twice as large as in the data, and
the built-in model segments them (a) without an object size, (b) with the true object size
(the median equivalent diameter of the resized ground truth) and (c) with ``"estimate"``.

    python benchmarks/object_size.py [--data ../shared/data/dsb2018_full] [--n 20]

Prints a Markdown table: AP50 (pooled over the images: TP / (TP + FP + FN) at IoU 0.5), the
DSB score (AP averaged over IoU 0.5..0.95, pooled), how far the estimates were from the
truth (median |estimate / true - 1|), the images that raised an out-of-domain warning, and
the seconds per image.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
import warnings
from pathlib import Path

import numpy as np

MODES = ("none", "true size", "estimate")


def test_names(data: Path, n: int) -> list[str]:
    """``n`` evenly spaced names of the sorted fluorescence test images."""
    with open(data / "index.csv", newline="") as f:
        names = sorted(
            r["name"]
            for r in csv.DictReader(f)
            if r["split"] == "test" and r["group"].startswith("fluo")
        )
    return [names[round(i * len(names) / n)] for i in range(min(n, len(names)))]


def unseen_train_names(data: Path, n: int, seen: list[str]) -> list[str]:
    """``n`` evenly spaced fluorescence TRAIN images the built-in model was not trained on.

    The images the estimate's rules were chosen on (``--images unseen-train``); ``seen`` is
    the model file's list of training images (``provenance["data"]``), matched by image id.
    """
    ids = {name.split("_", 1)[-1] for name in seen}
    with open(data / "index.csv", newline="") as f:
        names = sorted(
            r["name"]
            for r in csv.DictReader(f)
            if r["split"] == "train" and r["group"].startswith("fluo")
            and r["name"].split("_", 1)[-1] not in ids
        )  # fmt: skip
    return [names[round(i * len(names) / n)] for i in range(min(n, len(names)))]


def rescaled(image: np.ndarray, truth: np.ndarray, factor: float):
    """The image (linear, uint8) and labels (nearest) resized by ``factor``."""
    from skimage.transform import resize

    if factor == 1:
        return image, truth
    shape = tuple(max(1, round(s * factor)) for s in truth.shape)
    img = resize(image.astype(np.float32), shape + image.shape[2:], order=1,
                 anti_aliasing=factor < 1, preserve_range=True)  # fmt: skip
    lab = resize(truth, shape, order=0, anti_aliasing=False, preserve_range=True)
    return np.clip(np.round(img), 0, 255).astype(np.uint8), lab.astype(np.int32)


def run_mode(model, meta, image, truth, mode: str):
    """``(evaluation, estimate or None, warned, seconds)`` of one image in one mode."""
    from napari_unet import (
        DomainWarning,
        ObjectSize,
        drain,
        evaluate,
        iter_segment,
        median_diameter,
    )

    size = {"none": None, "estimate": "estimate"}.get(mode)
    if mode == "true size":
        size = median_diameter(truth)[0]
    events = []
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DomainWarning)
        gen = iter_segment(model, image, metadata=meta, object_size=size)
        labels, _ = drain(gen, events.append)
    seconds = time.perf_counter() - t0
    found = [e for e in events if isinstance(e, ObjectSize)]
    estimate = found[-1].diameter if mode == "estimate" and found else None
    warned = any(issubclass(w.category, DomainWarning) for w in caught)
    return evaluate(truth, labels), estimate, warned, seconds


def main(argv=None) -> int:
    """Run the table."""
    import tifffile
    import torch

    from napari_unet import median_diameter, pretrained, read_image, summarize

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path("../shared/data/dsb2018_full"))
    p.add_argument("--n", type=int, default=20)
    p.add_argument("--scales", type=float, nargs="+", default=[0.5, 1.0, 2.0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--images", choices=("test", "unseen-train"), default="test",
        help="the test images (default), or train images the built-in model never saw "
        "(where the estimate's rules were chosen)",
    )  # fmt: skip
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    model, meta = pretrained("nuclei")
    if args.images == "test":
        names = test_names(args.data, args.n)
    else:
        names = unseen_train_names(args.data, args.n, meta["provenance"]["data"])
    loaded = [
        (read_image(args.data / "images" / f"{n}.png"),
         tifffile.imread(args.data / "masks" / f"{n}.tif"))
        for n in names
    ]  # fmt: skip
    print(f"{len(names)} DSB2018 fluorescence {args.images} images; model object size "
          f"{meta['object_size']} px")  # fmt: skip
    print()
    print("| scale | true size (px) | object size | AP50 | AP 0.5:0.95 | estimate error "
          "| warned | s / image |")  # fmt: skip
    print("|---:|---:|---|---:|---:|---:|---:|---:|")
    for factor in args.scales:
        pairs = [rescaled(img, gt, factor) for img, gt in loaded]
        true = [median_diameter(gt)[0] for _, gt in pairs]
        for mode in MODES:
            rows = [run_mode(model, meta, img, gt, mode) for img, gt in pairs]
            s = summarize([r[0] for r in rows])
            errors = [abs(r[1] / t - 1) for r, t in zip(rows, true, strict=True) if r[1]]
            error = f"{np.median(errors):.0%}" if errors else ""
            print(
                f"| {factor:g} | {np.median(true):.1f} | {mode} | "
                f"{s['per_threshold'][0]['ap']:.3f} | {s['ap']:.3f} | {error} | "
                f"{sum(r[2] for r in rows)} / {len(rows)} | "
                f"{np.mean([r[3] for r in rows]):.2f} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
