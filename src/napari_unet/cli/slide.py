"""``napari-unet slide``: predict and label a whole-slide Zarr image chunk by chunk.

SIGTERM (a job's time limit, ``kill``, ``timeout``) ends a run as Ctrl-C does: the scratch
stores and the temporary label store are removed, the image is left as it was, and the
command exits with status 143 (128 + 15). Before, the process died at once and left the
scratch (8 bytes a pixel) hidden in the image's ``labels`` folder.
"""

from __future__ import annotations

import argparse
import os
import sys
from contextlib import contextmanager
from pathlib import Path

from napari_unet.cli._args import add_option, progress_bar
from napari_unet.cli._signals import TERMINATED_STATUS, Terminated, sigterm_raises
from napari_unet.core.errors import InputError


def add_parser(subparsers) -> None:
    """Register the ``slide`` subcommand."""
    from napari_unet.cli.predict import add_predictor_options
    from napari_unet.core.inference.postprocess import Postprocess
    from napari_unet.core.inference.slidestore import MARGIN

    parser = subparsers.add_parser(
        "slide",
        help="label a whole-slide Zarr / OME-Zarr image chunk by chunk (out of core, clusters)",
        description=(
            "Predict and label an image bigger than memory chunk by chunk: instance ids stay "
            "consistent across chunk borders, the result is an OME-Zarr label pyramid "
            "(INPUT/labels/NAME for OME-Zarr input, else OUTPUT). Runs in this process, on a "
            "local cluster (--workers) or on a dask.distributed cluster (--scheduler)."
        ),
    )
    add_option(parser, "model", key="slide_model", metavar="MODEL")
    add_option(parser, "input", key="slide_input", type=Path, metavar="INPUT")
    add_option(
        parser,
        "-o",
        "--output",
        key="slide_output",
        dest="slide_output",
        type=Path,
        default=None,
        metavar="OUTPUT",
    )
    add_option(
        parser,
        "--name",
        key="labels_name",
        dest="labels_name",
        default="napari-unet",
        metavar="NAME",
    )
    add_option(
        parser,
        "--block",
        key="block",
        type=int,
        default=None,
        shown_default="the prediction chunk side",
    )
    add_option(parser, "--margin", key="margin", type=int, default=MARGIN)
    add_predictor_options(parser)
    for flag, key, kind in (
        ("--threshold", "threshold", float), ("--min-size", "min_size", int),
        ("--split", "split", float),
    ):  # fmt: skip
        shown = f"the model's recommendation, else {getattr(Postprocess, key):g}"
        add_option(parser, flag, key=key, type=kind, default=None, shown_default=shown)
    where = parser.add_mutually_exclusive_group()
    add_option(where, "--scheduler", key="scheduler", metavar="ADDRESS")
    add_option(
        where,
        "--workers",
        key="cluster_workers",
        dest="cluster_workers",
        type=int,
        default=0,
        metavar="N",
    )
    add_option(parser, "--overwrite", key="overwrite", action="store_true")
    parser.set_defaults(func=run)


