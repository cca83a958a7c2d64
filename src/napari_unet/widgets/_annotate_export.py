"""Export TIFF of the Annotate dock: the annotations written as a TIFF mask, in a worker.

Moved from :mod:`._annotate_work` (which accepts predictions and imports TIFFs) to keep
that module small. Errors go through ``napari.utils.notifications`` at call time.
"""

from __future__ import annotations

import numpy as np
from napari.utils import notifications

from napari_unet.core.annotation.project import write_annotations
from napari_unet.core.errors import InputError, in_words
from napari_unet.core.files import check_outputs
from napari_unet.widgets._annotate_edits import chosen_file
from napari_unet.widgets._annotate_tiff import export_refusal
from napari_unet.widgets._handover import handed_over
from napari_unet.widgets._weakly import weakly

__all__ = ["start_export"]


def _error(text: str) -> None:
    notifications.show_error(text)  # looked up now: tests collect it


def start_export(dock) -> None:
    """Write the dock's annotations as a TIFF instance mask (in a worker thread).

    An empty file field (FileEdit gives ``Path('.')``) or a folder is no file: before, it
    ended in a traceback.
    """
    path = chosen_file(dock._tiff_path.value)
    if dock._annotations is None or path is None:
        _error("Start annotating and enter a TIFF file name first.")
        return
    path = path.with_suffix(".tif") if path.suffix == "" else path
    if path.suffix.lower() not in (".tif", ".tiff"):  # TIFF bytes under a .png name: before
        _error(f"Export refused: Export TIFF writes a TIFF: name it {path.stem}.tif")
        return
    source = getattr(dock._image.source, "path", None)
    try:  # never over the image itself, another open file, nor into a project folder
        check_outputs([path], [source])
        why = export_refusal(dock, path)
        if why is not None:
            raise InputError(why)
    except InputError as exc:
        dock._set_status(f"Export refused: {exc}. Nothing was written.")
        _error(f"Export refused: {exc}")
        return
    data = np.array(dock._annotations.data, copy=True)
    # napari keeps the worker for good: it lets go of the copy as it starts (before, every
    # export kept one), and of the dock (held weakly) when it ends
    connect = {"returned": weakly(dock, _exported), "errored": _failed}
    handed_over(write_annotations, path, data, connect=connect)


def _exported(dock, path) -> None:
    dock._set_status(f"Exported annotations to {path}.")


def _failed(exc: Exception) -> None:
    _error(f"Export failed: {in_words(exc)}")
