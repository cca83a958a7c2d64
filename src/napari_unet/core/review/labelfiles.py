"""The files of a review's labels folder, listed again when the folder changes.

The folder is listed once, by lower-case name (``NAME_masks.TIF`` is a label file too), so
that looking an image's labels up does not list a folder of thousands again. Each look-up
checks the folder's stamp (one ``stat``): a file added, moved away or renamed changes it,
and the folder is listed again. A file found that is no longer there is looked up again in
a new listing too (a share that keeps folder times coarsely). Before, the folder was listed
at open only: a label file that did not fit, moved elsewhere as the message said, was still
used ("no such file or folder"), and one added during the review was never seen, until the
folder was opened again.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from napari_unet.core.review.stems import label_file_of

__all__ = ["LabelFolder"]

#: A folder changed less than this before it was listed may change again within the same
#: tick of its time stamp: it is listed again once this much later.
RACY_S = 2.0


def _stamp(folder: Path) -> tuple | None:
    try:
        st = folder.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_ino, st.st_dev


class LabelFolder:
    """The label files of ``folder`` (None: no labels folder) by lower-case name."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self._lock = threading.Lock()
        # (stamp of the folder when listed, files by lower-case name, listed at, racy)
        self._state: tuple = (None, {}, 0.0, False)
        if folder is not None:
            self._list()

    def _list(self) -> dict[str, list[Path]]:
        """List the folder (its stamp taken first: a change meanwhile is seen next time)."""
        with self._lock:
            stamp, at = _stamp(self.folder), time.time()
            try:
                entries = sorted(self.folder.iterdir())
            except OSError:  # the folder is gone (a share unmounted): no label files
                entries = []
            files: dict[str, list[Path]] = {}
            for p in entries:
                files.setdefault(p.name.lower(), []).append(p)
            racy = stamp is not None and stamp[0] >= (at - RACY_S) * 1e9
            self._state = (stamp, files, at, racy)
            return files

    def files(self) -> dict[str, list[Path]]:
        """The files by lower-case name, listed again if the folder changed since."""
        if self.folder is None:
            return {}
        stamp, files, at, racy = self._state
        if _stamp(self.folder) != stamp or racy and time.time() > at + RACY_S:
            return self._list()
        return files

    def find(self, name: str, image: Path, in_full: bool = False) -> Path | None:
        """The label file of image ``name`` (:func:`label_file_of`), or None."""
        found = label_file_of(self.files(), name, image, in_full)
        if found is not None and not found.exists():  # gone, and the folder's time kept
            found = label_file_of(self._list(), name, image, in_full)
        return found
