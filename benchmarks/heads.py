"""Head ablation on the full DSB2018 set: each head, with and without the paper's weight map.

Every run trains the same network (the ``small`` preset: 16 base channels, 4 levels) from
scratch with the same budget (steps, batch, crops, seed) on the fluorescence train images of
``dsb2018_full`` (its fixed split, less the validation images of :mod:`dsb_full`), keeps the
checkpoint with the best validation AP50, chooses the post-processing on the validation
images by the DSB score, and scores the fluorescence test images (never seen before).
"With weight map" is the paper's ``w0 = 10, sigma = 5``; "without" is ``w0 = 0`` (class
balancing only).

Usage::

    python benchmarks/heads.py run --data DSB2018_FULL --head distance --w0 10 \\
        --steps 1200 --out results.jsonl --models WORKDIR
    python benchmarks/heads.py table results.jsonl
    python benchmarks/heads.py speed --models WORKDIR [--size 1024]

``run`` appends one JSON line per configuration (so runs can go one at a time, in the
background); ``table`` prints the Markdown table; ``speed`` times each head's network and
post-processing on a synthetic image (and the network with test-time flips).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import dsb_full  # noqa: E402

PRESET = {"arch": "unet", "base_channels": 16, "depth": 4, "padding": "same", "batch_norm": True}


def run(args) -> dict:
    """Train one configuration, choose its post-processing, score the test images."""
    import torch

    from napari_unet import TrainConfig, save_model, train

    torch.set_num_threads(args.threads)
    parts = dsb_full.split(args.data, kinds=("fluo",))
    config = TrainConfig(
        model={**PRESET, "head": args.head}, steps=args.steps, val_every=max(args.steps // 4, 1),
        batch_size=4, crop_size=128, w0=args.w0, seed=args.seed, device="cpu",
    )  # fmt: skip
    t0 = time.perf_counter()
    pairs = dsb_full.make_pairs_of(args.data, parts["train"], config)
    val = dsb_full.make_pairs_of(args.data, parts["val"], config)
    prep = time.perf_counter() - t0
    t0 = time.perf_counter()
    result = train(pairs, config, val=val)
    spent = time.perf_counter() - t0
    model, meta = result.best_model().eval(), result.metadata
    val_images = [np.asarray(p.raw[0]) for p in val]
    post, _ = dsb_full.choose_post(model, meta, val_images, [p.labels for p in val])
    meta["postprocess"] = post
    t0 = time.perf_counter()
    scores = dsb_full.score_items(model, meta, args.data, parts["test"])
    predict_s = time.perf_counter() - t0
    row = {
        "head": args.head, "w0": args.w0, "steps": args.steps, "seed": args.seed,
        "train_min": spent / 60, "prep_s": prep, "predict_s": predict_s, "post": post,
        "best_step": (result.best_metrics or {}).get("step"),
        **scores,
    }  # fmt: skip
    if args.models is not None:
        args.models.mkdir(parents=True, exist_ok=True)
        save_model(args.models / f"{args.head}_w0-{args.w0:g}.safetensors", model, **meta)
    dsb_full.append_row(args.out, row)
    return row


def table(path: Path) -> str:
    """The Markdown table of the JSON lines in ``path``."""
    rows = dsb_full.read_rows(path)
    out = [
        "| head | weight map | AP50 | DSB score | AP50 per image | touching AP50 | "
        "train min | best step | post-processing |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["head"], -r["w0"])):
        w = f"w0 = {r['w0']:g}" if r["w0"] else "none"
        post = ", ".join(f"{k} {v:g}" for k, v in r["post"].items())
        out.append(
            f"| {r['head']} | {w} | {r['ap50']:.3f} | {r['dsb']:.3f} | "
            f"{r['ap50_per_image']:.3f} | {r['touching_ap50']:.3f} | {r['train_min']:.1f} | "
            f"{r['best_step']} | {post} |"
        )
    return "\n".join(out)


def speed(args) -> str:
    """Seconds to segment one image per head, network and post-processing apart, and flips."""
    import torch

    from napari_unet import Predictor, load_model, touching_cells
    from napari_unet.core.inference.postprocess import Postprocess
    from napari_unet.core.progress import drain

    torch.set_num_threads(args.threads)
    image, _ = touching_cells((args.size, args.size), n_cells=args.size**2 // 900, seed=0)
    out = [
        "| head | network (s) | post-processing (s) | with flips: network (s) |",
        "|---|---:|---:|---:|",
    ]
    for head in ("paper", "3class", "distance"):
        model, meta = load_model(args.models / f"{head}_w0-10.safetensors")
        row = []
        for flips in (False, True):
            predictor = Predictor(model, metadata=meta, device="cpu", flips=flips)
            drain(predictor.iter_probabilities(image[:256, :256]))  # warm-up
            t0 = time.perf_counter()
            probs = drain(predictor.iter_probabilities(image))
            row.append(time.perf_counter() - t0)
            if not flips:
                t0 = time.perf_counter()
                predictor.instances(probs, Postprocess.for_model(meta))
                row.append(time.perf_counter() - t0)
        out.append(f"| {head} | {row[0]:.2f} | {row[1]:.2f} | {row[2]:.2f} |")
    return "\n".join(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="train and score one configuration")
    r.add_argument("--data", type=Path, default=Path("../shared/data/dsb2018_full"))
    r.add_argument("--head", default="paper", choices=("paper", "3class", "distance"))
    r.add_argument("--w0", type=float, default=10.0)
    r.add_argument("--steps", type=int, default=1200)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--threads", type=int, default=2)
    r.add_argument("--out", type=Path, required=True, help="JSON lines file to append to")
    r.add_argument("--models", type=Path, help="folder for the trained model files")
    t = sub.add_parser("table", help="print the table of a results file")
    t.add_argument("results", type=Path)
    s = sub.add_parser("speed", help="time each head on a synthetic image")
    s.add_argument("--models", type=Path, required=True, help="the folder run --models wrote")
    s.add_argument("--size", type=int, default=1024)
    s.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    if args.command == "table":
        print(table(args.results))
        return 0
    if args.command == "speed":
        print(speed(args))
        return 0
    run(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
