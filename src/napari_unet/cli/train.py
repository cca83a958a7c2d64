"""``napari-unet train``: train or fine-tune a U-Net from image/label files.

Shows a progress bar on stderr, prints validation metrics, writes every event as a JSON
line (``--log``), and on Ctrl-C stops after the current step and still saves the model.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from pathlib import Path

from napari_unet.core.errors import InputError


def add_parser(subparsers) -> None:
    """Register the ``train`` subcommand."""
    from napari_unet.core.device import PRECISIONS
    from napari_unet.core.train_config import OPTIMIZERS, PRESETS, SCHEDULES

    p = subparsers.add_parser(
        "train",
        help="train or fine-tune a U-Net on images and instance labels",
        description=(
            "Train (or fine-tune, or resume) a U-Net on image/instance-label pairs. Pixels "
            "outside --regions masks are ignored (partial annotation). Prints progress and "
            "validation metrics, logs JSON lines, and saves the model (and NAME.best when "
            "validating). Ctrl-C stops after the current step and still saves."
        ),
    )
    p.add_argument(
        "--images",
        nargs="+",
        required=True,
        type=Path,
        metavar="IMG",
        help="training images (files, or folders of images)",
    )
    p.add_argument(
        "--labels",
        nargs="+",
        required=True,
        type=Path,
        metavar="LAB",
        help="instance label images, one per image (same order)",
    )
    p.add_argument(
        "--regions",
        nargs="+",
        type=Path,
        metavar="MASK",
        help="annotated-region masks, one per image (non-zero = annotated)",
    )
    p.add_argument(
        "-o",
        "--output",
        required=True,
        type=Path,
        metavar="MODEL",
        help="model file to write (.safetensors)",
    )
    p.add_argument(
        "--arch",
        default="small",
        choices=sorted(PRESETS),
        help="architecture preset (default: small)",
    )
    p.add_argument("--steps", type=int, default=500, help="total optimisation steps (500)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (Adam 1e-3, SGD 1e-2)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="adam")
    p.add_argument("--schedule", choices=SCHEDULES, default="cosine")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--crop-size", type=int, default=128, help="crop side (rounded to legal)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument(
        "--precision",
        choices=("auto", *PRECISIONS),
        default="auto",
        help="arithmetic on the GPU (auto: fp16 on CUDA, fp32 elsewhere; bf16 on recent GPUs)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        help="threads preparing batches (0: automatic, 1 on a CPU, up to 4 on a GPU)",
    )
    p.add_argument(
        "--init",
        type=Path,
        metavar="MODEL",
        help="fine-tune from this model file or built-in model (nuclei)",
    )
    p.add_argument(
        "--resume",
        type=Path,
        metavar="MODEL",
        help="continue a run saved by this command (its optimiser state beside it)",
    )
    p.add_argument(
        "--val",
        "--val-images",
        dest="val_images",
        nargs="+",
        type=Path,
        metavar="IMG",
        help="validation images",
    )
    p.add_argument(
        "--val-labels",
        nargs="+",
        type=Path,
        metavar="LAB",
        help="validation labels, one per validation image",
    )
    p.add_argument(
        "--val-fraction",
        type=float,
        default=None,
        help="without --val: hold out this fraction of the largest image (0.2)",
    )
    p.add_argument("--val-every", type=int, default=100, help="steps between validations")
    p.add_argument("--grey", action="store_true", help="average colour channels to one")
    p.add_argument("--no-augment", action="store_true", help="disable augmentation")
    p.add_argument(
        "--zoom",
        type=float,
        default=0.0,
        metavar="F",
        help="random zoom by up to 1+F either way (augmentation scale; 0: off, 0.4 for nuclei)",
    )
    p.add_argument("--dice", type=float, default=0.0, help="weight of a Dice loss term")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--log",
        type=Path,
        metavar="JSONL",
        help="JSON-lines log of every event (default: MODEL with .jsonl)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _expand(paths: list[Path], what: str) -> list[Path]:
    from napari_unet.core.io import IMAGE_SUFFIXES

    out: list[Path] = []
    for p in paths:
        if p.is_dir() and p.suffix.lower() != ".zarr":
            found = sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise InputError(f"{what}: folder {p} holds no image files")
            out.extend(found)
        else:
            out.append(p)
    return out


def _read(paths: list[Path], grey: bool = False) -> list:
    import numpy as np

    from napari_unet.core.io import read_image

    arrays = []
    for p in paths:
        a = np.asarray(read_image(p))
        if grey and a.ndim == 3 and a.shape[-1] in (3, 4):
            a = a[..., :3].mean(axis=-1, dtype=np.float32)
        arrays.append(a)
    return arrays


def _load_pairs(images, labels, regions, config, grey):
    from napari_unet.core.data import make_pairs

    images, labels = _expand(images, "--images"), _expand(labels, "--labels")
    if len(images) != len(labels):
        raise InputError(f"{len(images)} images but {len(labels)} label files; give one each")
    if regions is not None:
        regions = _expand(regions, "--regions")
        if len(regions) != len(images):
            raise InputError(f"{len(images)} images but {len(regions)} region masks")
        regions = _read(regions)
    return make_pairs(
        _read(images, grey),
        _read(labels),
        regions,
        names=[p.name for p in images],
        **config.pair_options(),
    )


def _config(args):
    from napari_unet.core.augment import NO_AUGMENT, AugmentConfig
    from napari_unet.core.train_config import TrainConfig

    lr = args.lr if args.lr is not None else (1e-3 if args.optimizer == "adam" else 1e-2)
    val_fraction = args.val_fraction
    if val_fraction is None:
        val_fraction = 0.0 if args.val_images else 0.2
    return TrainConfig(
        model=args.arch,
        steps=args.steps,
        lr=lr,
        optimizer=args.optimizer,
        schedule=args.schedule,
        batch_size=args.batch_size,
        crop_size=args.crop_size,
        device=args.device,
        val_every=args.val_every,
        val_fraction=val_fraction,
        dice_weight=args.dice,
        seed=args.seed,
        precision=args.precision,
        workers=args.workers,
        augment=(NO_AUGMENT if args.no_augment else AugmentConfig(scale=args.zoom)).to_dict(),
    )


def _jsonable(event) -> dict:
    from dataclasses import asdict

    d = {"event": type(event).__name__}
    for k, v in asdict(event).items():
        d[k] = str(v) if isinstance(v, Path) else v
    return d


def run(args: argparse.Namespace) -> int:
    """Train; return 0 (also after Ctrl-C, once the model is saved)."""
    from tqdm import tqdm

    from napari_unet.core.train import train
    from napari_unet.core.train_config import (
        Checkpoint,
        Evaluation,
        Preview,
        TrainStarted,
        TrainStep,
    )

    if not args.output.parent.is_dir() and str(args.output.parent):
        raise InputError(f"cannot write {args.output}: folder {args.output.parent} does not exist")
    if args.init and args.resume:
        raise InputError("give either --init (fine-tune) or --resume (continue a run), not both")
    if bool(args.val_images) != bool(args.val_labels):
        raise InputError("--val and --val-labels go together: give validation images and labels")
    config = _config(args)
    pairs = _load_pairs(args.images, args.labels, args.regions, config, args.grey)
    val = None
    if args.val_images:
        val = _load_pairs(args.val_images, args.val_labels, None, config, args.grey)
    if args.init is not None:
        from napari_unet.core.pretrained import resolve_model

        args.init = resolve_model(args.init)
    for p in [args.init, args.resume]:
        if p is not None and not p.exists():
            raise InputError(f"{p}: model file not found")
    log_path = args.log or args.output.with_suffix(".jsonl")
    stop = threading.Event()

    def on_sigint(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("\nstopping after the current step (Ctrl-C again to abort)", file=sys.stderr)

    old = None
    with contextlib.suppress(ValueError):  # not the main thread: no handler
        old = signal.signal(signal.SIGINT, on_sigint)
    gen = train(
        pairs, config, val=val, stop=stop, init=args.init, resume=args.resume, output=args.output
    )
    bar = None
    try:
        with open(log_path, "w", encoding="utf-8") as log:
            while True:
                try:
                    ev = next(gen)
                except StopIteration as done:
                    result = done.value
                    break
                if not isinstance(ev, Preview):
                    log.write(json.dumps(_jsonable(ev)) + "\n")
                    log.flush()
                if isinstance(ev, TrainStarted):
                    print(
                        f"training on {ev.device}: {ev.n_pairs} image(s), {ev.n_val} for "
                        f"validation, crops {ev.input_size}->{ev.output_size} px, steps "
                        f"{ev.start_step}->{ev.total_steps}",
                        file=sys.stderr,
                    )
                    bar = tqdm(
                        total=ev.total_steps,
                        initial=ev.start_step,
                        unit="step",
                        disable=args.quiet,
                        file=sys.stderr,
                        dynamic_ncols=True,
                    )
                elif isinstance(ev, TrainStep) and bar is not None:
                    bar.update(ev.step - bar.n)
                    bar.set_postfix(
                        loss=f"{ev.loss:.4f}", lr=f"{ev.lr:.2g}", img_s=f"{ev.images_per_s:.1f}"
                    )
                elif isinstance(ev, Evaluation):
                    m = ev.metrics
                    msg = (
                        f"step {ev.step}: val_loss {m['val_loss']:.4f}  pixel_iou "
                        f"{m['pixel_iou']:.3f}  ap50 {m['ap50']:.3f}"
                    )
                    (bar.write if bar is not None else print)(msg)
                elif isinstance(ev, Checkpoint) and ev.kind == "best" and bar is not None:
                    bar.write(f"best so far -> {ev.path}")
    finally:
        if bar is not None:
            bar.close()
        if old is not None:
            signal.signal(signal.SIGINT, old)
    state = "stopped" if result.stopped else "finished"
    print(f"{state} at step {result.steps_done}; saved {args.output}")
    if result.best_metrics:
        from napari_unet.core.checkpoint import best_path

        b = result.best_metrics
        print(
            f"best: step {b['step']}, ap50 {b['ap50']:.3f}, pixel_iou {b['pixel_iou']:.3f} "
            f"-> {best_path(args.output)}"
        )
    print(f"log: {log_path}")
    return 0
