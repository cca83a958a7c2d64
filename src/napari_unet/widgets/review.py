"""The "Review" dock: step through a folder of segmentations; judge, correct, measure, export.

The corrected images go to the Train dock as training pairs in one click.

The dock is thin: the review file, the label files and the predictions computed ahead live in
:mod:`napari_unet.core.review` (no Qt). A :class:`~napari_unet.core.review.prefetch.Prefetcher`
thread keeps the next images ready; a :class:`~napari_unet.core.review.writer.Writer` thread
writes edits (on leaving an image and every :data:`AUTOSAVE_MS`) and the review file. The GUI
thread only swaps the layers' data (the prefetcher copied the labels to paint on), copies
edited labels and fills the object table.

Keys (while the viewer has the focus): PageDown next, PageUp previous, Alt+A accept,
Alt+W needs work, Alt+R reject, Home first unreviewed image.
"""

from __future__ import annotations

import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from magicgui.widgets import Container
from qtpy.QtCore import QTimer

from napari_unet.core.errors import InputError
from napari_unet.widgets import _layers, _review_conflicts
from napari_unet.widgets._docking import tab_when_docked, when_deleted
from napari_unet.widgets._private import real
from napari_unet.widgets._review_actions import Bridge, measure_shown
from napari_unet.widgets._review_form import ReviewForm
from napari_unet.widgets._review_keys import bind_keys, unbind_keys
from napari_unet.widgets._review_left import leave_layers, take_back
from napari_unet.widgets._review_notes import ShownNotes
from napari_unet.widgets._review_snapshot import SnapshotSaver

if TYPE_CHECKING:
    import napari

#: Autosave period while an image is being edited (milliseconds).
AUTOSAVE_MS = 3000
#: How many images the prefetcher keeps ready (the current one, two ahead, one behind).
CACHE = 4


