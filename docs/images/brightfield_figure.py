"""Draw docs/images/brightfield.png: the nuclei-brightfield model on histology and brightfield.

Two test images of ``dsb2018_full`` (never trained on), chosen by a rule rather than by eye:
the histology test image with the most nuclei, and the brightfield test image with the most
nuclei, cropped to its 384 x 384 window with the most nucleus pixels. Each row shows the
image, the ground truth (green outlines) and the built-in model's instances (magenta), with
the whole image's AP50 in the title. Usage::

    python docs/images/brightfield_figure.py --data DSB2018_FULL --out docs/images/brightfield.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "scripts"))
sys.path.insert(0, str(HERE))
import dsb_full  # noqa: E402
from heads_figure import densest_window, save  # noqa: E402


def most_nuclei(data: Path, kind: str):
    """The test image of ``kind`` with the most nuclei: item, image, labels."""
    best = None
    for item in dsb_full.split(data, kinds=(kind,))["test"]:
        image, labels = dsb_full.load(data, item)
        n = len(np.unique(labels)) - 1
        if best is None or n > best[0]:
            best = (n, item, image, labels)
    return best[1:]


def overlay(image: np.ndarray, labels: np.ndarray, colour) -> np.ndarray:
    """The image in grey with every instance's outline (2 px) in one bright colour."""
    from skimage.segmentation import find_boundaries

    grey = image.astype(np.float32)
    grey = grey.mean(-1) if grey.ndim == 3 else grey
    lo, hi = np.percentile(grey, (1, 99.8))
    rgb = np.repeat(np.clip((grey - lo) / max(hi - lo, 1e-6), 0, 1)[..., None], 3, -1)
    rgb[find_boundaries(labels, mode="inner")] = colour
    rgb[find_boundaries(labels, mode="outer") & (labels == 0)] = colour
    return rgb


def main(argv=None) -> int:
    """Draw the figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import napari_unet
    from napari_unet import evaluate, segment

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path("../shared/data/dsb2018_full"))
    p.add_argument("--out", type=Path, default=Path("docs/images/brightfield.png"))
    args = p.parse_args(argv)
    model, meta = napari_unet.pretrained("nuclei-brightfield")
    fig, axes = plt.subplots(2, 3, figsize=(9, 6.4), dpi=110)
    for row, (kind, side) in enumerate((("histo", None), ("brightfield", 384))):
        item, image, truth = most_nuclei(args.data, kind)
        labels = segment(model, image, metadata=meta, device="cpu")
        ap50 = evaluate(truth, labels)["per_threshold"][0]["ap"]
        window = densest_window(truth > 0, side) if side else (slice(None), slice(None))
        shown = image[window].astype(np.float32)
        lo, hi = np.percentile(shown, (1, 99.8))
        axes[row, 0].imshow(np.clip((shown - lo) / max(hi - lo, 1e-6), 0, 1), cmap="gray")
        axes[row, 0].set_title(f"{item.group}\n{item.name}", fontsize=8)
        axes[row, 1].imshow(overlay(image[window], truth[window], (0.1, 0.9, 0.1)))
        axes[row, 1].set_title(f"ground truth ({len(np.unique(truth)) - 1} nuclei)", fontsize=8)
        axes[row, 2].imshow(overlay(image[window], labels[window], (1.0, 0.1, 0.9)))
        axes[row, 2].set_title(
            f"nuclei-brightfield: {labels.max()} nuclei, AP50 {ap50:.2f}", fontsize=8
        )
    save(fig, axes, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
