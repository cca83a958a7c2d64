"""Arguments of the subcommands: help texts from the one option table, defaults shown.

Every option's text comes from :func:`napari_unet.core.options.describe`; the default (taken
from the dataclass or signature that owns it) is appended. Each action remembers its option
key, so docs/options.md can list the flags that set each option.
"""

from __future__ import annotations

import argparse
import math
import re
import sys

from napari_unet.core.options import describe

__all__ = ["add_option", "channel_choice", "progress_bar", "run_each"]

#: An argument that starts with a minus then a digit (``-1,1``, ``-0.5,0.5``, ``-1e3``) is a
#: value, not an option: argparse of older Pythons takes only ``-1`` and ``-0.5`` for
#: values, so ``--class-weights -1,1`` said "expected one argument" instead of the
#: command's own check. No option here is named like a number.
NEGATIVE_VALUE = re.compile(r"-\.?\d")


def add_option(parser, *flags: str, key: str, shown_default=None, **kwargs):
    """``parser.add_argument(*flags, **kwargs)`` with the help text of option ``key``.

    The default is appended as ``(default: X)`` unless it is None or False or the argument
    is positional; ``shown_default`` replaces it (for defaults that depend on other options).
    """
    if isinstance(parser, argparse.ArgumentParser):  # argparse has no public setting
        parser._negative_number_matcher = NEGATIVE_VALUE
    text = describe(key)
    default = kwargs.get("default") if shown_default is None else shown_default
    if default is not None and default is not False and flags[0].startswith("-"):
        text = f"{text} (default: {default})"
    action = parser.add_argument(*flags, help=text.replace("%", "%%"), **kwargs)
    action.option_key = key
    action.shown_default = default
    return action


def channel_choice(text: str) -> int | str | None:
    """``--channel``: ``auto`` (None), ``mean`` or a channel index (0, 1, ...)."""
    value = text.strip().lower()
    if value == "auto":
        return None
    if value == "mean":
        return "mean"
    if value.isdigit():
        return int(value)
    raise argparse.ArgumentTypeError(
        f"expected auto, mean or a channel number (0, 1, ...); got {text!r}"
    )


def whole_pixels(text: str) -> int:
    """``--gap``: a whole number of pixels, also written as a float (``2.0``), as in Python."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value == int(value)):
        raise argparse.ArgumentTypeError(f"expected a whole number of pixels; got {text!r}")
    return int(value)


def learning_rate(text: str) -> float | None:
    """``--lr``: ``auto`` (None: the trainer chooses) or a number."""
    if text.strip().lower() == "auto":
        return None
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected auto or a number; got {text!r}") from None


def progress_bar(desc: str, unit: str, **kwargs):
    """A tqdm bar on stderr that hides itself when stderr is not a terminal."""
    from tqdm import tqdm

    kwargs.setdefault("disable", None)
    return tqdm(desc=desc, unit=unit, file=sys.stderr, leave=False, **kwargs)


def parser_actions(parser: argparse.ArgumentParser):
    """``(subcommand, action)`` for every action with an option key (for the docs table)."""
    for sub in parser._subparsers._group_actions:  # argparse has no public walk
        for name, subparser in sub.choices.items():
            for action in subparser._actions:
                if getattr(action, "option_key", None):
                    yield name, action


def options_markdown() -> str:
    """docs/options.md: every option's description, with the flags and defaults that set it.

    Generated from :data:`napari_unet.core.options.OPTIONS` and the command's parser, so the
    page says exactly what ``--help`` and the dock tooltips say.
    """
    from napari_unet.cli import build_parser
    from napari_unet.core.options import OPTIONS

    flags: dict[str, list[str]] = {}
    for command, action in parser_actions(build_parser()):
        names = "/".join(f"`{o}`" for o in action.option_strings) or f"`{action.dest.upper()}`"
        default = action.shown_default
        shown = "" if default is None or default is False else f" (default {default})"
        flags.setdefault(action.option_key, []).append(f"{command} {names}{shown}")
    lines = [
        "# Options",
        "",
        "Every setting of the docks and of the `napari-unet` command, described once. The dock",
        "tooltips and `napari-unet COMMAND --help` show the same sentences; this page is",
        "generated from them (`python scripts/options_doc.py`), and a test keeps it current.",
        "The command line column gives each flag's default; defaults that depend on the model",
        "(post-processing) or on other options are shown in `--help`.",
    ]
    for section, options in OPTIONS.items():
        lines += ["", f"## {section}", "", "| option | what it does | command line |"]
        lines.append("|---|---|---|")
        for key, text in options.items():
            where = "<br>".join(flags.get(key, [])) or "dock only"
            lines.append(f"| {key} | {text} | {where} |")
    return "\n".join(lines) + "\n"


def run_each(plan, command: str, work) -> int:
    """Call ``work(src, outputs)`` for each input; the exit status (0, or 2 if one failed).

    An input that fails with :class:`InputError` (a damaged file, NaN pixels) is reported
    with its name and the others still run: before, the first bad file of a folder stopped
    the rest. A single input's error is raised as it is. The closing count says "none was
    written" when every input failed (before, "the others were written" even then).
    """
    from napari_unet.core.errors import InputError

    if len(plan) == 1:
        work(*plan[0])
        return 0
    failed = []
    for src, outs in plan:
        try:
            work(src, outs)
        except InputError as exc:
            failed.append(src.name)
            text = str(exc) if str(src) in str(exc) else f"{src}: {exc}"
            print(f"napari-unet {command}: error: {text}", file=sys.stderr)
    if failed:
        shown = ", ".join(failed[:5]) + (" ..." if len(failed) > 5 else "")
        rest = "none was written" if len(failed) == len(plan) else "the others were written"
        print(
            f"napari-unet {command}: {len(failed)} of {len(plan)} inputs failed ({shown}); {rest}",
            file=sys.stderr,
        )
    return 2 if failed else 0


def add_background_option(parser) -> None:
    """``--background auto|flatten|keep`` and ``--denoise auto|off`` (predict, evaluate)."""
    from napari_unet.core.images.background import MODES
    from napari_unet.core.images.photons import MODES as PHOTON_MODES

    add_option(parser, "--background", key="background", choices=MODES, default="auto")
    add_option(parser, "--denoise", key="denoise", choices=PHOTON_MODES, default="auto")
