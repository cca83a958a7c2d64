"""Does fine-tuning pay off quickly? The built-in model on a kind of image it never saw.

The built-in ``nuclei`` model was trained on fluorescence nuclei only; histology nuclei
(DSB2018 ``histo_color_*``: dark, stained nuclei on pink tissue) are a kind it never saw.
Fine-tune it on k = 1, 2, 4 annotated histology images of the ``dsb2018_full`` train split
for a budget of CPU minutes each (the steps that fit, measured by a short trial, so the
learning-rate schedule runs to its end), and score the 18 histology test images (never
trained on). Zero-shot is the built-in model as it ships.

Usage::

    python benchmarks/finetune.py --data DSB2018_FULL --minutes 1 3 --k 1 2 4 --out rows.jsonl
    python benchmarks/finetune.py --table rows.jsonl

``--score-on val`` scores the kind's four validation images (train rows the built-in models
never trained on; the training images are then drawn from the other train rows) instead of
its test images, for choices that must not be tuned on the test split.
``--init auto`` starts from the built-in model chosen for the training images instead (as the
Train dock does: ``nuclei-brightfield`` for histology), ``--init nuclei-brightfield`` names it.

Each row is appended to ``--out`` as a JSON line as soon as it is measured.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import dsb_full  # noqa: E402

KIND = "histo"


def score(model, meta, test) -> dict:
    """Scores of ``model`` on the loaded test pairs."""
    from napari_unet import segment

    preds = [segment(model, image, metadata=meta, device="cpu") for image, _ in test]
    return dsb_full.scores([labels for _, labels in test], preds)


def steps_per_minute(pairs, config, init: str = "nuclei") -> float:
    """Training steps per minute on this machine, from a 20-step trial."""
    from dataclasses import replace

    from napari_unet import train

    # A fixed rate: the trial times steps, not the start model's scoring (auto rate).
    trial = replace(config, steps=20, val_every=1000, lr=config.base_lr)
    start = time.perf_counter()
    train(pairs, trial, init=init)
    return 20 / ((time.perf_counter() - start) / 60)


def fine_tune(pairs, config, steps: int, init: str = "nuclei"):
    """The built-in model fine-tuned for ``steps`` on ``pairs``: (model, metadata, minutes).

    The metadata is the trainer's, as the Train dock hands it to the Predict dock.
    """
    from dataclasses import replace

    from napari_unet import train

    start = time.perf_counter()
    result = train(pairs, replace(config, steps=steps, val_every=steps), init=init)
    return result.model.eval(), result.metadata, (time.perf_counter() - start) / 60


def main(argv=None) -> int:
    """Measure and append the rows, or print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=Path("../shared/data/dsb2018_full"))
    p.add_argument("--k", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--minutes", type=float, nargs="+", default=[1, 3, 10])
    p.add_argument("--lr", type=float, default=None, help="default: the trainer's choice (auto)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--init", default="nuclei", help="built-in start model, or auto")
    p.add_argument("--score-on", choices=("test", "val"), default="test")
    p.add_argument("--out", type=Path)
    p.add_argument("--table", type=Path, help="print the table of a results file")
    args = p.parse_args(argv)
    if args.table:
        print(table(args.table))
        return 0
    import torch

    from napari_unet import TrainConfig, make_pairs, pretrained

    torch.set_num_threads(args.threads)
    held = 4 if args.score_on == "val" else 0  # the recipes' --extra-val 4
    parts = dsb_full.split(args.data, kinds=(KIND,), extra_val=held)
    scored = [i for i in parts[args.score_on] if i.kind == KIND]
    test = [dsb_full.load(args.data, item) for item in scored]
    rng = np.random.default_rng(0)
    order = [parts["train"][i] for i in rng.permutation(len(parts["train"]))]
    first = dsb_full.load(args.data, order[0])[0]  # auto: chosen as for the training images
    model, meta = pretrained(args.init, image=first)
    zero = {"k": 0, "minutes": 0, "steps": 0, "init": args.init, "scored": args.score_on}
    dsb_full.append_row(args.out, {**zero, **score(model, meta, test)})
    config = TrainConfig(model="small", lr=args.lr, val_fraction=0.0, device="cpu")
    for k in args.k:
        loaded = [dsb_full.load(args.data, item) for item in order[:k]]
        pairs = make_pairs(*zip(*loaded, strict=True), in_channels=1, **config.pair_options())
        rate = steps_per_minute(pairs, config, args.init)
        for minutes in args.minutes:
            steps = max(1, int(rate * minutes))
            model, meta, spent = fine_tune(pairs, config, steps, args.init)
            row = {"k": k, "minutes": minutes, "steps": steps, "train_min": spent}
            row |= {"init": args.init, "source": meta["provenance"]["source"]}
            row |= {"scored": args.score_on, "first": order[0].name}
            chosen = meta["provenance"]
            row |= {"lr": chosen["lr"], "auto": args.lr is None, "start_ap50": chosen["start_ap50"]}
            dsb_full.append_row(args.out, {**row, **score(model, meta, test)})
    return 0


def table(path: Path) -> str:
    """The Markdown table of the rows in ``path``."""
    rows = dsb_full.read_rows(path)
    zero = next((r for r in rows if r["k"] == 0), None)
    out = [
        "| annotated images | learning rate | CPU minutes | steps | AP50 | gain over zero-shot "
        "| DSB score |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    seen_zero = False
    for r in sorted(rows, key=lambda r: (r["k"], -r.get("lr", 0), r["minutes"])):
        if r["k"] == 0 and seen_zero:  # every run scores the zero-shot model: once is enough
            continue
        seen_zero = seen_zero or r["k"] == 0
        gain = r["ap50"] - zero["ap50"] if zero else float("nan")
        k = "0 (zero-shot)" if r["k"] == 0 else r["k"]
        lr = f"{r['lr']:g}" if "lr" in r else ""
        lr = f"auto ({lr})" if r.get("auto") else lr
        out.append(
            f"| {k} | {lr} | {r['minutes']:g} | {r['steps']} | {r['ap50']:.3f} | {gain:+.3f} | "
            f"{r['dsb']:.3f} |"
        )
    return "\n".join(out)


if __name__ == "__main__":
    raise SystemExit(main())
