"""The built-in starter model on held-out DSB2018 images, against Otsu + watershed.

Prints two Markdown tables:

1. the starter model and a classical baseline (Otsu threshold, distance-transform
   watershed, scikit-image) on the held-out DSB2018 fluorescence images recorded in the
   model file (``provenance.split.test``), computed in the same run;
2. fine-tuning the starter model on ONE image of a kind it never saw (DSB2018
   ``brightfield_gray_1024x1024``, dark nuclei on a bright background) and scoring the
   starter and the fine-tuned model on the other images of that kind.

Usage: ``python benchmarks/starter.py [--data ../shared/data/dsb2018] [--steps 300]``
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from train_starter import load  # noqa: E402


def otsu_watershed(image: np.ndarray, min_size: int = 20) -> np.ndarray:
    """Classical baseline: Otsu foreground, split touching nuclei by distance watershed."""
    from scipy import ndimage
    from skimage.feature import peak_local_max
    from skimage.filters import gaussian, threshold_otsu
    from skimage.morphology import remove_small_objects
    from skimage.segmentation import watershed

    img = gaussian(image.astype(np.float32), sigma=1)
    fg = img > threshold_otsu(img)
    if fg.mean() > 0.5:  # dark objects on a bright background
        fg = ~fg
    fg = remove_small_objects(fg, max_size=min_size - 1)
    dist = ndimage.distance_transform_edt(fg)
    peaks = peak_local_max(dist, min_distance=4, labels=ndimage.label(fg)[0], exclude_border=False)
    markers = np.zeros(fg.shape, np.int32)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return watershed(-dist, markers, mask=fg)


def scores(preds, truths) -> dict:
    """Pooled AP50, mean matched IoU (at 0.5), F1 and PQ, plus the per-image mean AP50."""
    from napari_unet import evaluate, summarize

    s = summarize([evaluate(t, p, thresholds=(0.5,)) for p, t in zip(preds, truths, strict=True)])
    per = s["per_threshold"][0]
    return {
        "AP50": per["ap"],
        "AP50 per image": per["dataset_ap"],
        "mIoU": s["mean_matched_iou"],
        "F1": per["f1"],
        "PQ": s["pq"],
    }


def row(name: str, s: dict) -> str:
    """One Markdown table row."""
    return f"| {name} | " + " | ".join(f"{v:.3f}" for v in s.values()) + " |"


def main(argv=None) -> int:
    """Run both comparisons and print the tables."""
    import torch

    import napari_unet
    from napari_unet import TrainConfig, make_pairs, segment, train
    from napari_unet.core.models.pretrained import pretrained_path

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path("../shared/data/dsb2018"))
    p.add_argument("--steps", type=int, default=300, help="fine-tuning steps")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    model, meta = napari_unet.pretrained("nuclei")
    test = meta["provenance"]["split"]["test"]
    pairs = [load(args.data, n) for n in test]
    truths = [m for _, m in pairs]
    header = "| method | AP50 (pooled) | AP50 (mean per image) | mean matched IoU | F1@0.5 | PQ |"
    print(
        f"Held-out DSB2018 fluorescence: {len(test)} images, "
        f"{sum(int(len(np.unique(m)) - 1) for m in truths)} nuclei\n"
    )
    print(header + "\n|---|---|---|---|---|---|")
    print(
        row(
            "starter U-Net (built in)",
            scores([segment(model, im, metadata=meta) for im, _ in pairs], truths),
        )
    )
    if (meta.get("postprocess") or {}).get("split"):
        print(
            row(
                "starter U-Net, no split of joined nuclei",
                scores([segment(model, im, metadata=meta, split=0) for im, _ in pairs], truths),
            )
        )
    print(
        row(
            "Otsu + watershed (scikit-image)",
            scores([otsu_watershed(im) for im, _ in pairs], truths),
        )
    )

    with open(args.data / "index.csv", newline="") as f:
        kind = sorted(
            r["name"] for r in csv.DictReader(f) if r["group"] == "brightfield_gray_1024x1024"
        )
    train_name, held = kind[0], kind[1:]
    import tifffile
    from PIL import Image

    def grey(name):
        img = np.asarray(Image.open(args.data / "images" / f"{name}.png"))[..., :3].mean(-1)
        return img.astype(np.float32), tifffile.imread(args.data / "masks" / f"{name}.tif")

    tr_img, tr_lab = grey(train_name)
    config = TrainConfig(model="small", steps=args.steps, val_every=args.steps, seed=0)
    tuned = train(
        make_pairs([tr_img], [tr_lab], names=[train_name], **config.pair_options()),
        config,
        init=pretrained_path("nuclei"),
    ).model
    hp = [grey(n) for n in held]
    ht = [m for _, m in hp]
    print(
        f"\nFine-tuning on ONE brightfield_gray image ({train_name}, {args.steps} steps), "
        f"scored on the other {len(held)}:\n"
    )
    print(header + "\n|---|---|---|---|---|---|")
    print(row("starter U-Net", scores([segment(model, im, metadata=meta) for im, _ in hp], ht)))
    print(
        row(
            "fine-tuned from the starter",
            scores([segment(tuned, im, metadata=meta) for im, _ in hp], ht),
        )
    )
    print(row("Otsu + watershed", scores([otsu_watershed(im) for im, _ in hp], ht)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
