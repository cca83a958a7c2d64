"""A model on the test split of the full DSB2018 set, per kind, with and without flips.

Scores a model file (default: the built-in ``nuclei``) on the ``dsb2018_full`` test images of
each kind (fluorescence 115, histology 18, brightfield 2) and on the 19 fluorescence images
held out of the older 82-image subset: AP50 and DSB score, pooled and per image, AP50 on
touching nuclei, and the seconds it took. ``--flips`` adds the same with test-time flips.

Usage::

    python benchmarks/full_test.py --data DSB2018_FULL [--model FILE|NAME|auto] [--flips]

``--model auto`` chooses the built-in model per image (by its background); the last column
then counts the images each model was chosen for.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import dsb_full  # noqa: E402

GROUPS = ("fluo", "histo", "brightfield", "held_out_19")


def items_of(data: Path, group: str):
    """The test items of a group (``held_out_19``: the fluorescence ones of the old subset)."""
    if group == "held_out_19":
        return [i for i in dsb_full.split(data, kinds=("fluo",))["test"] if i.subset]
    return dsb_full.split(data, kinds=(group,))["test"]


def main(argv=None) -> int:
    """Print one Markdown row per group (and per flips setting)."""
    import warnings

    import torch

    from napari_unet import load_model, pretrained
    from napari_unet.core.inference.domain import DomainWarning

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path("../shared/data/dsb2018_full"))
    p.add_argument("--model", help="model file or built-in name, or auto (default: nuclei)")
    p.add_argument("--flips", action="store_true", help="also score with test-time flips")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore", DomainWarning)  # histology is out of a grey model's domain
    from napari_unet.core.models.pretrained import AUTO, PRETRAINED

    name = args.model or "nuclei"
    if name == AUTO:
        model, meta = AUTO, None
    else:
        model, meta = pretrained(name) if name in PRETRAINED else load_model(name)
    print(
        "| images | flips | n | AP50 | DSB score | AP50 per image | DSB per image | "
        "touching AP50 | seconds |" + (" models chosen |" if model == AUTO else "")
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|" + ("---|" if model == AUTO else ""))
    for flips in (False, True) if args.flips else (False,):
        for group in GROUPS:
            items = items_of(args.data, group)
            start = time.perf_counter()
            s = dsb_full.score_items(model, meta, args.data, items, flips=flips)
            spent = time.perf_counter() - start
            print(
                f"| {group} | {'yes' if flips else 'no'} | {s['n_images']} | {s['ap50']:.3f} | "
                f"{s['dsb']:.3f} | {s['ap50_per_image']:.3f} | {s['dsb_per_image']:.3f} | "
                f"{s['touching_ap50']:.3f} | {spent:.0f} |" + _chosen(s),
                flush=True,
            )
    return 0


def _chosen(s: dict) -> str:
    if "chosen" not in s:
        return ""
    return " " + ", ".join(f"{k} {v}" for k, v in sorted(s["chosen"].items())) + " |"


if __name__ == "__main__":
    raise SystemExit(main())
