"""Where whole-slide labels go: the output store, its checks, and the scratch beside it.

:mod:`napari_unet.core.inference.slide` writes an OME-Zarr label image into
``image.zarr/labels/<name>/`` or into a standalone store, through
:func:`~napari_unet.core.files.atomic_folder`, and keeps its intermediate stores (the
foreground probability, the blocks' local labels: 8 bytes a pixel) in a scratch folder
beside it. Everything here runs before any prediction, so a refused output costs nothing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from napari_unet.core.errors import InputError

__all__ = ["MARGIN", "check_output", "labels_folder", "scratch_folder", "slide_output"]

#: Default pixels read around each block for the split (objects up to about
#: ``MARGIN - gap - 16`` px across are split; larger ones stay whole, and are counted).
#: Here, not in :mod:`~napari_unet.core.inference.slide`, so that the command line shows
#: it without importing torch.
MARGIN = 128

#: The ending of a scratch folder's name: ``.<store>.<pid>.<random>.scratch.tmp``.
SCRATCH = ".scratch.tmp"


def slide_output(src: Path, out: Path | None, name: str, is_ome: bool) -> Path:
    """Where the labels go: ``src/labels/name`` for OME-Zarr input, else ``out`` (needed)."""
    if out is not None:  # absolute: the tasks may run in workers with another folder
        return Path(out).resolve()
    if not is_ome:
        raise InputError(
            f"{src} is a plain Zarr array, not an OME-Zarr image: give an output store (.zarr)"
        )
    return Path(src).resolve() / "labels" / name


def check_output(dest: Path, src: Path, overwrite: bool, labels_of_src: bool = False) -> None:
    """Refuse a store that would replace the input or a folder holding it, or can't be made.

    Inside the input only its own ``labels/`` entry may be written (``labels_of_src``; the
    ``labels`` folder is made when missing). Elsewhere the folder to write in must exist.
    """
    out, read = dest.resolve(), src.resolve()
    if out == read or (read in out.parents and not labels_of_src):
        raise InputError(f"{dest} is inside the input {src}; refusing to write there")
    if out in read.parents:
        raise InputError(f"{dest} holds the input {src}; name a new store (e.g. OUT/labels.zarr)")
    if dest.exists() and not overwrite:
        raise InputError(f"{dest} exists; pass --overwrite to replace it")
    if not labels_of_src and not dest.parent.is_dir():  # before, the scratch was named
        raise InputError(f"cannot write {dest}: the folder {dest.parent} does not exist")


@contextlib.contextmanager
def labels_folder(image: Path, inside: bool) -> Iterator[None]:
    """Make ``image/labels`` for labels written inside the image; remove it if left empty.

    A first labelling that fails or is stopped leaves the image as it was, not with an
    empty ``labels`` folder in it.
    """
    folder = Path(image) / "labels"
    made = inside and not folder.exists()
    if made:
        folder.mkdir()
    try:
        yield
    except BaseException:
        if made:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty: never anything another run wrote
        raise


@contextlib.contextmanager
def scratch_folder(dest: Path) -> Iterator[Path]:
    """A new scratch folder beside ``dest``, removed at the end whatever happens.

    Named as :func:`~napari_unet.core.files.atomic_folder` names its temporaries
    (``.<name>.<pid>.<random>.scratch.tmp``): when the run is killed outright, the next
    write of the same ``dest`` finds it among
    :func:`~napari_unet.core.files.stale_temporaries` once its process is gone, and removes
    it (before, the scratch was named ``.<name>.scratch.<random>`` and stayed for good).
    """
    prefix = f".{dest.name}.{os.getpid()}."
    scratch = Path(tempfile.mkdtemp(prefix=prefix, suffix=SCRATCH, dir=dest.parent))
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
