"""Objects the built-in model calls in fields without cells, with and without the noise floor.

Empty fields: for each DSB2018 fluorescence validation image and every third train image
(``dsb_full.split``; test images are not used), the first 96 x 96 px window (on a 32 px
grid) that lies more than 5 px from every annotated nucleus, when the image has one. Plus a
field of Gaussian noise alone (160 x 160, level 100, sd 5). Each is segmented by the
built-in ``nuclei`` model with everything by default, once with the percentile
normalisation's ``noise_floor`` off (0) and once at its default (3); every object found is
false. Prints a Markdown table.

    python benchmarks/empty_fields.py --data DSB2018_FULL [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import dsb_full  # noqa: E402

SIDE = 96


def empty_windows(data: Path) -> list[np.ndarray]:
    """The empty windows described above (first channel of colour images)."""
    from scipy import ndimage

    parts = dsb_full.split(data, kinds=("fluo",))
    items = parts["val"] + sorted(parts["train"], key=lambda i: i.name)[::3]
    found = []
    for item in items:
        image, truth = dsb_full.load(data, item)
        grey = image if image.ndim == 2 else image[..., 0]
        near = ndimage.binary_dilation(truth > 0, iterations=5)
        h, w = truth.shape
        corners = [(y, x) for y in range(0, h - SIDE + 1, 32) for x in range(0, w - SIDE + 1, 32)
                   if not near[y : y + SIDE, x : x + SIDE].any()]  # fmt: skip
        if corners:
            y, x = corners[0]
            found.append(grey[y : y + SIDE, x : x + SIDE])
    return found


def main(argv=None) -> int:
    """Print the table."""
    import torch

    from napari_unet import pretrained, segment

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path("../shared/data/dsb2018_full"))
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    model, meta = pretrained("nuclei")
    windows = empty_windows(args.data)
    noise = (100 + np.random.default_rng(0).normal(0, 5, (160, 160))).astype(np.float32)
    print(f"{len(windows)} empty {SIDE} px windows of DSB2018 fluorescence val/train images")
    print()
    print("| noise_floor | objects in the empty windows | objects in the noise field |")
    print("|---:|---:|---:|")
    for floor in (0, 3):
        spec = {**meta["normalization"], "noise_floor": floor}
        counts = []
        for fields in (windows, [noise]):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                counts.append(sum(int(segment(model, f, metadata={**meta, "normalization": spec})
                                      .max()) for f in fields))  # fmt: skip
        print(f"| {floor} | {counts[0]} | {counts[1]} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
