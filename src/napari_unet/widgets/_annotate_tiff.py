"""Which files the Annotate dock's Export TIFF and Import TIFF refuse, and why.

Export TIFF never writes over a file an open layer shows (the annotated image, or another
image: before, annotating a.tif with b.tif open, Export to b.tif replaced b.tif's pixels
with the mask), nor into a project folder (``*.napari-unet``, or one holding a project's
files, or the session's own): autosave alone writes there, and before, Export to
``b.napari-unet/annotations.tif`` replaced b's saved cells with a's. Import TIFF never
reads the annotated image itself as its mask (before, its grey levels became cell ids).
"""

from __future__ import annotations

from pathlib import Path

from napari_unet.core.annotation.project import PROJECT_SUFFIX, holds_project
from napari_unet.core.files import same_file

__all__ = ["export_refusal", "import_refusal"]


def _source(layer) -> Path | None:
    path = getattr(getattr(layer, "source", None), "path", None)
    return None if path is None else Path(path)


def export_refusal(dock, path: Path) -> str | None:
    """Why Export TIFF must not write ``path`` (None: it may).

    The annotated image is refused by the caller too (``check_outputs``).
    """
    for layer in dock._viewer.layers:
        src = _source(layer)
        if src is not None and (same_file(path, src) or path.resolve() in src.resolve().parents):
            return (
                f"{path} is the file of the open layer {layer.name!r}; Export TIFF never "
                "writes over an open file: choose another file name"
            )
    folder, own = path.parent, dock._saver.folder
    if (
        folder.suffix == PROJECT_SUFFIX
        or holds_project(folder)
        or (own is not None and same_file(folder, own))
    ):
        return (
            f"{path} is inside the project folder {folder.name}, whose saved annotations "
            "only autosave writes (an export there could replace a project's cells): "
            "choose a file outside it"
        )
    return None


def import_refusal(dock, path: Path) -> str | None:
    """Why Import TIFF must not read ``path`` (None: it may)."""
    src = _source(dock._image)
    if src is not None and same_file(path, src):
        return (
            f"{path} is the image being annotated ({dock._image.name}), not a mask of its "
            "cells: its grey levels would become cell ids. Choose the exported TIFF mask. "
            "Nothing changed"
        )
    return None