class ReviewWidget(Container):
    """Review a folder of images: predictions ahead, verdicts, edits saved, measurements."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__(labels=False)
        self._viewer = viewer = real(viewer)  # napari's own, not a Plugins-menu proxy
        self.review = self.prefetcher = self.writer = None
        self._index, self._model_name = 0, ""
        self._request: dict | None = None  # the form's choices the open review was made with
        self._image_layer = self._labels_layer = self._connected = None
        self._image_layers: dict = {}  # (ndim, rgb) -> the image layer of that kind
        self._shown: str | None = None  # the image whose labels are in the layer
        self._dirty = self._loading = False  # _dirty: edits since the last save
        # Another session's saves (_review_conflicts): seen at showing, refused, said.
        self._entry_seen = self._conflict = self._conflict_note = None
        from napari_unet.widgets._review_layers import EditWatch

        self._edits = EditWatch()  # the labels as loaded or last saved (undo is no event)
        self._notes = ShownNotes()  # the shown prediction's warnings (channels averaged...)
        self._clock, self._measure_job = time.monotonic(), 0
        self.awaiting_model = None  # Train on corrected's token: its runs' models are used
        self._form = ReviewForm()
        self._make_controls()
        self._bridge = Bridge()
        self._bridge.ready.connect(self._on_ready)
        self._bridge.failed.connect(self._on_failed)
        self._bridge.save_failed.connect(self._on_save_failed)
        self._bridge.conflict.connect(lambda text: _review_conflicts.noted(self, text))
        self._bridge.measured.connect(self._on_measured)
        self._measure_pool = ThreadPoolExecutor(1, thread_name_prefix="napari-unet measure")
        self._timer = QTimer(self.native)
        self._timer.setInterval(AUTOSAVE_MS)
        self._timer.timeout.connect(self.autosave)
        self._saver = SnapshotSaver(self)  # large labels: compared and copied in a thread
        self._watcher = _layers.CloseWatcher(self._removed, confirmed=True)  # not on Cancel
        self.native.installEventFilter(self._watcher)
        when_deleted(self, "_closed")
        self._keys = bind_keys(viewer, self)  # held weakly, taken out when removed
        tab_when_docked(self)

    def _make_controls(self) -> None:
        from napari_unet.widgets._review_form import build_controls

        build_controls(self)
        self._set_enabled(False)

    def _set_enabled(self, on: bool) -> None:
        for w in (self._prev, self._next, self._first, self._accept_btn, self._needs_btn,
                  self._reject_btn, self._export, self._train):  # fmt: skip
            w.enabled = on

    # -- opening ----------------------------------------------------------------------------
    def open(self, _value=None) -> bool:
        """Open the chosen folder (resuming its review); False with a message on bad input.

        The new folder and model are checked before the review open now is closed: a refused
        folder leaves that review running (its buttons, its saves).
        """
        from napari_unet.core.review.writer import Writer
        from napari_unet.widgets._review_actions import prepare_open
        from napari_unet.widgets._review_auto import make_prefetcher

        try:
            req, review, model, metadata = prepare_open(self)
        except (InputError, OSError) as exc:
            _layers.report_error(self._status, str(exc))
            self._set_enabled(self.review is not None)
            return False
        self.shutdown()
        resumed = review.resumed  # a review file there before Open (not the one it wrote)
        self.review, self._model_name, self._request = review, req["name"], req
        self.writer = Writer(review, on_error=lambda e: self._bridge.save_failed.emit(str(e)))
        review.on_conflict = lambda e: self._bridge.conflict.emit(str(e))  # labels kept aside
        self.prefetcher = make_prefetcher(  # auto: each image's own built-in model
            review, model, metadata, req["name"], cache=CACHE, queue_all=req["queue_all"],
            on_ready=self._bridge.ready.emit, on_error=self._bridge.failed.emit,
            unsaved=self.writer.unsaved, on_warning=self._bridge.save_failed.emit,
        )  # fmt: skip
        self._set_enabled(True)
        self._keys = bind_keys(self._viewer, self, self._keys)  # again if the dock was removed
        self._shown = None
        window = self.native.window()  # docked: closing napari saves and stops the threads
        if window is not self.native:
            window.installEventFilter(self._watcher)
        start = review.current if resumed else (review.first_unreviewed() or 0)
        self._report.value = ("Resumed: " if resumed else "") + review.report()
        self._summary.show_rows([])  # the last folder's export summary goes
        self._timer.start()
        self.go(start)
        return True

    # -- moving -----------------------------------------------------------------------------
    @property
    def current_name(self) -> str | None:
        """The image shown (or being predicted), None before a folder is open."""
        return None if self.review is None else self.review.names[self._index]

    def go(self, index: int) -> None:
        """Show image ``index`` (its labels as soon as they are ready)."""
        if self.review is None:
            return
        names, n = self.review.names, len(self.review.names)
        index = max(0, min(n - 1, int(index)))
        stay = index == self._index and self._shown == names[index]
        self.leave()
        self._index = self.review.current = index
        order = [index, index + 1, index + 2, index - 1, index + 3]
        self.prefetcher.want([names[i] for i in order if 0 <= i < n])
        self.writer.save_review()
        self._clock = time.monotonic()
        if stay:  # on screen already (PageUp on the first image): a reload cleared its undo
            return
        item = self.prefetcher.get(names[index])
        if item is not None:
            self._show(item)
        else:
            self._wait(names[index])

    def go_to(self, name: str) -> None:
        """Show the image called ``name``."""
        if self.review is not None and name in self.review.names:
            self.go(self.review.names.index(name))

    def next_image(self) -> None:
        """Go to the next image."""
        self.go(self._index + 1)

    def previous_image(self) -> None:
        """Go to the previous image."""
        self.go(self._index - 1)

    def first_unreviewed(self) -> None:
        """Go to the first image (from here on) not accepted or rejected."""
        if self.review is not None:
            found = self.review.first_unreviewed(self._index)
            if found is None:
                self._status.value = "Every image is accepted, corrected or rejected."
            else:
                self.go(found)

    # -- verdicts ---------------------------------------------------------------------------
    def accept(self) -> None:
        """Accept the labels shown (``corrected`` when they were edited); go to the next image."""
        self._verdict("accepted", keep=True)

    def needs_work(self) -> None:
        """Mark the image as needing work (edits kept); go to the next image."""
        self._verdict("needs-work", keep=False)

    def reject(self) -> None:
        """Reject the image (left out of the export); go to the next image."""
        self._verdict("rejected", keep=False)

    def _verdict(self, status: str, keep: bool) -> None:
        from napari_unet.widgets._review_actions import judge

        judge(self, status, keep)

    # -- saving -----------------------------------------------------------------------------
    def save(self, force=False, edited: bool | None = None, changed: bool | None = None) -> None:
        """Save the shown labels if they were edited (or ``force``), off the GUI thread.

        ``edited``: the caller's answer of :meth:`_edited` (not compared again); ``changed``:
        whether they differ from the labels the image came with (noted in the review).
        """
        from napari_unet.widgets._review_actions import save_shown

        save_shown(self, force, edited, changed)

    def autosave(self) -> None:
        """The timer's save: edits since the last save, and the time spent."""
        if self.review is None:
            return
        self._account_time()
        pending = self._shown is not None and self.writer.unsaved(self._shown) is not None
        if pending and self._shown not in self.writer.failed:
            return  # its last save is still being written: one full copy queued at a time
        if self._saver.start():
            return  # large labels: compared and copied in a thread, saved when back
        if self._edited():
            self.save()
        else:
            self.writer.save_review()

    def _account_time(self) -> None:
        now = time.monotonic()
        if self._shown is not None:
            self.review.add_time(self._shown, now - self._clock)
        self._clock = now

    def leave(self) -> None:
        """Save the shown image's edits and time before another image is shown."""
        if self.review is None or self._shown is None:
            return
        self._account_time()
        edited = self._edited()
        self.save(edited=edited, changed=self._edits.changed(edited))

    def _on_save_failed(self, text: str) -> None:
        """A write failed (queued from the writer): said unless the review has closed since."""
        if self.review is not None:  # at close the rescue says where the labels went
            with contextlib.suppress(RuntimeError):  # the dock's labels may be deleted
                _layers.report_error(self._status, text)

    def _removed(self) -> None:
        """The dock removed or napari closing: keys gone, work saved, labels left read-only."""
        unbind_keys(self._viewer, self._keys)
        self.shutdown()
        leave_layers(self)

    def _closed(self) -> None:
        self._removed()
        self._measure_pool.shutdown(wait=False, cancel_futures=True)
        self._saver.close()

    def shutdown(self) -> None:
        """Save everything and stop the threads (closing the dock or the viewer)."""
        with contextlib.suppress(RuntimeError, AttributeError):  # the timer dies with the dock
            self._timer.stop()
        self._measure_job += 1  # a measurement still running is dropped when it ends
        if self.review is None:
            return
        self.leave()
        if self.writer is not None:
            self.writer.save_review()
            if not self.writer.close():
                from napari_unet.widgets._review_actions import rescue_unsaved

                rescue_unsaved(self.writer, self.review.output)
        if self.prefetcher is not None:
            self.prefetcher.close()
        self.review = self.prefetcher = self.writer = None
        self._shown = None

    # -- showing ----------------------------------------------------------------------------
    def _wait(self, name: str) -> None:
        """The image is not ready: hide the previous one (no edit can land on it) and wait."""
        self._shown = None
        for layer in [*self._image_layers.values(), self._labels_layer]:
            if layer is not None:
                layer.visible = False
        if self._labels_layer is not None:
            self._labels_layer.editable = False
        error = self.prefetcher.error(name)
        if error:
            self._on_failed(name, error)
        else:
            self._status.value = f"{self._position()} {name}: predicting..."

    def _on_ready(self, name: str) -> None:
        self._show_progress()
        if name == self.current_name and self._shown != name:
            item = self.prefetcher.get(name)
            if item is not None:
                self._show(item)

    def _on_failed(self, name: str, message: str) -> None:
        self._show_progress()
        if name == self.current_name:
            _layers.report_error(self._status, f"{name}: {message}")

    def _show(self, item) -> None:
        from napari_unet.widgets._review_layers import show_item

        take_back(self)  # the layers a closed Review dock left (or this one, closed before)
        self._loading = True
        try:
            self._image_layer, self._labels_layer = show_item(
                self._viewer, self._image_layers, self._labels_layer, item
            )
            if self._connected is not self._labels_layer:  # a new layer: watch its edits
                for kind in ("labels_update", "paint", "data"):
                    getattr(self._labels_layer.events, kind).connect(self._on_edit)
                self._connected = self._labels_layer
        finally:
            self._loading = False
        self._table.attach(self._viewer, self._labels_layer)
        self._shown, self._dirty = item.name, False
        entry = self.review.entries[item.name]
        _review_conflicts.shown(self, item.name)  # what another session does since is seen
        self._edits.start(self._labels_layer, item, entry)  # the labels the image came with
        self._clock = time.monotonic()
        self._notes.show(self.review, item)  # found by the prefetch thread, said once
        self._show_status()
        if warning := entry.extra.get("changed"):
            from napari.utils.notifications import show_warning

            show_warning(warning)
        self._show_progress()
        self._table.show(None)  # the previous image's rows go; this one's come from a thread
        measure_shown(self, item.name, item.labels, item.image)

    def _on_measured(self, job: int, name: str, table) -> None:
        if job == self._measure_job and self._shown == name:
            self._table.show(table)
            if table is not None:  # the count after edits, before the save lands
                self._show_status(objects=len(table["label"]))

    def _on_edit(self, _event=None) -> None:
        self._edits.touch()
        if not self._loading and self._shown is not None:
            self._dirty = True

    def _edited(self) -> bool:
        """Whether the labels shown differ from those last loaded or saved.

        A comparison with the last saved labels, made only when a paint, a change of the
        undo/redo history or new data could have changed them (:class:`EditWatch`): napari's
        undo and redo change the data without an event, and a stroke undone is no edit.
        """
        if self._shown is None or self._labels_layer is None:
            return False
        return self._edits.edited()

    def _position(self) -> str:
        return f"{self._index + 1}/{len(self.review.names)}"

    def _show_status(self, objects: int | None = None) -> None:
        name = self.current_name
        entry = self.review.entries[name]
        objects = entry.objects if objects is None else objects
        changed = entry.extra.get("changed")
        found = "not read or predicted" if objects is None else (  # (a failed image's)
            f"{objects} objects from {entry.source or 'the model'}")
        note = f" Error: {self._conflict_note}" if self._conflict_note else ""
        self._status.value = (
            f"{self._position()} {name}: {entry.status}; {found}; {entry.seconds:.0f} s spent"
        ) + (f". {changed}" if changed else "") + note + self._notes.line(self._shown)

    def _show_progress(self) -> None:
        if self.prefetcher is None:
            return
        busy, left = self.prefetcher.busy, self.prefetcher.pending()
        self._progress.value = f"Predicting {busy} ({left} to go)" if busy else ""

    # -- export and training ----------------------------------------------------------------
    def export(self, _value=None) -> None:
        """Export the accepted and corrected images (labels, measurements, summary)."""
        from napari_unet.widgets._review_actions import export

        export(self)

    def train_on_corrected(self, _value=None):
        """Send the corrected images to the Train dock as pairs (read in a worker, returned)."""
        from napari_unet.widgets._review_training import train_on_corrected

        return train_on_corrected(self)

    def set_model(self, model, metadata: dict, name: str, saved: Path | None = None, run=None):
        """A model the Train dock trained: offered; used if trained on the pairs sent (``run``)."""
        from napari_unet.widgets._review_training import use_trained

        use_trained(self, model, metadata, name, saved, run)
