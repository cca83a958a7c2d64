"""``napari-unet train``: train or fine-tune a U-Net from image/label files.

Shows a progress bar on stderr, prints validation metrics, writes every event as a JSON
line (``--log``), and on Ctrl-C stops after the current step and still saves the model.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import threading
from pathlib import Path

from napari_unet.cli._args import add_option, learning_rate
from napari_unet.cli._signals import sigint_stops
from napari_unet.cli._train_checks import check_paths as _check_paths
from napari_unet.cli._train_inputs import expand as _expand
from napari_unet.cli._train_inputs import read as _read
from napari_unet.cli._train_inputs import refuse_masks
from napari_unet.cli._train_report import _Log, _Reporter
from napari_unet.core.errors import InputError


def add_parser(subparsers) -> None:
    """Register the ``train`` subcommand."""
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
    paths = {"nargs": "+", "type": Path}
    add_option(p, "--images", key="train_images", required=True, metavar="IMG", **paths)
    add_option(p, "--labels", key="label_files", required=True, metavar="LAB", **paths)
    add_option(p, "--regions", key="region_files", metavar="MASK", **paths)
    add_option(p, "-o", "--output", key="output", required=True, type=Path, metavar="MODEL")
    _add_settings(p)
    add_option(p, "--init", key="init", type=Path, metavar="MODEL")
    add_option(p, "--resume", key="resume", type=Path, metavar="MODEL")
    add_option(
        p, "--val", "--val-images", key="val_images", dest="val_images", nargs="+", type=Path,
        metavar="IMG",
    )  # fmt: skip
    add_option(p, "--val-labels", key="val_label_files", metavar="LAB", **paths)
    add_option(p, "--grey", key="grey", action="store_true")
    add_option(p, "--no-augment", key="no_augment", action="store_true")
    add_option(p, "--robust", key="robust", action="store_true")
    add_option(p, "--log", key="log", type=Path, metavar="JSONL")
    add_option(p, "-q", "--quiet", key="quiet", action="store_true")
    add_option(p, "--overwrite", key="overwrite", action="store_true")
    p.set_defaults(func=run)


def _add_settings(p) -> None:
    """The options that fill :class:`TrainConfig`, with its defaults."""
    from napari_unet.core.device import PRECISIONS
    from napari_unet.core.models.heads import DEFAULT_HEAD, HEADS
    from napari_unet.core.training import config
    from napari_unet.core.training.augment import AugmentConfig

    d = config.TrainConfig
    presets = sorted(config.PRESETS)
    add_option(
        p, "--arch", key="arch", default=None, choices=presets,
        shown_default=f"{config.DEFAULT_PRESET}; with --init or --resume, the model's",
    )  # fmt: skip
    add_option(
        p,
        "--head",
        key="head",
        default=None,
        choices=sorted(HEADS),
        shown_default=(f"{DEFAULT_HEAD}; with --init or --resume, the model's"),
    )
    add_option(p, "--steps", key="steps", type=int, default=None,
               shown_default=f"{d.steps}; with --resume, the run's own total")  # fmt: skip
    rates = ", ".join(f"{k} {v:g}" for k, v in config.DEFAULT_LR.items())
    add_option(
        p, "--lr", key="lr", type=learning_rate, default=None, metavar="LR|auto",
        shown_default=f"auto; from scratch {rates}",
    )  # fmt: skip
    # Settings a resumed run keeps unless given again: None here, filled in by _config.
    kept = lambda value: {"default": None, "shown_default": f"{value}; with --resume, the run's"}  # noqa: E731
    add_option(p, "--optimizer", key="optimizer", choices=config.OPTIMIZERS, **kept(d.optimizer))
    add_option(p, "--schedule", key="schedule", choices=config.SCHEDULES, **kept(d.schedule))
    add_option(p, "--batch-size", key="batch_size", type=int, **kept(d.batch_size))
    add_option(p, "--crop-size", key="crop_size", type=int, **kept(d.crop_size))
    add_option(p, "--device", key="device", default=d.device)
    add_option(
        p, "--precision", key="train_precision", choices=("auto", *PRECISIONS),
        default=d.precision,
    )  # fmt: skip
    add_option(p, "--workers", key="workers", type=int, default=d.workers)
    add_option(
        p, "--augment-on", key="augment_on", choices=config.AUGMENT_PLACES, **kept(d.augment_on)
    )
    holdout = f"{config.HOLDOUT_FRACTION} without --val; with --resume, the run's"
    add_option(p, "--val-fraction", key="val_fraction", type=float, shown_default=holdout)
    add_option(p, "--val-every", key="val_every", type=int, **kept(d.val_every))
    add_option(p, "--zoom", key="zoom", type=float, metavar="F", **kept(AugmentConfig.scale))
    add_option(p, "--dice", key="dice", type=float, **kept(d.dice_weight))
    add_option(p, "--seed", key="seed", type=int, **kept(d.seed))


def _start_channels(args) -> int | None:
    """The input channels of the model a run starts from (None from scratch: the images')."""
    start = args.init or args.resume
    if start is None:
        return None
    from napari_unet.core.models.modelfile import input_channels
    from napari_unet.core.models.pretrained import resolve_model

    return input_channels(resolve_model(start))


#: Endings of region mask names: ``a_region.tif`` is the region of the image ``a``.
REGION_ENDINGS = ("_regions", "_region", "_masks", "_mask")


def _load_pairs(images, labels, regions, config, grey, in_channels=None, validation=False):
    from napari_unet.cli._label_pairs import one_pair_by_name
    from napari_unet.cli._train_inputs import check_not_own_labels, image_and_label_files
    from napari_unet.core.training.pairs import make_pairs

    flags = ("--val", "--val-labels") if validation else ("--images", "--labels")
    # one label file and one image, both named: paired whatever their names (as measure and
    # evaluate pair them); else b_labels.tif never goes with c.png (b.png left the folder)
    loose = one_pair_by_name(images, labels)
    images, labels = image_and_label_files(images, labels, flags)
    if len(images) != len(labels):
        raise InputError(f"{len(images)} images ({flags[0]}) but {len(labels)} label files "
                         f"({flags[1]}); give one label file per image")  # fmt: skip
    # Each label file goes with the image of its name (a_labels.tif with a.png), whatever
    # order the folders list them in; names that differ pair in the order given (a note).
    from napari_unet.cli.measure import pair_images

    order = {image: k for k, image in enumerate(images)}
    paired = sorted(pair_images(labels, images, "train", flag=flags[0], loose=loose),
                    key=lambda t: order[t[2]])  # fmt: skip
    check_not_own_labels(paired, flags)
    labels = [label for _, label, _ in paired]
    if regions is not None:  # by name too: a_region.tif, a_mask.tif or a.tif with a.png
        regions = _expand(regions, "--regions")
        if len(regions) != len(images):
            raise InputError(f"{len(images)} images but {len(regions)} region masks")
        found = sorted(pair_images(regions, images, "train", REGION_ENDINGS, "region masks"),
                       key=lambda t: order[t[2]])  # fmt: skip
        regions = _read([region for _, region, _ in found], labels=True)
    label_arrays = _read(labels, labels=True)
    refuse_masks(label_arrays, labels)  # a 0/255 mask: all its cells one object
    return make_pairs(
        _read(images, grey, like=label_arrays),  # the labels tell the channel axis (--grey)
        label_arrays,
        regions,
        names=[p.name for p in images],
        in_channels=in_channels,
        validation=validation,
        **config.pair_options(),
    )


def _model_config(args, resumed=None) -> dict:
    """The network to train: ``--arch``, ``--head``; from --init/--resume the model's own."""
    from napari_unet.core.training.config import DEFAULT_PRESET, PRESETS

    head = {"head": args.head} if args.head else {}
    if args.init is None and resumed is None:
        return {**PRESETS[args.arch or DEFAULT_PRESET], **head}
    if args.arch is not None:
        if resumed is not None:
            have, what = resumed.model.config, f"--resume {args.resume.name}"
        else:
            from napari_unet.core.models.modelfile import read_metadata

            have, what = read_metadata(args.init).get("config") or {}, f"--init {args.init.name}"
        if any(have.get(k) != v for k, v in PRESETS[args.arch].items()):
            shape = ", ".join(f"{k} {have.get(k)}" for k in PRESETS[args.arch])
            raise InputError(
                f"--arch {args.arch} does not match the model of {what} ({shape}): fine-tuning "
                "and resuming keep the model's architecture; leave --arch out, or train from "
                "scratch without --init/--resume"
            )
    return head


def _config(args, resumed=None):
    """The run's settings: those given, else the resumed run's (``resumed``), else defaults.

    A resumed run continues as it ran (optimiser, rate, batch, crops, augmentation...);
    before, every setting not given again fell back to its default, and a run switched from
    SGD to Adam silently dropped its optimiser state.
    """
    from dataclasses import replace

    from napari_unet.cli._train_checks import resumed_steps, val_fraction
    from napari_unet.core.training.augment import NO_AUGMENT, ROBUST, AugmentConfig
    from napari_unet.core.training.config import TrainConfig

    base = resumed.config if resumed is not None else TrainConfig()
    augment = base.augment
    for flag, given in (("--robust", args.robust), ("--zoom", args.zoom is not None)):
        if args.no_augment and given:  # before, --zoom was dropped silently
            raise InputError(f"{flag} is an augmentation; it cannot go with --no-augment")
    changes = {} if args.zoom is None else {"scale": args.zoom}
    changes |= ROBUST if args.robust else {}
    if args.no_augment:
        augment = NO_AUGMENT.to_dict()
    elif resumed is None:
        augment = AugmentConfig(**changes).to_dict()
    elif changes:  # a resumed run keeps the rest of its augmentation
        augment = replace(AugmentConfig.from_dict(base.augment), **changes).to_dict()
    given = {
        "optimizer": args.optimizer, "schedule": args.schedule, "batch_size": args.batch_size,
        "crop_size": args.crop_size, "val_every": args.val_every, "dice_weight": args.dice,
        "seed": args.seed, "augment_on": args.augment_on,
    }  # fmt: skip
    kept = {k: getattr(base, k) if v is None else v for k, v in given.items()}
    # Resumed with another optimiser, the run's rate is scaled (lr_choice): before, its
    # --lr was copied, and SGD trained at Adam's rate "set by the user".
    same = resumed is not None and kept["optimizer"] == base.optimizer
    return TrainConfig(
        model=_model_config(args, resumed),
        steps=resumed_steps(args, resumed),
        lr=base.lr if args.lr is None and same else args.lr,
        device=args.device,
        val_fraction=val_fraction(args, resumed),
        precision=args.precision,
        workers=args.workers,
        augment=augment,
        **kept,
    )


def run(args: argparse.Namespace) -> int:
    """Train; return 0 (also after Ctrl-C, once the model is saved), else 1, 130 or 143.

    1: the model went to a fallback file, as ``-o`` could not be written (or another
    program wrote it meanwhile: it is never replaced so, nor while another run holds it,
    :mod:`~napari_unet.core.training.output_claim`); 143: SIGTERM
    (a batch job's time limit, ``timeout``) stopped the run, which was saved as Ctrl-C saves;
    130 (143 for SIGTERM): stopped before its first step, nothing saved.
    """
    with contextlib.ExitStack() as held:  # the claim on -o, taken by the checks
        _check_paths(args, held)
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from napari_unet.core.progress import drain
    from napari_unet.core.training.trainer import iter_train

    resumed = None
    if args.resume is not None:
        from napari_unet.core.training.checkpoint import load_resume

        resumed = load_resume(args.resume)
    from napari_unet.core.training.checkpoint import with_start_normalization

    config = with_start_normalization(_config(args, resumed), args.init, resumed)
    channels = _start_channels(args)
    pairs = _load_pairs(args.images, args.labels, args.regions, config, args.grey, channels)
    val = None
    if args.val_images:
        from napari_unet.cli._train_checks import warn_validation_trained_on

        val = _load_pairs(args.val_images, args.val_labels, None, config, args.grey, channels,
                          validation=True)  # fmt: skip
        warn_validation_trained_on(pairs, val)
    log_path = args.log
    with sigint_stops(threading.Event()) as stop, contextlib.closing(_Log(log_path)) as log:
        report = _Reporter(log, args.quiet)
        gen = iter_train(
            pairs, config, val=val, stop=stop, init=args.init, resume=resumed,
            output=args.output,
        )  # fmt: skip
        try:
            result = drain(gen, report)
        except (KeyboardInterrupt, Exception) as exc:  # a second Ctrl-C, or an error after
            for event in getattr(exc, "events", ()):  # the save: logged as a stop's is
                report(event)
            saved = getattr(getattr(exc, "result", None), "saved_to", None)  # steps: kept
            if saved is not None:
                how = "aborted" if isinstance(exc, KeyboardInterrupt) else "failed"
                print(f"\n{how} at step {exc.result.steps_done}; saved {saved}", file=sys.stderr)
            raise
        finally:
            if report.bar is not None:
                report.bar.close()
    state, code = "stopped" if result.stopped else "finished", 0
    if result.saved_to is None:  # before, 0: `train ... && predict` went on without a model
        print(f"{state} at step {result.steps_done} before any training step; nothing saved",
              file=sys.stderr)  # fmt: skip
        code = (stop.exit_status or 130) if result.stopped else 1
    elif result.saved_to != args.output:
        print(f"{state} at step {result.steps_done}; {args.output} was not written (the "
              f"warning above says why): the model was saved to {result.saved_to}",
              file=sys.stderr)  # fmt: skip
        code = 1  # before, 0: a script went on without the model it asked for
    else:
        print(f"{state} at step {result.steps_done}; saved {args.output}")
    if result.best_metrics and result.saved_to is not None:  # nothing saved: no best either
        from napari_unet.core.training.checkpoint import best_path

        b = result.best_metrics
        print(
            f"best: step {b['step']}, ap50 {b['ap50']:.3f}, pixel_iou {b['pixel_iou']:.3f} "
            f"-> {best_path(args.output)}"
        )
    print(f"log: {log_path}")
    return code or stop.exit_status or 0
