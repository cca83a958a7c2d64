"""How often ``auto`` chooses the wrong built-in model, as recorded and under uneven light.

Every image of the chosen splits of ``dsb2018_full`` (default: train and val; ``--splits
test`` only scores the test images, nothing is set on them) is judged as recorded and with
light added: rising along the diagonal by 0.5, 1, 1.5 and 2 times the image's 0.5-99.5
percentile range, and vignetting (brightest in the centre) falling by 0.5, 1 and 1.5 times
it to the corners. *as recorded* is the rule before a bright plane was judged again
without its light (its background level above ``BRIGHT_BACKGROUND``); *now* is
``choose_pretrained``. Fluorescence should get ``nuclei``, histology and brightfield
``nuclei-brightfield``. Also judged: a sparse field, the image's background pixels drawn at
random over 1024 x 1024 (or the image's size if larger) with only 1 or 3 of its objects
(from its ground truth) kept where they were (the *strength* column gives how many). Prints
a Markdown table of the wrong choices and the time per call.

    python benchmarks/auto_choice.py --data DSB2018_FULL [--splits train val]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import dsb_full  # noqa: E402

LIGHTS = [
    ("as recorded", 0.0), ("rising", 0.5), ("rising", 1.0), ("rising", 1.5), ("rising", 2.0),
    ("vignetting", 0.5), ("vignetting", 1.0), ("vignetting", 1.5),
]  # fmt: skip


def lit(image: np.ndarray, kind: str, strength: float) -> np.ndarray:
    """``image`` (float32) under the light ``kind`` of ``strength`` times its range."""
    if kind == "as recorded":
        return image
    span = dsb_full._signal(image)[1]
    if kind == "rising":
        rows, cols = (np.linspace(0.0, 1.0, n) for n in image.shape[:2])
        light = 0.5 * strength * (rows[:, None] + cols[None, :]) * span
    else:
        rows, cols = (np.linspace(-1.0, 1.0, n) for n in image.shape[:2])
        light = strength * span * (1 - (rows[:, None] ** 2 + cols[None, :] ** 2) / 2)
    return image + (light[..., None] if image.ndim == 3 else light)


def sparse(image: np.ndarray, labels: np.ndarray, k: int, rng) -> np.ndarray:
    """A field of ``image``'s background pixels with ``k`` of its objects (1024 px or more)."""
    from scipy import ndimage as ndi

    near = ndi.binary_dilation(labels > 0, iterations=4)
    background = image[~near]
    h, w = labels.shape
    field = background[rng.integers(0, len(background), (max(h, 1024), max(w, 1024)))]
    ids = rng.permutation(np.unique(labels[labels > 0]))[:k]
    keep = ndi.binary_dilation(np.isin(labels, ids), iterations=3)
    field[:h, :w][keep] = image[keep]
    return field


def main(argv=None) -> int:
    """Print the table."""
    from napari_unet.core.images.contrast import BRIGHT_BACKGROUND, _grey_planes, _plane_level
    from napari_unet.core.models.pretrained import choose_pretrained

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path("../shared/data/dsb2018_full"))
    p.add_argument("--splits", nargs="+", default=["train", "val"],
                   choices=("train", "val", "test"))  # fmt: skip
    args = p.parse_args(argv)
    rows = [r for r in dsb_full.read_index(args.data) if r.split in args.splits]
    wrong: dict = {}
    seconds = []
    rng = np.random.default_rng(0)
    for item in rows:
        image, labels = dsb_full.load(args.data, item)
        image = np.asarray(image, np.float32)
        want = "nuclei" if item.kind == "fluo" else "nuclei-brightfield"
        group = "fluorescence" if item.kind == "fluo" else "histology and brightfield"
        for kind, strength in [*LIGHTS, ("sparse field", 1), ("sparse field", 3)]:
            if kind == "sparse field":
                im = sparse(image, labels, strength, rng)
            else:
                im = lit(image, kind, strength)
            before = _plane_level(_grey_planes(im, None, None)[0][0].ravel())
            bright = before is not None and before > BRIGHT_BACKGROUND  # (no padding here)
            old = "nuclei-brightfield" if bright else "nuclei"
            start = time.perf_counter()
            new = choose_pretrained(im)
            seconds.append(time.perf_counter() - start)
            counts = wrong.setdefault((group, kind, strength), [0, 0, 0])
            counts[0] += old != want
            counts[1] += new != want
            counts[2] += 1
    print(f"DSB2018 {' and '.join(args.splits)} images; wrong choices of auto")
    print()
    print("| images | light | strength | images | as recorded | now |")
    print("|---|---|---:|---:|---:|---:|")
    for (group, kind, strength), (old, new, n) in sorted(wrong.items()):
        print(f"| {group} | {kind} | {strength:g} | {n} | {old} | {new} |")
    print()
    print(f"choose_pretrained per call: median {np.median(seconds):.3f} s, "
          f"max {max(seconds):.3f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
