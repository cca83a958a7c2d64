"""A command's output folder: made for the run, and not left behind empty when it fails."""

from __future__ import annotations

import os
from pathlib import Path

from napari_unet.core.errors import InputError


def make_folder(outdir: Path) -> list[Path]:
    """Make ``outdir`` (and its missing parents); the folders made, deepest first.

    Refuses a folder that cannot be made or written into, before any work.
    """
    made = [p for p in (outdir, *outdir.parents) if not p.exists()]
    try:
        outdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # before: the bare "[Errno 30] Read-only file system: 'out'"
        raise InputError(
            f"cannot make the output folder {outdir}: {exc.strerror or exc}; choose another -o"
        ) from None
    if not os.access(outdir, os.W_OK | os.X_OK):  # before the work, not after it
        remove_made(made)
        raise InputError(f"cannot write into {outdir}: the folder is not writable")
    return made


def remove_made(made: list[Path]) -> None:
    """Remove the folders :func:`make_folder` made that are still empty.

    For a run that failed: before, a mistyped model name or a wrong ``--threshold`` left an
    empty output folder behind. A folder holding anything (an output written before the
    failure) is kept.
    """
    for folder in made:
        try:
            folder.rmdir()
        except OSError:
            return  # not empty: nor are the folders above it
