"""Draw docs/images/heads.png: each head's outputs and instances on a crowded nuclei image.

Uses the models that ``benchmarks/heads.py run --models DIR`` saved (one per head, with the
weight map) and the fluorescence test image of ``dsb2018_full`` with the most touching
nuclei (a test image: never trained on). Usage::

    python docs/images/heads_figure.py --models DIR --data DSB2018_FULL --out docs/images/heads.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import dsb_full  # noqa: E402

HEADS = ("paper", "3class", "distance")


def crowded(data: Path, side: int = 256):
    """The test image with the most touching nuclei, cropped to its most crowded window."""
    best = None
    for item in dsb_full.split(data, kinds=("fluo",))["test"]:
        image, labels = dsb_full.load(data, item)
        n = len(dsb_full.touching(labels))
        if best is None or n > best[0]:
            best = (n, item, image, labels)
    _, item, image, labels = best
    window = densest_window(np.isin(labels, dsb_full.touching(labels)), side)
    return item, image[window], labels[window]


def densest_window(mask: np.ndarray, side: int) -> tuple[slice, slice]:
    """The ``side`` x ``side`` window (on a 32 px grid) holding the most ``mask`` pixels."""
    h, w = mask.shape
    starts = [
        (y, x)
        for y in range(0, max(h - side, 0) + 1, 32)
        for x in range(0, max(w - side, 0) + 1, 32)
    ]
    y, x = max(starts, key=lambda s: mask[s[0] : s[0] + side, s[1] : s[1] + side].sum())
    return slice(y, y + side), slice(x, x + side)


def outputs_panel(probs: np.ndarray, head: str) -> np.ndarray:
    """An RGB picture of a head's channels: cell in green, boundary or distance in magenta."""
    if head == "paper":
        return np.stack([np.zeros_like(probs[1]), probs[1], np.zeros_like(probs[1])], -1)
    cell, second = probs[1], probs[2]  # interior and boundary, or cell and distance
    return np.clip(np.stack([second, cell * (1 - second), second], -1), 0, 1)


def outlines(image: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The image in grey with each instance's outline in its own colour."""
    from skimage.segmentation import find_boundaries

    grey = image.astype(np.float32)
    if grey.ndim == 3:
        grey = grey.mean(-1)
    lo, hi = np.percentile(grey, (1, 99.8))
    grey = np.clip((grey - lo) / max(hi - lo, 1e-6), 0, 1)
    rgb = np.repeat(grey[..., None], 3, -1)
    rng = np.random.default_rng(0)
    colours = rng.uniform(0.3, 1.0, (int(labels.max()) + 1, 3))
    edge = find_boundaries(labels, mode="inner")
    rgb[edge] = colours[labels[edge]]
    return rgb


def main(argv=None) -> int:
    """Draw the figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from napari_unet import evaluate, load_model, segment

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", type=Path, required=True)
    p.add_argument("--data", type=Path, default=Path("../shared/data/dsb2018_full"))
    p.add_argument("--out", type=Path, default=Path("docs/images/heads.png"))
    args = p.parse_args(argv)
    item, image, truth = crowded(args.data)
    fig, axes = plt.subplots(2, 1 + len(HEADS), figsize=(3 * (1 + len(HEADS)), 7.0), dpi=110)
    n_truth = len(np.unique(truth)) - 1
    axes[0, 0].imshow(outlines(image, np.zeros_like(truth)))
    axes[0, 0].set_title("image", fontsize=9)
    axes[1, 0].imshow(outlines(image, truth))
    axes[1, 0].set_title(f"ground truth ({n_truth} nuclei)", fontsize=9)
    names = {"paper": "cell", "3class": "interior / boundary", "distance": "cell / distance"}
    for k, head in enumerate(HEADS, start=1):
        model, meta = load_model(args.models / f"{head}_w0-10.safetensors")
        labels, probs = segment(model, image, metadata=meta, return_probabilities=True)
        ap50 = evaluate(truth, labels)["per_threshold"][0]["ap"]
        axes[0, k].imshow(outputs_panel(np.asarray(probs), head))
        axes[0, k].set_title(f"{head}: {names[head]}", fontsize=9)
        axes[1, k].imshow(outlines(image, labels))
        axes[1, k].set_title(f"{head}: {labels.max()} cells, AP50 {ap50:.2f}", fontsize=9)
    fig.suptitle(f"DSB2018 test image {item.name} (256 x 256 crop)", fontsize=10)
    save(fig, axes, args.out)
    return 0


def save(fig, axes, out: Path) -> None:
    """Write a figure of image panels: no axes, tight layout."""
    for ax in axes.ravel():
        ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(out)
    print(f"saved {out}")


if __name__ == "__main__":
    raise SystemExit(main())
