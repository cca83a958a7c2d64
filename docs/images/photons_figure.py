"""Draw docs/images/few_photons.png: what the blur of a photon-limited image does.

Of the 20 fluorescence test images of ``benchmarks/robustness.py``, at 5 photons
(``dsb_full.PHOTONS["photons5"]``, seeded as the benchmark seeds it), the image whose AP50
gain from the blur is the median of the 20 (a rule, not a pick). Columns: the image as
recorded, at 5 photons, and the built-in ``nuclei`` model's nuclei with ``denoise="off"``
and ``"auto"`` (the default; magenta outlines, AP50 in the title). Usage::

    python docs/images/photons_figure.py --data DSB2018_FULL [--out FILE]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from brightfield_figure import overlay  # noqa: E402
from heads_figure import save  # noqa: E402
from robustness_figure import ap50, chosen_items, dsb_full  # noqa: E402
from uneven_light_figure import shown  # noqa: E402


def median_gain(data: Path, builtin) -> tuple:
    """``(item, image, dim image, truth, {mode: (labels, AP50)})`` of the median gain."""
    rows = []
    for i, item in enumerate(chosen_items(data, "fluo", 20)):
        image, truth = dsb_full.load(data, item)
        dim = dsb_full.degraded(image, "photons5", seed=i)
        found = {mode: ap50(*builtin, dim, truth, denoise=mode) for mode in ("off", "auto")}
        rows.append((found["auto"][1] - found["off"][1], item.name, item, image, dim, truth, found))
    rows.sort(key=lambda row: row[:2])
    return rows[len(rows) // 2][2:]


def main(argv=None) -> int:
    """Draw the figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from napari_unet import pretrained
    from napari_unet.core.images.photons import photon_count

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path("../shared/data/dsb2018_full"))
    p.add_argument("--out", type=Path, default=Path("docs/images/few_photons.png"))
    args = p.parse_args(argv)
    item, image, dim, truth, found = median_gain(args.data, pretrained("nuclei"))
    fig, axes = plt.subplots(1, 4, figsize=(12, 3.6), dpi=110)
    axes[0].imshow(shown(image), cmap="gray")
    axes[0].set_title(f"{item.name}: as recorded", fontsize=8)
    axes[1].imshow(shown(dim), cmap="gray")
    axes[1].set_title(f"5 photons at its brightest (counted {photon_count(dim):.0f})", fontsize=8)
    for col, mode in ((2, "off"), (3, "auto")):
        labels, score = found[mode]
        axes[col].imshow(overlay(dim, labels, (1.0, 0.1, 0.9)))
        axes[col].set_title(f"denoise={mode}: {labels.max()} nuclei, AP50 {score:.2f}",
                            fontsize=8)  # fmt: skip
    save(fig, axes.reshape(1, -1), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
