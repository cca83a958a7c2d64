"""The Review dock's autosave of large labels: compared and copied off the GUI thread.

Each autosave of an edited image compares the layer's labels with the last saved ones and
copies them for the writer; on an 8192 x 8192 image that held the GUI thread for most of a
second at every tick after a stroke. Here both run in a thread, reading the layer's own
array, which napari paints in place. The GUI thread notes, when the save is decided, what
would show a change of the labels (edit events, the undo, redo and stroke history, the
array itself, the labels last saved) and, when the copy is back, hands it to the writer
only if none of it moved: the copy is then exactly the labels as they were when the save
was decided. A stroke, undo or redo meanwhile drops the copy (no file is written from it)
and the next tick saves again, that edit included. Leaving the image, a verdict and closing
still save on the GUI thread (:func:`~napari_unet.widgets._review_actions.save_shown`);
a copy still running then is dropped when it ends.

Labels of at most :data:`SYNC_BYTES` are compared and copied on the GUI thread as before
(a few milliseconds): the round trip would cost more than it saves.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from qtpy.QtCore import QObject, Signal

#: Labels of at most this many bytes are compared and copied on the GUI thread.
SYNC_BYTES = 16 << 20


@dataclass(eq=False)
class _Job:
    """One autosave decided on the GUI thread, compared and copied in the thread."""

    name: str
    layer: object
    data: np.ndarray  #: the layer's own array (read, never written, in the thread)
    baseline: np.ndarray  #: the labels last loaded or saved (read-only)
    token: tuple  #: what would show a change since the save was decided
    same: bool = False
    labels: np.ndarray | None = None  #: the copy (None: the labels are the baseline)
    error: BaseException | None = None


class _Signals(QObject):
    done = Signal(object)


def history_token(layer) -> tuple | None:
    """What changes whenever a Labels layer is painted: None where napari hides it.

    The number of napari's undo and redo items and of a stroke's staged atoms, then the
    newest undo and redo items (napari sends no event for undo and redo). Objects are kept
    (not their ids): compared by identity (:func:`same_token`), never reused meanwhile.
    """
    from napari_unet.widgets._history import history_deques
    from napari_unet.widgets._private import private

    deques = history_deques(layer)
    staged = private(layer, "_staged_history")
    if deques is None or staged is None:
        return None
    undo, redo = deques
    return len(undo), len(redo), len(staged), *(d[-1] if d else None for d in deques)


def change_token(dock) -> tuple | None:
    """What changes whenever the dock's shown labels may have: None where napari hides it.

    The dock's edit events seen (:meth:`EditWatch.touch`), then the layer's
    :func:`history_token`.
    """
    token = history_token(dock._labels_layer)
    return None if token is None else (dock._edits.touches, *token)


def same_token(a: tuple | None, b: tuple | None) -> bool:
    """Two tokens of the same labels: counts equal, newest history items the same objects."""
    if a is None or b is None or len(a) != len(b) or a[:-2] != b[:-2]:
        return False
    return all(x is y for x, y in zip(a[-2:], b[-2:], strict=True))


class SnapshotSaver:
    """The autosave ticks of a Review dock whose labels are too large to copy on its thread.

    Parameters
    ----------
    dock : ReviewWidget
        Whose shown labels are saved (its layer, its :class:`EditWatch`, its writer).
    """

    def __init__(self, dock) -> None:
        self._dock = dock
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="napari-unet autosave copy")
        self._job: _Job | None = None
        self._signals = _Signals()
        self._signals.done.connect(self._done)
        self.dropped = 0  # copies dropped because the labels changed meanwhile (for tests)

    @property
    def busy(self) -> bool:
        """Whether a comparison and copy is running (the ticks meanwhile wait)."""
        return self._job is not None

    def start(self) -> bool:
        """Save the shown labels' edits in the thread; False: the caller saves them itself.

        True also while an earlier copy runs: one at a time, the next tick saves again.
        """
        dock = self._dock
        if self._job is not None:
            return True
        layer, watch = dock._labels_layer, dock._edits
        if dock._shown is None or layer is None or watch.layer is not layer:
            return False
        data = layer.data
        if type(data) is not np.ndarray or data.nbytes <= SYNC_BYTES:
            return False
        token = change_token(dock)
        if token is None or watch.baseline is None:
            return False  # no history to read: compared here, as before
        if watch._unchanged(watch._state()) and not watch._answer:
            return False  # nothing could have changed: the caller compares nothing
        self._job = _Job(dock._shown, layer, data, watch.baseline, token)
        self._pool.submit(self._work, self._job)
        return True

    def _work(self, job: _Job) -> None:
        """In the thread: compare with the labels last saved; copy if they differ."""
        from napari_unet.widgets._review_layers import same_labels

        try:
            job.same = same_labels(job.data, job.baseline)
            if not job.same:
                job.labels = np.array(job.data, copy=True)
        except (MemoryError, ValueError) as exc:  # tried again at the next tick
            job.error = exc
        with contextlib.suppress(RuntimeError):  # the dock (and its signals) may be gone
            self._signals.done.emit(job)

    def _valid(self, job: _Job) -> bool:
        """Whether the labels are still those of the job's decision (GUI thread)."""
        dock = self._dock
        layer = dock._labels_layer
        return (
            dock.review is not None
            and dock._shown == job.name
            and layer is job.layer
            and layer.data is job.data
            and dock._edits.baseline is job.baseline
            and same_token(job.token, change_token(dock))
        )

    def _done(self, job: _Job) -> None:
        """The copy is back: saved if nothing changed since the save was decided."""
        from napari_unet.widgets._review_actions import save_shown

        if job is not self._job:
            return
        self._job = None
        if job.error is not None or not self._valid(job):
            self.dropped += job.error is None
            return  # the next tick compares and copies again (the new edit included)
        dock = self._dock
        dock._edits.comparisons += 1
        if job.same:  # an edit undone: nothing to write (the last answer holds until a change)
            dock._edits.settle(False)
            dock.writer.save_review()
            return
        dock._edits.settle(True)
        save_shown(dock, force=False, edited=True, labels=job.labels)

    def close(self) -> None:
        """Stop the thread (the dock closes); a copy running ends and is dropped."""
        self._job = None
        self._pool.shutdown(wait=False, cancel_futures=True)
