"""The ``napari-unet`` command.

Each subcommand lives in its own module of this package and provides
``add_parser(subparsers)``, which registers its arguments and sets ``func`` to a
``run(args) -> int`` function. Modules import nothing heavy at import time, so
``napari-unet --help`` stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import sys
import warnings
from pathlib import Path

from napari_unet._version import __version__
from napari_unet.core.errors import InputError, memory_message

#: Subcommand modules, in the order ``--help`` lists them.
SUBCOMMANDS = [
    "demo",
    "evaluate",
    "weights",
    "train",
    "predict",
    "slide",
    "measure",
    "export",
    "import",
]
#: Subcommands whose module has another name ("import" is a Python keyword).
MODULES = {"import": "import_package"}


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="napari-unet",
        description="Interactive U-Net cell segmentation: napari workbench and batch tools.",
    )
    parser.add_argument("--version", action="version", version=f"napari-unet {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in SUBCOMMANDS:
        importlib.import_module(f"napari_unet.cli.{MODULES.get(name, name)}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status.

    User mistakes (:class:`~napari_unet.core.errors.InputError`), what the file system refuses
    (missing files, denied permissions, a full disk: any ``OSError``) and running out of
    memory (also PyTorch's, a RuntimeError) print one ``error:`` line and return 2; Ctrl-C
    returns 130. The package's own warnings print one ``warning:`` line
    (:func:`warning_lines`).
    """
    try:
        args = build_parser().parse_args(argv)
    except KeyboardInterrupt:  # Ctrl-C while the subcommands are being registered
        print("napari-unet: interrupted", file=sys.stderr)
        return 130
    try:
        with warning_lines(args.command):
            return int(args.func(args) or 0)
    except (InputError, OSError) as exc:
        print(f"napari-unet {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except (MemoryError, RuntimeError) as exc:  # PyTorch's CPU allocator: a RuntimeError
        said = memory_message(exc)
        if said is None:
            raise
        print(
            f"napari-unet {args.command}: error: {said}; use smaller tiles (--tile), "
            "crops or images",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt as exc:
        from napari_unet.cli._signals import Terminated

        print(f"napari-unet {args.command}: interrupted", file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130


#: The package's folder: a warning raised from a file under it is the command's own.
PACKAGE = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def warning_lines(command: str):
    """Print the package's warnings as ``napari-unet COMMAND: warning: ...`` lines.

    Like its errors, and as the commands print what they find themselves. Before, a
    warning raised inside the package (a cluster without workers, a best model that could
    not be saved) printed as Python shows warnings: a source path, a line number, the
    category and the line of code. Warnings raised in other packages' files are shown as
    Python does (numpy's floating-point warnings point at the line that called numpy: from
    the package, they print as its own).
    """
    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        try:
            ours = Path(filename).resolve().is_relative_to(PACKAGE)
        except (OSError, ValueError, TypeError):
            ours = False
        if not ours:
            return shown(message, category, filename, lineno, file, line)
        print(f"napari-unet {command}: warning: {message}", file=file or sys.stderr)

    warnings.showwarning = show
    try:
        yield
    finally:
        if warnings.showwarning is show:
            warnings.showwarning = shown


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
