"""``napari-unet import``: a bioimage.io package written by napari-unet, back to a model file."""

from __future__ import annotations

import argparse
from pathlib import Path

from napari_unet.cli._args import add_option
from napari_unet.core.errors import InputError

#: The subcommand's name ("import" is a Python keyword, hence this module's name).
NAME = "import"


def add_parser(subparsers) -> None:
    """Register the ``import`` subcommand."""
    parser = subparsers.add_parser(
        NAME,
        help="turn a bioimage.io package written by napari-unet export into a model file",
        description=(
            "Read a bioimage.io model package that napari-unet exported and write the model "
            "file it came from: the same tensors (checked against the recorded checksum), "
            "architecture, normalisation, classes, post-processing, scores and provenance. "
            "Needs the bioimageio extra. See docs/models.md."
        ),
    )
    add_option(parser, "package", key="package", type=Path, metavar="PACKAGE.zip")
    add_option(parser, "-o", "--output", key="import_output", type=Path, required=True,
               metavar="MODEL.safetensors")  # fmt: skip
    add_option(parser, "--overwrite", key="overwrite", action="store_true")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Import the package and write the model file; return 0.

    SIGTERM (a job's time limit, ``kill``, ``timeout``) ends it as Ctrl-C does (status 143,
    one "interrupted" line, no part of the model file left); before, it died at once.
    """
    from napari_unet.cli._signals import sigterm_raises

    with sigterm_raises():  # Terminated: said and 143 by the entry point
        return _import(args)


def _import(args: argparse.Namespace) -> int:
    from napari_unet.core.exchange.importer import import_bioimageio
    from napari_unet.core.files import check_outputs
    from napari_unet.core.models.modelfile import save_model
    from napari_unet.core.models.pretrained import refuse_builtin
    from napari_unet.core.training.checkpoint import check_model_name

    refuse_builtin(args.output)  # before: --overwrite replaced the built-in 'nuclei' model
    if args.output.suffix.lower() == ".zip":  # before: a model file named like a package
        raise InputError(
            f"{args.output.name} would be a model file named like a package: choose a name "
            f"such as {args.output.with_suffix('.safetensors').name}"
        )
    check_model_name(args.output)  # nor like an image
    if args.output.exists() and not args.overwrite:
        raise InputError(f"{args.output} exists; pass --overwrite to replace it")
    check_outputs([args.output], [args.package])
    model, metadata = import_bioimageio(args.package)
    # Not to overwrite, also at the end: a file another run wrote meanwhile is kept
    save_model(args.output, model, overwrite=args.overwrite, **metadata)
    print(f"{args.package} -> {args.output} ({metadata.get('name') or model.config['arch']})")
    return 0
