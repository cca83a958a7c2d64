"""An annotations layer read from a file (an OME-Zarr store's own ``labels/annotations``).

napari-unet's reader opens a store's label image named ``annotations`` as
``"<image> annotations"``, lazily, every time the store is opened. Start takes that layer
over (:func:`~._session.attach_labels`): its values are read into memory and the file is
never written; the work is saved to the project folder. Reopened the next day, the reader's
layer holds the store's labels again, without the work saved since: the project, saved after
the store's labels were written, is what the user continues, and it is shown in the layer
(:func:`~._session.reconcile`). Before, the two differed, so autosave was turned off in
every later session and the saved cells were not shown.

Which is newer is told by the files' times: the project's annotations.tif against the
newest file (or folder) of the store's label image. When the store's labels changed after
the project was saved (another tool wrote them), neither is shown over the other: Start
says so, as for any layer that differs from the project.
"""

from __future__ import annotations

import os
import weakref
from pathlib import Path

import numpy as np

from napari_unet.core.annotation.project import ANNOTATIONS_FILE

__all__ = ["file_of", "project_is_newer", "taken_from_file"]

#: Each annotations layer Start took while it was still read lazily -> the newest time
#: (ns) of its label files then, or None when they are not found.
_READ: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: The name of the label image Start takes (``"<image> annotations"``).
LABEL_NAME = "annotations"


def taken_from_file(layer) -> None:
    """Note ``layer`` as read from its file, if its data are still lazy (call before reading).

    A lazy layer (dask, zarr) holds nothing but its file's labels: napari cannot paint it.
    """
    if not isinstance(layer.data, np.ndarray):
        _READ[layer] = _newest(file_of(layer))


def file_of(layer) -> list[Path]:
    """The folders of the store's label image ``layer`` was read from (empty: not found).

    ``store/labels/annotations``, a bioformats2raw series' ``store/0/labels/annotations``,
    or the label image opened by its own path.
    """
    src = getattr(getattr(layer, "source", None), "path", None)
    if not src or not Path(src).is_dir():
        return []
    src = Path(src)
    if src.name == LABEL_NAME and src.parent.name == "labels":
        return [src]
    found = [src / "labels" / LABEL_NAME, *src.glob(f"*/labels/{LABEL_NAME}")]
    return [f for f in found if f.is_dir()]


def _newest(folders: list[Path]) -> int | None:
    """The newest modification time (ns) of ``folders`` and all they hold; None: none."""
    times = []
    for folder in folders:
        for root, dirs, files in os.walk(folder):
            for name in (root, *(os.path.join(root, n) for n in dirs + files)):
                try:
                    times.append(os.stat(name).st_mtime_ns)
                except OSError:
                    continue
    return max(times, default=None)


def project_is_newer(layer, folder) -> bool | None:
    """Whether ``folder``'s saved annotations are newer than the file ``layer`` was read from.

    False: that file changed after the project was saved. None: ``layer`` was not taken
    from a file at this Start, or the times are not known. The layer is forgotten (asked
    once, at the Start that took it).
    """
    stamp = _READ.pop(layer, None)
    try:
        saved = os.stat(Path(folder).expanduser() / ANNOTATIONS_FILE).st_mtime_ns
    except (OSError, TypeError):
        return None
    return None if stamp is None else stamp < saved
