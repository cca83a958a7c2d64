"""Draw docs/images/uneven_light.png: what flattening the background does under uneven light.

The image is the one ``robustness_figure.py`` chooses by its rule (of the 20 fluorescence
test images of ``benchmarks/robustness.py``, the one whose AP50 the benchmark's shading
lowers most for the built-in ``nuclei`` model), with that shading. Columns: the image as
the microscope gave it, the background surface prediction found
(:func:`napari_unet.core.images.background.estimate`), the built-in model's nuclei with
``background="keep"`` and with ``"auto"`` (the default; magenta outlines, AP50 in the
title). Usage::

    python docs/images/uneven_light_figure.py --data DSB2018_FULL [--out FILE]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from brightfield_figure import overlay  # noqa: E402
from heads_figure import save  # noqa: E402
from robustness_figure import ap50, worst_under_shading  # noqa: E402


def shown(image: np.ndarray) -> np.ndarray:
    """``image`` stretched to its 1-99.8 percentiles (0..1) for display."""
    grey = image.astype(np.float32)
    lo, hi = np.percentile(grey, (1, 99.8))
    return np.clip((grey - lo) / max(hi - lo, 1e-6), 0, 1)


def main(argv=None) -> int:
    """Draw the figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from napari_unet import pretrained
    from napari_unet.core.images.background import estimate, fit, unevenness, window_for

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path("../shared/data/dsb2018_full"))
    p.add_argument("--out", type=Path, default=Path("docs/images/uneven_light.png"))
    args = p.parse_args(argv)
    builtin = pretrained("nuclei")
    item, _, shaded, truth = worst_under_shading(args.data, builtin)
    plane = np.asarray(shaded, np.float32)[None]
    window = window_for(builtin[1].get("object_size"))
    back = estimate(plane, False, window)[0]
    uneven = unevenness(plane, fit(plane, False, window))
    fig, axes = plt.subplots(1, 4, figsize=(12, 3.6), dpi=110)
    axes[0].imshow(shown(shaded), cmap="gray")
    axes[0].set_title(f"{item.name}: uneven light", fontsize=8)
    lo, hi = np.percentile(shaded, (1, 99.8))
    axes[1].imshow(np.clip((back - lo) / max(hi - lo, 1e-6), 0, 1), cmap="gray")
    axes[1].set_title(f"background found: unevenness {uneven:.2f}", fontsize=8)
    for col, mode in ((2, "keep"), (3, "auto")):
        labels, score = ap50(*builtin, shaded, truth, background=mode)
        axes[col].imshow(overlay(shaded, labels, (1.0, 0.1, 0.9)))
        axes[col].set_title(f"background={mode}: {labels.max()} nuclei, AP50 {score:.2f}",
                            fontsize=8)  # fmt: skip
    save(fig, axes.reshape(1, -1), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
