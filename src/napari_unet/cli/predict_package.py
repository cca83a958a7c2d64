"""``napari-unet predict`` with a bioimage.io package as the model (docs/models.md).

A package napari-unet exported is imported and predicts as its model file does; another
tool's 2D package is run through bioimageio.core's prediction pipeline
(:class:`~napari_unet.core.exchange.foreign.ForeignModel`): its labels output is written as
``NAME_labels.tif``; a one-channel probability output is turned into instances by
napari-unet's post-processing (``--threshold``, ``--min-size``, ``--split``); with several
probability channels only ``--probabilities`` can be written.

The labels and probabilities of both kinds of model are written alike
(:func:`write_labels`, :func:`input_pixel_size`): before, another tool's were written bare,
a TIFF without the input's pixel size (``measure`` then gave pixels), a Zarr store without
the OME-Zarr placement or the napari-unet labels mark, and a file another run wrote
meanwhile was replaced unasked. The helpers live here, not in
:mod:`~napari_unet.cli.predict`, because that module imports this one.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from napari_unet.core.errors import InputError


def load_or_run(args: argparse.Namespace, plan: list[tuple[Path, dict]]):
    """``(model, metadata)`` for the predict command, or the exit status of another tool's.

    ``args.model`` is a model file, a built-in name or a bioimage.io package; another
    tool's package predicts every input of ``plan`` here. None for ``auto``, which chooses a
    built-in model per image.
    """
    from napari_unet.core.exchange.identity import is_package_file
    from napari_unet.core.models.modelfile import load_model
    from napari_unet.core.models.pretrained import AUTO, is_pretrained_name, resolve_model

    if str(args.model) == AUTO and is_pretrained_name(args.model):
        return None
    # By its bytes too, as import reads it: a package renamed .bmz (before: "this is a zip
    # archive, not a napari-unet model file", though import took it)
    if Path(str(args.model)).suffix.lower() != ".zip" and not is_package_file(args.model):
        return load_model(resolve_model(args.model), device="cpu")
    from napari_unet.core.exchange.foreign import open_bioimageio

    opened = open_bioimageio(args.model, device="cpu")
    if isinstance(opened, tuple):
        return opened
    opened.device = args.device
    return run_foreign(args, opened, plan)


def input_pixel_size(src: Path) -> tuple[float, float] | None:
    """The input's pixel size, written into the TIFF outputs (before, they had none)."""
    from napari_unet.core.images.io import is_zarr
    from napari_unet.core.images.pixels import read_pixel_size

    return None if is_zarr(src) else read_pixel_size(src)


def write_labels(path: Path, labels, src: Path, overwrite: bool) -> None:
    """The labels output: a TIFF with the input's pixel size, or a Zarr store.

    A Zarr input's labels are an OME-Zarr label image with the scale, translation and units
    of an OME-Zarr input (before, a bare array: napari drew it at scale 1 and at the
    origin, off the image), else a plain array marked as napari-unet labels
    (:func:`~napari_unet.core.inference.slidestore.write_labels_store`).
    """
    from napari_unet.core.images.io import write_image

    if not overwrite and path.exists():  # absent at the start (predict's _check_outputs)
        raise InputError(
            f"{path}: another run wrote it while this one worked; use --overwrite to replace it"
        )
    if path.suffix.lower() != ".zarr":
        write_image(path, labels, pixel_size=input_pixel_size(src))
        return
    from napari_unet.core.images.omezarr import open_image
    from napari_unet.core.inference.slidestore import write_labels_store

    write_labels_store(path, labels, open_image(src), overwrite=overwrite)


def _refuse_options(args: argparse.Namespace) -> None:
    size = None if args.object_size == "auto" else args.object_size  # the default: no size
    given = [flag for flag, value in (("--flips", args.flips),
             ("--object-size", size), ("--scheduler", args.scheduler),
             ("--background flatten", args.background == "flatten")) if value]  # fmt: skip
    if given:
        raise InputError(
            f"{', '.join(given)} apply to napari-unet models only; {args.model} is a "
            "bioimage.io package of another tool (run by bioimageio.core)"
        )


def run_foreign(args: argparse.Namespace, model, plan: list[tuple[Path, dict]]) -> int:
    """Predict every input with another tool's package and write what it declares."""
    from napari_unet.cli._args import progress_bar, run_each
    from napari_unet.core.exchange.foreign import segment_foreign
    from napari_unet.core.images.io import read_image, write_image
    from napari_unet.core.inference.postprocess import Postprocess
    from napari_unet.core.progress import drain

    _refuse_options(args)
    p = model.plan
    if p.kind == "probabilities" and p.out_channels > 1 and not args.probabilities:
        raise InputError(
            f"{args.model} gives {p.out_channels} probability channels and no labels; pass "
            "--probabilities to write them"
        )
    given = {"threshold": args.threshold, "min_size": args.min_size, "split": args.split}
    post = Postprocess(gap=0, **{k: v for k, v in given.items() if v is not None})
    print(f"{args.model}: {model.summary}")

    def one(src: Path, outs: dict) -> None:
        image = np.asarray(read_image(src))
        with progress_bar(src.name, "block") as bar:
            gen = model.iter_predict(image, tile=args.tile, channel=args.channel)
            output = drain(gen, bar=bar)
        labels, _ = segment_foreign(output, p, post)
        if labels is not None:
            write_labels(outs["labels"], labels, src, args.overwrite)
            n = len(np.unique(labels)) - (1 if (labels == 0).any() else 0)
            print(f"{src} -> {outs['labels']} ({n} objects)")
        if "probabilities" in outs and p.kind == "probabilities":
            write_image(outs["probabilities"], output, pixel_size=input_pixel_size(src))
            print(f"{src} -> {outs['probabilities']} (probabilities)")

    return run_each(plan, "predict", one)
