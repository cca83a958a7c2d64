"""``napari-unet predict``: segment TIFF/PNG files, folders and Zarr stores with a model file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from napari_unet.cli._args import (
    add_background_option,
    add_option,
    channel_choice,
    progress_bar,
    run_each,
)
from napari_unet.cli._outdir import make_folder, remove_made
from napari_unet.cli._predict_sources import (
    check_sources,
    named_after,
    no_label_stores,
    read_path,
)
from napari_unet.cli._predict_store import store_for
from napari_unet.cli.predict_package import input_pixel_size, write_labels
from napari_unet.core.errors import InputError
from napari_unet.core.images.io import is_zarr, read_image, write_image, wrong_output_kind
from napari_unet.core.images.named import check_planes
from napari_unet.core.inference.cluster import check_scheduler
from napari_unet.core.inference.scale import AUTO


def add_parser(subparsers) -> None:
    """Register the ``predict`` subcommand."""
    parser = subparsers.add_parser(
        "predict",
        help="segment images with a trained model (seamless tiles, any size)",
        description=(
            "Predict instance labels (and optionally class probabilities) for TIFF/PNG files, "
            "folders of them and Zarr stores, by seamless tiled prediction. Writes "
            "NAME_labels.tif (NAME_labels.zarr for Zarr input: an OME-Zarr label image placed "
            "as an OME-Zarr input) into OUTDIR; never overwrites an input. Post-processing "
            "not given follows the model file's recommendation."
        ),
    )
    add_option(parser, "model", key="model", metavar="MODEL")
    add_option(parser, "inputs", key="inputs", type=Path, nargs="+", metavar="INPUT")
    add_option(parser, "-o", "--outdir", key="outdir", type=Path, required=True)
    add_predictor_options(parser)
    add_option(parser, "--probabilities", key="probabilities", action="store_true")
    add_option(parser, "--flips", key="flips", action="store_true")
    add_background_option(parser)
    from napari_unet.core.inference.postprocess import Postprocess

    for flag, key, kind in (
        ("--threshold", "threshold", float), ("--min-size", "min_size", int),
        ("--split", "split", float), ("--seed-level", "seed_level", float),
    ):  # fmt: skip
        shown = f"the model's recommendation, else {getattr(Postprocess, key):g}"
        add_option(parser, flag, key=key, type=kind, default=None, shown_default=shown)
    add_option(parser, "--object-size", key="object_size", metavar="PX|estimate|auto|none")
    add_option(parser, "--scheduler", key="scheduler", metavar="ADDRESS")
    add_option(parser, "--overwrite", key="overwrite", action="store_true")
    parser.set_defaults(func=run)


def add_predictor_options(parser) -> None:
    """``--tile``, ``--batch``, ``--device``, ``--precision`` and ``--channel`` (predict, slide)."""
    from napari_unet.core.device import DEFAULT_PRECISION, PRECISIONS

    add_option(parser, "--tile", key="tile", type=int, default=None, shown_default="automatic")
    cuda = "1; on a CUDA GPU with --tile, as many tiles as fit half its memory"
    add_option(parser, "--batch", key="batch", type=int, default=None, shown_default=cuda)
    add_option(parser, "--device", key="device", default="auto")
    add_option(
        parser, "--precision", key="precision", choices=PRECISIONS, default=DEFAULT_PRECISION,
    )  # fmt: skip
    add_option(
        parser, "--channel", key="channel", type=channel_choice, default=None,
        metavar="auto|mean|N", shown_default="auto",
    )  # fmt: skip


def collect_inputs(paths: list[Path], images_only: bool = False) -> list[Path]:
    """Expand folders into the images they hold (not recursively); keep files and stores.

    With ``images_only``, a folder's files named as the labels or other results of an image
    beside them (``NAME_labels.tif``, ``NAME_masks.tif`` beside ``NAME.png``) are left out,
    as ``measure`` and the Review dock read a folder
    (:func:`~napari_unet.core.review.folders.images_only`), and a note on stderr says how
    many: before, they were segmented as images (``NAME_masks_labels.tif``), and a second
    run into the folder found its own earlier output among the inputs. Files given by name
    are always kept. A file given twice (by name, or by name and in a folder given too) is
    kept once, where it first came, with a note on stderr: before, the run was refused as
    "two inputs would both write" its output.
    """
    from napari_unet.core.images.io import IMAGE_SUFFIXES
    from napari_unet.core.review.folders import images_only as without_labels

    found: list[Path] = []
    for p in paths:
        if not p.exists():
            raise InputError(f"{p}: no such file or folder")
        if is_zarr(p) or p.is_file():
            found.append(p)
        elif p.is_dir():
            inside = sorted(
                q
                for q in p.iterdir()
                if q.suffix.lower() in IMAGE_SUFFIXES and not q.name[0] == "."
            )
            if not inside:
                raise InputError(f"{p}: the folder holds no {'/'.join(IMAGE_SUFFIXES)} images")
            kept = without_labels(inside) if images_only else inside
            if len(kept) < len(inside):
                left = [q.name for q in inside if q not in kept]
                print(
                    f"napari-unet predict: note: {p}: left out {len(left)} file(s) named as the "
                    f"labels or results of an image beside them ({', '.join(left[:3])}"
                    f"{', ...' if len(left) > 3 else ''}); give a file by name to segment it",
                    file=sys.stderr,
                )
            found.extend(no_label_stores(p, kept) if images_only else kept)
    return once(found)


def once(found: list[Path], command: str = "predict") -> list[Path]:
    """``found`` less the repeats of a file (the same folder and name), in the first order.

    A note on stderr names the files given more than once (``command``: whose note).
    """
    kept: dict[Path, Path] = {}
    repeats: list[str] = []
    for p in found:  # the folder resolved, not the name: a link named otherwise is its own input
        key = p.parent.resolve() / p.name
        if key not in kept:
            kept[key] = p
        elif str(kept[key]) not in repeats:
            repeats.append(str(kept[key]))
    if repeats:
        print(
            f"napari-unet {command}: note: {len(repeats)} input(s) given more than once "
            f"({', '.join(repeats[:3])}{', ...' if len(repeats) > 3 else ''}); each is "
            "used once",
            file=sys.stderr,
        )
    return list(kept.values())


def _outputs(src: Path, outdir: Path, probabilities: bool, store: bool = False) -> dict:
    """The output paths of ``src``; ``store``: its probabilities are a Zarr store anyway.

    With ``--scheduler`` every input's probabilities are written chunk by chunk into a Zarr
    store: before, a TIFF input's went into a folder named ``NAME_probabilities.tif``, which
    no TIFF reader opens and which a rerun with ``--overwrite`` refused as a folder.
    """
    suffix = ".zarr" if is_zarr(src) else ".tif"
    name = named_after(src).name  # slide.zarr/0: slide (measure's and the Review's name)
    stem = name[: -len(Path(name).suffix)] if Path(name).suffix else name
    out = {"labels": outdir / f"{stem}_labels{suffix}"}
    if probabilities:
        out["probabilities"] = outdir / f"{stem}_probabilities{'.zarr' if store else suffix}"
    return out


def _check_outputs(plan: list[tuple[Path, dict]], overwrite: bool) -> None:
    """Refuse, before any work, outputs that are inputs, shared, taken or of the wrong kind."""
    inputs = {p.resolve() for src, _ in plan for p in (src, named_after(src))}
    seen: set[Path] = set()
    for _, outs in plan:
        for path in outs.values():
            r = path.resolve()
            if r in inputs or any(parent in inputs for parent in r.parents):
                raise InputError(f"{path} is an input; refusing to overwrite it")
            if r in seen:
                raise InputError(f"two inputs would both write {path}; rename one of them")
            seen.add(r)
            wrong = wrong_output_kind(path)
            if wrong:  # --overwrite would not help: found before the prediction, not after
                raise InputError(f"cannot write {path}: {wrong}")
            if path.exists() and not overwrite:
                raise InputError(f"{path} exists; pass --overwrite to replace it")


def run(args: argparse.Namespace) -> int:
    """Predict every input; return 0 on success, 143 when ended by SIGTERM.

    SIGTERM (a job's time limit, ``kill``, ``timeout``) ends a run as Ctrl-C does: the
    temporary stores beside the outputs are removed. Before, the process died at once and
    left ``OUTDIR/..NAME.probabilities.tmp.zarr.PID.XXXX.tmp`` behind.
    """
    from napari_unet.cli._signals import TERMINATED_STATUS, Terminated, sigterm_raises

    try:
        with sigterm_raises():
            return _predict_all(args)
    except Terminated:
        print(
            "napari-unet predict: terminated (SIGTERM); its temporary stores were removed",
            file=sys.stderr,
        )
        return TERMINATED_STATUS


def _predict_all(args: argparse.Namespace) -> int:
    for name in ("tile", "batch"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise InputError(f"--{name} must be a positive integer; got {value}")
    if args.split is not None and args.split < 0:
        raise InputError(f"--split must be >= 0 pixels (0 turns it off); got {args.split}")
    args.object_size = _object_size(args)
    if args.scheduler and args.background == "flatten":  # before: "read chunk by chunk
        raise InputError(  # (a dask or Zarr image)", said of a PNG
            "--background flatten cannot be combined with --scheduler: flattening needs the "
            "whole plane in memory, and with --scheduler each image is predicted on the "
            "cluster chunk by chunk; predict without --scheduler, or with --background auto "
            "or keep"
        )
    check_scheduler(args.scheduler)  # a malformed address: before any image is read
    sources = once([read_path(p) for p in collect_inputs(args.inputs, images_only=True)])
    damaged = check_sources(sources)  # a label image's ids are no pixels: before any work
    if args.outdir.exists() and not args.outdir.is_dir():
        raise InputError(f"{args.outdir} exists and is not a folder")
    store = bool(args.scheduler)  # predicted on the cluster into a Zarr store
    plan = [(src, _outputs(src, args.outdir, args.probabilities, store)) for src in sources]
    _check_outputs(plan, args.overwrite)
    made = make_folder(args.outdir)
    status = 2
    try:
        status = _predict_into(args, plan, damaged)
    finally:
        if status:  # a wrong model name or --threshold: the folder made is not left behind
            remove_made(made)
    return status


def _predict_into(args: argparse.Namespace, plan: list, damaged: dict) -> int:
    from napari_unet.cli.predict_package import load_or_run

    loaded = load_or_run(args, plan)  # another tool's bioimage.io package runs there
    if isinstance(loaded, int):
        return loaded
    parts = _Parts(args, loaded)

    def one(src: Path, outs: dict) -> None:
        if src in damaged:  # its own error line; the others are still predicted
            raise damaged[src]
        image = read_image(src)
        predictor, post, metadata = parts.get(src, image)
        check_planes(src, image, predictor.in_channels)  # a z-stack is not 2-4 channels
        labels = _predict_one(predictor, post, src, image, outs, args, metadata)
        write_labels(outs["labels"], labels, src, args.overwrite)
        n = len(np.unique(labels)) - (1 if (labels == 0).any() else 0)
        print(f"{src} -> {outs['labels']} ({n} objects)")
        if "probabilities" in outs:
            print(f"{src} -> {outs['probabilities']} (probabilities)")

    return run_each(plan, "predict", one)


class _Parts:
    """The predictor, post-processing and metadata for each input.

    One model for all inputs; with the built-in name ``auto``, the built-in model chosen for
    each image (:func:`~napari_unet.core.models.pretrained.choose_pretrained`), each loaded
    once and said once per image.
    """

    def __init__(self, args, loaded: tuple | None) -> None:
        self.args, self.made = args, {}
        if loaded is not None:
            self.made[None] = self._make(*loaded)

    def get(self, src: Path, image) -> tuple:
        if None in self.made:
            return self.made[None]
        from napari_unet.core.models.modelfile import load_model
        from napari_unet.core.models.pretrained import KINDS, choose_pretrained, pretrained_path

        name = choose_pretrained(image, channel=self.args.channel)
        print(f"{src}: built-in model {name} (auto: {KINDS[name]})")
        if name not in self.made:
            self.made[name] = self._make(*load_model(pretrained_path(name), device="cpu"))
        return self.made[name]

    def _make(self, model, metadata) -> tuple:
        from napari_unet.core.inference.plan import Predictor
        from napari_unet.core.inference.postprocess import Postprocess

        a = self.args
        if a.object_size not in (None, AUTO):
            from napari_unet.core.inference.scale import training_object_size

            training_object_size(metadata)  # a model without one is refused before any work
        post = Postprocess.for_model(
            metadata, threshold=a.threshold, min_size=a.min_size, split=a.split,
            seed_level=a.seed_level,
        )  # fmt: skip
        predictor = Predictor(
            model, tile=a.tile, batch=a.batch, device=a.device, precision=a.precision,
            metadata=metadata, channel=a.channel, flips=a.flips, background=a.background,
            denoise=a.denoise,
        )  # fmt: skip
        return predictor, post, metadata


def _object_size(args) -> float | str | None:
    """``--object-size`` checked: pixels, ``"estimate"``, ``"auto"`` or None.

    Not given: ``"auto"`` (None with --scheduler); ``none``: None (the image's own scale).
    """
    from napari_unet.core.inference.scale import check_object_size

    try:
        size = AUTO if args.object_size is None else check_object_size(args.object_size)
    except InputError as exc:
        raise InputError(f"--object-size: {exc}") from None
    if size == AUTO and args.scheduler:  # predicted on the cluster: at the image's scale
        return None
    if size is not None and args.scheduler:
        raise InputError(
            "--object-size cannot be combined with --scheduler: the image is rescaled in this "
            "process; predict without --scheduler, or without --object-size"
        )
    return size


def _predict_one(predictor, post, src: Path, image, outs: dict, args, metadata) -> np.ndarray:
    """Labels of one input; its probabilities written too when asked for.

    Zarr input and cluster runs predict chunk by chunk into a Zarr store (kept as the
    probabilities output, else a temporary store removed afterwards); files in memory, and
    Zarr input with an object size too (rescaled into memory, plane by plane). The object
    size used is printed, and each sign that the image is unlike the model's training data
    is printed as a warning line on stderr.
    """
    from napari_unet.core.images.background import describe_flattened
    from napari_unet.core.images.photons import describe_denoised
    from napari_unet.core.inference.instances import labels_and_foreground
    from napari_unet.core.inference.scale import ObjectSize
    from napari_unet.core.inference.segment import iter_labels, result_warnings
    from napari_unet.core.progress import drain

    sizes: list[ObjectSize] = []
    with progress_bar(src.name, "tile") as bar:
        if args.scheduler or (is_zarr(src) and args.object_size in (None, AUTO)):
            with store_for(src, outs, args.outdir) as store:
                gen = predictor.iter_to_zarr(image, store, args.scheduler,
                                             overwrite=args.overwrite)  # fmt: skip
                probs = drain(gen, bar=bar)
                labels, foreground = labels_and_foreground(
                    probs, predictor.head, post, predictor.foreground_class
                )
        else:
            gen = iter_labels(
                predictor, post, image, object_size=args.object_size, metadata=metadata
            )
            keep = lambda e: sizes.append(e) if isinstance(e, ObjectSize) else None  # noqa: E731
            labels, foreground, probs = drain(gen, keep, bar=bar)
            if "probabilities" in outs:
                px = input_pixel_size(src)
                write_image(outs["probabilities"], np.asarray(probs), pixel_size=px)
    for size in sizes:
        print(f"{src}: object size {size.describe()}")
    planes = int(np.prod(labels.shape[:-2], dtype=int))
    for note in (describe_flattened(predictor.flattened, planes, "--background keep"),
                 describe_denoised(predictor.denoised, planes, "--denoise off")):  # fmt: skip
        if note:
            print(f"{src}: {note}")
    size = sizes[-1] if sizes else None
    found = result_warnings(labels, foreground, metadata, image, size, post.threshold, predictor)
    for text in found:
        print(f"napari-unet predict: warning: {src}: {text}", file=sys.stderr)
    return labels
