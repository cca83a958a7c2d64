"""``napari-unet export``: a model as a bioimage.io model package (for other tools)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from napari_unet.cli._args import add_option
from napari_unet.core.errors import InputError


def add_parser(subparsers) -> None:
    """Register the ``export`` subcommand."""
    parser = subparsers.add_parser(
        "export",
        help="write a model as a bioimage.io model package (.zip) for other tools",
        description=(
            "Write a model file or built-in model as a bioimage.io model package (format 0.5): "
            "pytorch_state_dict and torchscript weights (and ONNX where onnx and onnxruntime "
            "are installed), the architecture as a source file, "
            "test tensors, a cover, documentation with the model's scores. deepImageJ, "
            "ilastik, QuPath, Fiji and bioimage.io run it; napari-unet import reads it back. "
            "A package napari-unet exported is imported on the fly and exported again, with "
            "its own name, authors and licence unless --name, --author or --license give "
            "others. Needs the bioimageio extra. See docs/models.md."
        ),
    )
    add_option(parser, "model", key="export_model", metavar="MODEL")
    add_option(parser, "-o", "--output", key="package_output", type=Path, required=True,
               metavar="NAME.zip")  # fmt: skip
    add_option(parser, "--name", key="package_name")
    add_option(parser, "--author", key="author", action="append", metavar="NAME")
    add_option(parser, "--license", key="license", metavar="SPDX")
    add_option(parser, "--test", key="check_package", action="store_true")
    add_option(parser, "--overwrite", key="overwrite", action="store_true")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Export the model; with --test, test the package; return 0, or 1 if the test fails.

    SIGTERM (a job's time limit, ``kill``, ``timeout``) ends it as Ctrl-C does (status 143,
    one "interrupted" line): its temporary files are removed. Before, the process died at
    once and left its staging folder in the system's temporary folder.
    """
    from napari_unet.cli._signals import sigterm_raises

    with sigterm_raises():  # Terminated: said and 143 by the entry point
        return _export(args)


def _export(args: argparse.Namespace) -> int:
    from napari_unet.core.exchange.export import check_package, export_bioimageio
    from napari_unet.core.exchange.identity import identity_of

    if args.output.exists() and not args.overwrite:
        raise InputError(f"{args.output} exists; pass --overwrite to replace it")
    start = time.perf_counter()
    model = _model(args)
    # A package keeps its own name, authors and licence unless others are given, as in the
    # Predict dock (before, the command gave the model's, "unknown ..." and BSD-3-Clause).
    identity = identity_of(args.model, name=args.name, authors=args.author, license=args.license)
    # Not to overwrite, also at the end: a package another run wrote meanwhile is kept and
    # this run refused (before, both said "-> race.zip" and only the second's was there).
    path = export_bioimageio(model, args.output, overwrite=args.overwrite, **identity)
    size = path.stat().st_size / 1e6
    print(f"{args.model} -> {path} ({size:.1f} MB, {time.perf_counter() - start:.1f} s)")
    if not args.test:
        return 0
    passed, lines = check_package(path)
    print("\n".join(lines))
    print(f"bioimageio test: {'passed' if passed else 'FAILED'}")
    return 0 if passed else 1


def _model(args: argparse.Namespace):
    """``args.model``, or the ``(network, metadata)`` of a package napari-unet exported.

    Before, a package (``nuclei.zip``, as the Predict dock exports) was read as a model
    file: "this is a zip archive, not a napari-unet model file", though it is one of ours.
    A package is told by its bytes too, as import tells it (one renamed ``.bmz`` is one).
    """
    from napari_unet.core.exchange.identity import is_package_file

    if not is_package_file(args.model):
        return args.model
    from napari_unet.core.exchange.importer import import_bioimageio
    from napari_unet.core.files import check_outputs

    check_outputs([args.output], [args.model])  # before the import: the package is read
    return import_bioimageio(args.model)