@contextmanager
def local_cluster(workers: int):
    """A ``distributed.Client`` of a new local cluster of ``workers`` processes (1 thread each).

    Each worker's torch uses ``cores // workers`` threads, so one worker and two workers
    use the same cores.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise InputError("--workers needs dask.distributed: pip install distributed") from exc
    threads = max(1, (os.cpu_count() or 1) // workers)
    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster, set_as_default=False) as client,  # used explicitly (iter_tasks)
    ):
        client.run(_set_threads, threads)
        yield client


def _set_threads(n: int) -> None:
    import torch

    torch.set_num_threads(n)


def run(args: argparse.Namespace) -> int:
    """Label one whole-slide image; return 0 on success, 143 when ended by SIGTERM."""
    try:
        with sigterm_raises():
            return _label(args)
    except Terminated:
        print(
            "napari-unet slide: terminated (SIGTERM); its scratch and temporary stores were "
            "removed",
            file=sys.stderr,
        )
        return TERMINATED_STATUS


def _label(args: argparse.Namespace) -> int:
    from napari_unet.core.device import choose_device
    from napari_unet.core.images.omezarr import check_label_name
    from napari_unet.core.inference.cluster import check_scheduler
    from napari_unet.core.inference.plan import Predictor
    from napari_unet.core.inference.postprocess import Postprocess
    from napari_unet.core.inference.slide import iter_segment_slide, slide_tile
    from napari_unet.core.inference.slidestore import check_slide_input, check_store_name
    from napari_unet.core.models.modelfile import load_model
    from napari_unet.core.progress import drain

    for name in ("tile", "batch"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise InputError(f"--{name} must be a positive integer; got {value}")
    if args.cluster_workers < 0:
        raise InputError(f"--workers must be >= 0; got {args.cluster_workers}")
    if not args.input.exists():
        raise InputError(f"{args.input}: no such Zarr store")
    check_slide_input(args.input)  # a TIFF: plain words, before the model is loaded
    out = args.slide_output
    if out is not None:  # before the model is loaded (iter_segment_slide refuses it too)
        check_store_name(out, f"-o {out}")
    check_label_name(args.labels_name)  # before the model is loaded (iter_segment_slide too)
    check_scheduler(args.scheduler)  # likewise; before: after the whole slide was read
    _check_writable(args)
    model, metadata = load_model(_model_file(args), device="cpu")
    post = Postprocess.for_model(
        metadata, threshold=args.threshold, min_size=args.min_size, split=args.split
    )
    tile = args.tile or slide_tile(model, choose_device(args.device), args.batch or 1,
                                   args.precision)  # fmt: skip
    predictor = Predictor(
        model, tile=tile, batch=args.batch, device=args.device, precision=args.precision,
        metadata=metadata, channel=args.channel,
    )  # fmt: skip
    src, result = args.input, None
    try:
        with _scheduler(args) as scheduler, progress_bar(src.name, "block") as bar:

            def stage(event) -> None:
                bar.set_description(f"{src.name}: {event.stage}", refresh=False)

            result = drain(
                iter_segment_slide(
                    predictor,
                    post,
                    src,
                    args.slide_output,
                    name=args.labels_name,
                    margin=args.margin,
                    block=args.block,
                    scheduler=scheduler,
                    overwrite=args.overwrite,
                ),  # fmt: skip
                stage,
                bar=bar,
            )
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM; once the labels are written: a success
        if result is None:
            raise
        print(
            "napari-unet slide: interrupted while closing the cluster; the labels are complete",
            file=sys.stderr,
        )
    _summary(src, result)
    return 0


def _summary(src: Path, result) -> None:
    """What the run wrote, and the out-of-domain warnings."""
    times = ", ".join(f"{k} {v:.1f} s" for k, v in result.seconds.items())
    print(
        f"{src} -> {result.path} ({result.n_objects} objects, {result.levels} levels, "
        f"{result.blocks} blocks; {times})"
    )
    if result.n_whole:
        print(f"{src}: {result.n_whole} objects larger than --margin allows were not split")
    for text in result.warnings:  # out of the model's domain, as predict says
        print(f"napari-unet slide: warning: {src}: {text}", file=sys.stderr)


def _check_writable(args: argparse.Namespace) -> None:
    """Refuse a folder the labels cannot be written in, before the model is loaded.

    Before, the scratch folder's creation failed with a raw errno. A missing folder or an
    existing folder that is no label store is refused later, with the input's other checks.
    """
    from napari_unet.core.files import _zarr_store, check_outputs

    out = args.slide_output
    if out is None:  # inside an OME-Zarr image: its labels folder, made if missing
        labels = args.input / "labels"
        out, folder = labels / args.labels_name, labels if labels.is_dir() else args.input
        if folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK):
            raise InputError(  # before: named <image>/NAME, a path it never writes
                f"cannot write {out}: the folder {folder} is not writable; give -o to write "
                "the labels into a store of their own"
            )
    if out.parent.is_dir() and (not out.is_dir() or _zarr_store(out)):
        check_outputs([out], [])


def _model_file(args: argparse.Namespace) -> Path:
    """The model file; for ``auto``, the built-in model chosen on five windows of the image."""
    from napari_unet.cli._train_checks import not_a_package
    from napari_unet.core.images.io import read_image
    from napari_unet.core.models.pretrained import AUTO, choose_pretrained, resolve_model

    not_a_package(Path(args.model), "MODEL")  # before: "this is a zip archive, not a model file"
    if str(args.model) != AUTO or Path(args.model).is_file():
        return resolve_model(args.model)
    name = choose_pretrained(read_image(args.input, lazy=True), channel=args.channel)
    print(f"{args.input}: built-in model {name} (auto)")
    return resolve_model(name)


@contextmanager
def _scheduler(args):
    if args.cluster_workers:
        with local_cluster(args.cluster_workers) as client:
            yield client
    else:
        yield args.scheduler
