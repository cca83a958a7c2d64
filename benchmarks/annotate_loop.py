"""The annotate-correct-retrain loop of docs/annotate.md, scored on images it never trained on.

Headless twin of ``docs/images/annotate_screenshots.py`` (same steps, same settings as the
docks' defaults there): on the shipped nuclei sample, fine-tune the built-in model on the
ground-truth nuclei of the left third (150 steps, the left third as annotated region), predict
the whole image, accept the prediction in the rest, correct the merged objects (each replaced
by the true nuclei it covers), resume training on the whole image to 225 steps. Every model
(the built-in, the first, the retrained) is scored on the fluorescence test images of
``dsb2018_full`` other than the sample, which none of them saw.

Variants (flags) test what the loop depends on: the fine-tuning learning rate (default: the
trainer's automatic choice, which the retraining turn keeps), and whether the fine-tuned
models keep the post-processing their base model recommends.

Usage::

    python benchmarks/annotate_loop.py --data DSB2018_FULL [--lr 3e-4] [--keep-post] \\
        --out rows.jsonl
    python benchmarks/annotate_loop.py --table rows.jsonl
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import dsb_full  # noqa: E402

#: The sample's name in dsb2018_full (it is one of its test images).
SAMPLE = "011_0402a81e7526"
FIRST_STEPS, SECOND_STEPS = 150, 225


def correct_merges(annotations: np.ndarray, truth: np.ndarray, columns: slice) -> int:
    """Replace each accepted object covering most of 2+ true nuclei by those nuclei (in place)."""
    part = annotations[:, columns]
    fixed = 0
    for i in [int(i) for i in np.unique(part) if i]:
        own = annotations == i
        inside = [t for t in np.unique(truth[own]) if t]
        covered = [t for t in inside if own[truth == t].mean() > 0.5]
        if len(covered) >= 2:
            annotations[own] = 0
            for t in covered:
                annotations[truth == t] = annotations.max() + 1
            fixed += 1
    return fixed


def run(args) -> dict:
    """One turn of the loop; the scores of the three models on the held-out images."""
    import torch

    from napari_unet import TrainConfig, make_pairs, pretrained, segment, train
    from napari_unet.core.annotation.edits import merge_prediction
    from napari_unet.sample_data import nuclei_data

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    image, truth = nuclei_data()
    h, w = truth.shape
    third = w // 3
    first_ids = [int(i) for i in np.unique(truth[:, :third]) if i]
    annotations = np.where(np.isin(truth, first_ids), truth, 0).astype(np.int32)
    region = np.zeros((h, w), bool)
    region[:, :third] = True
    config = TrainConfig(
        model="small", steps=FIRST_STEPS, crop_size=96, val_every=50, lr=args.lr,
        val_fraction=0.2, device="cpu",
    )  # fmt: skip
    pairs = make_pairs([image], [annotations], [region], **config.pair_options())
    first = train(pairs, config, init="nuclei")
    base_model, base_meta = pretrained("nuclei")
    post = base_meta["postprocess"] if args.keep_post else None
    meta1 = with_post(first.best_metadata(), post)
    prediction = segment(first.best_model(), image, metadata=meta1, device="cpu")
    accepted = merge_prediction(annotations, prediction, ~region)
    fixed = correct_merges(accepted, truth, slice(third, w))
    pairs = make_pairs([image], [accepted], **config.pair_options())
    second = train(pairs, replace(config, steps=SECOND_STEPS, lr=args.retrain_lr), resume=first)
    meta2 = with_post(second.best_metadata(), post)
    test = [
        dsb_full.load(args.data, item)
        for item in dsb_full.split(args.data, kinds=("fluo",))["test"]
        if item.name != SAMPLE
    ]
    chosen, rechosen = first.metadata["provenance"], second.metadata["provenance"]
    row = {"lr": chosen["lr"], "keep_post": args.keep_post, "merges_fixed": fixed}
    row |= {"retrain_lr": rechosen["lr"], "auto": args.lr is None}
    row |= {"lr_reason": chosen["lr_reason"], "start_ap50": chosen["start_ap50"]}
    for name, model, meta in (
        ("built-in", base_model, base_meta),
        ("first", first.best_model(), meta1),
        ("retrained", second.best_model(), meta2),
    ):
        preds = [segment(model, im, metadata=meta, device="cpu") for im, _ in test]
        s = dsb_full.scores([t for _, t in test], preds)
        sample = dsb_full.scores([truth], [segment(model, image, metadata=meta, device="cpu")])
        row[name] = {"held_out": s, "sample": sample}
    return row


def with_post(metadata: dict, post: dict | None) -> dict:
    """The metadata, with the post-processing ``post`` recommended (None: as it is)."""
    return dict(metadata) if post is None else {**metadata, "postprocess": dict(post)}


def table(path: Path) -> str:
    """The Markdown table of the rows in ``path``."""
    rows = dsb_full.read_rows(path)
    out = [
        "| learning rate (first, retraining) | post-processing | model | held-out AP50 | "
        "held-out DSB score | AP50 on the sample (trained on) |",
        "|---|---|---|---:|---:|---:|",
    ]
    for r in rows:
        post = "the base model's" if r["keep_post"] else "the trainer's defaults"
        rates = f"{r['lr']:g}, {r.get('retrain_lr', r['lr']):g}"
        if r.get("auto"):
            rates = f"auto ({rates}; start AP50 {r['start_ap50']:.2f})"
        for name in ("built-in", "first", "retrained"):
            s, t = r[name]["held_out"], r[name]["sample"]
            out.append(
                f"| {rates} | {post} | {name} | {s['ap50']:.3f} | {s['dsb']:.3f} | "
                f"{t['ap50']:.3f} |"
            )
    return "\n".join(out)


def main(argv=None) -> int:
    """Run one variant and append its row, or print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path("../shared/data/dsb2018_full"))
    p.add_argument("--lr", type=float, default=None, help="default: the trainer's choice (auto)")
    p.add_argument("--retrain-lr", type=float, help="the retraining turn's (default: kept)")
    p.add_argument("--keep-post", action="store_true")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path)
    p.add_argument("--table", type=Path)
    args = p.parse_args(argv)
    if args.table:
        print(table(args.table))
        return 0
    dsb_full.append_row(args.out, run(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
