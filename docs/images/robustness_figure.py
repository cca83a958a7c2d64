"""Draw docs/images/robustness.png: the built-in model and a ``--robust`` one under uneven light.

The image is chosen by a rule, not by eye: of the 20 fluorescence test images of
``benchmarks/robustness.py``, the one whose AP50 the shading harm lowers most for the
built-in ``nuclei`` model (its worst case). Top row: the image as recorded; bottom row: with
the benchmark's shading (light rising along the diagonal by 1.5 times the image's range).
Columns: the image, the built-in model's nuclei, the robust model's (magenta outlines), with
each whole image's AP50 in the title. Usage::

    python docs/images/robustness_figure.py --data DSB2018_FULL --robust-model FILE
        [--out docs/images/robustness.png]
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1] / "scripts"))
sys.path.insert(0, str(HERE.parents[1] / "benchmarks"))
sys.path.insert(0, str(HERE))
import dsb_full  # noqa: E402
from brightfield_figure import overlay  # noqa: E402
from heads_figure import save  # noqa: E402
from robustness import chosen_items  # noqa: E402


def ap50(model, meta, image, truth, background: str = "keep", **settings):
    """The instances of ``image`` and their AP50 against ``truth``.

    ``background`` as for ``segment``; ``"keep"`` here: the models as they are, without the
    flattening of uneven light that prediction does by default (docs/predict.md). Other
    ``settings`` (``denoise``) go to ``segment`` too.
    """
    from napari_unet import evaluate, segment

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        labels = segment(model, image, metadata=meta, device="cpu", background=background,
                         **settings)  # fmt: skip
    return labels, evaluate(truth, labels)["per_threshold"][0]["ap"]


def worst_under_shading(data: Path, builtin) -> tuple:
    """``(item, image, shaded image, truth)`` of the test image the shading harms most."""
    worst = None
    for i, item in enumerate(chosen_items(data, "fluo", 20)):
        image, truth = dsb_full.load(data, item)
        shaded = dsb_full.degraded(image, "shading", seed=i)
        drop = ap50(*builtin, image, truth)[1] - ap50(*builtin, shaded, truth)[1]
        if worst is None or drop > worst[0]:
            worst = (drop, item, image, shaded, truth)
    return worst[1:]


def main(argv=None) -> int:
    """Draw the figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from napari_unet import load_model, pretrained

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path("../shared/data/dsb2018_full"))
    p.add_argument("--robust-model", type=Path, required=True)
    p.add_argument("--out", type=Path, default=Path("docs/images/robustness.png"))
    args = p.parse_args(argv)
    builtin, robust = pretrained("nuclei"), load_model(args.robust_model)
    item, image, shaded, truth = worst_under_shading(args.data, builtin)
    fig, axes = plt.subplots(2, 3, figsize=(9, 6.4), dpi=110)
    for row, (shown, title) in enumerate(((image, "as recorded"), (shaded, "uneven light"))):
        grey = shown.astype(np.float32)
        lo, hi = np.percentile(grey, (1, 99.8))
        axes[row, 0].imshow(np.clip((grey - lo) / max(hi - lo, 1e-6), 0, 1), cmap="gray")
        axes[row, 0].set_title(f"{item.name}: {title}", fontsize=8)
        for col, (name, (model, meta)) in enumerate((("nuclei", builtin), ("robust", robust))):
            labels, score = ap50(model, meta, shown, truth)
            axes[row, col + 1].imshow(overlay(shown, labels, (1.0, 0.1, 0.9)))
            axes[row, col + 1].set_title(f"{name}: {labels.max()} nuclei, AP50 {score:.2f}",
                                         fontsize=8)  # fmt: skip
    save(fig, axes, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
