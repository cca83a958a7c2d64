"""Two sessions on one output folder: neither writes labels or a verdict over the other's.

A session (a napari window's Review dock, a console's :class:`~.session.Review`) notes the
reviewed labels file of an image as it read it, or as it last wrote it (its *stamp*: inode,
modification time in ns, size; None: no file), and the ``updated`` stamps of the entries it
gave itself. Right before it writes an image's labels, under the review file's lock
(:func:`~.reviewfile.locked`, which the other session's writes take too), the file on disk
is compared with the stamp noted: another session's labels written since are never
overwritten. This session's labels then go to ``OUTPUT/conflicts/`` (export and training
never read them): nothing is lost. Before, a second window still showing the labels it read
before the first window's correction wrote them back over it, and "Train on corrected" then
trained on the old labels.

An image this session never read or wrote is not checked (a console writing labels
deliberately); :meth:`LabelsGuard.take_over` makes a session's next write replace the other
session's labels on purpose.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from napari_unet.core.errors import InputError

__all__ = ["LabelsConflict", "LabelsGuard", "file_state"]

#: The folder of the output folder where labels refused by a conflict are kept.
CONFLICTS = "conflicts"
_NONE = object()  # no stamp noted (the image was never read or written here)


class LabelsConflict(InputError):
    """Labels not written: another session saved the image's labels since they were read."""

    def __init__(self, message: str, name: str, kept: Path | None) -> None:
        super().__init__(message)
        self.name, self.kept = name, kept


def file_state(path: Path) -> tuple | None:
    """A labels file's (or Zarr store's) stamp: (inode, mtime in ns, size); None: no file.

    Every write is atomic (a new file renamed over the old one): a new inode each time.
    """
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


class LabelsGuard:
    """What one session knows of each image's labels file and review entry.

    Parameters
    ----------
    review : Review
        The session whose labels files are guarded.
    """

    def __init__(self, review) -> None:
        self.review = review
        self.tag = f"{os.getpid()}-{secrets.token_hex(2)}"  # this session's conflict copies
        self._seen: dict[str, tuple | None] = {}
        self._mine: dict[str, set[str]] = {}  # the entries' `updated` stamps given here
        self._writing: set[str] = set()  # labels this session is writing now
        self._lock = threading.Lock()

    def read(self, name: str, path: Path) -> tuple | None:
        """Note the labels file of ``name`` as it is about to be read (call before reading)."""
        state = file_state(path)
        with self._lock:
            self._seen[name] = state
        return state

    def write(self, name: str, path: Path, write: Callable[[], object]) -> bool:
        """Call ``write()`` unless another session wrote the labels of ``name`` since.

        True if written. Called under the review file's lock, which the other session's
        writes take too: no write of theirs falls between the check and this one.
        """
        with self._lock:
            if self._changed(name):
                return False
            self._writing.add(name)
        try:
            write()
        finally:
            state = file_state(path)  # a failed write left the file as it was (atomic)
            with self._lock:
                self._writing.discard(name)
                self._seen[name] = state
        return True

    def stamp(self, name: str) -> str:
        """A new ``updated`` stamp of the entry of ``name``, noted as this session's."""
        from napari_unet.core.review.reviewfile import stamp

        updated = stamp()
        with self._lock:
            self._mine.setdefault(name, set()).add(updated)
        return updated

    def mine(self, name: str, updated: str | None) -> bool:
        """Whether ``updated`` is a stamp this session gave the entry of ``name``."""
        with self._lock:
            return updated in self._mine.get(name, ())

    def changed(self, name: str) -> bool:
        """Whether another session wrote the labels of ``name`` since this one read them.

        Or since this one wrote them; False for an image this session never read nor wrote,
        and when the file is gone (nobody's labels are written over then).
        """
        with self._lock:
            return self._changed(name)

    def _changed(self, name: str) -> bool:
        seen = self._seen.get(name, _NONE)
        if seen is _NONE or name in self._writing:  # this session's write: checked there
            return False
        now = file_state(self.review.labels_path(name))
        # A file gone (the output folder deleted, the labels removed to start over) is no
        # other session's labels: before, the next save went to conflicts/ with a message
        # about another session, and the edits were lost to the review.
        return now is not None and now != seen

    def take_over(self, name: str) -> None:
        """Make this session's next write of ``name`` replace the labels on disk (on purpose)."""
        self.read(name, self.review.labels_path(name))

    def keep_aside(self, name: str, labels: np.ndarray) -> LabelsConflict:
        """Write ``labels`` to ``OUTPUT/conflicts/`` (refused over another session's); why.

        As ``<stem>_labels.<session tag>.tif``; a later conflict of the same image here as
        ``...<tag>2.tif``, ``...<tag>3.tif``: an earlier copy is never written over.
        """
        from napari_unet.core.images.io import write_image
        from napari_unet.core.review.refit import free_name

        own = self.review.labels_path(name, labels.shape)  # <stem>_labels.tif (or .zarr)
        folder = self.review.output / CONFLICTS
        kept = None
        try:
            folder.mkdir(parents=True, exist_ok=True)
            # A second conflict of the image: a copy of its own (before, over the first one)
            path = free_name(folder / f"{own.stem}.{self.tag}{own.suffix}")
            kept = write_image(path, labels)
            where = (
                f"this session's labels were saved to {kept} instead (show the image again "
                "to see the other session's)"
            )
        except (OSError, InputError) as exc:
            where = f"this session's labels could not be saved aside either ({exc})"
        return LabelsConflict(
            f"{name}: another session (a second window or a console) saved its labels since "
            f"this one read them; they were not overwritten, and {where}",
            name,
            kept,
        )
