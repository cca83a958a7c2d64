"""While the Live dock trains: changes of the image and annotations that training cannot follow.

Start reads the image's plane once and checks that the annotations lie on its pixels
(:func:`~napari_unet.widgets._regions.check_same_grid`); :class:`RunWatch` keeps watching
both layers until Stop:

- **The annotations moved off the image's pixels** (napari's transform mode, or a new
  ``scale``, ``translate``, ``rotate``, ``shear`` or ``affine`` of either layer): training
  stops, and the status line says why. Before, the move went unnoticed and the model was
  trained on cells painted where they are seen, over other pixels of the image. Checked on
  the next turn of the event loop, so a script that gives both layers a pixel size, one
  after the other, does not stop it: then the prediction layer follows the image.
- **The image's data replaced** (``layer.data = ...``, of the same shape or not): training
  stops, and the status line says so (Start again trains on the new pixels). Before,
  training and its prediction went on with the old pixels. The prediction of the old
  pixels is cleared (:mod:`~napari_unet.widgets._live_stale`).
- **The Review dock showed its next image in the annotations** (their data replaced, the
  image layer hidden when the next image is of another kind, grey or colour): training
  stops, and the old image's prediction is cleared. Before, the hidden image's pixels
  were trained with the next image's labels. Annotations replaced by a script otherwise
  are sent as strokes (:func:`~napari_unet.widgets._live_runs.send_diff`).
"""

from __future__ import annotations

import contextlib

from qtpy.QtCore import QTimer

from napari_unet.core.errors import InputError
from napari_unet.widgets import _layers
from napari_unet.widgets._live_parts import MOVES
from napari_unet.widgets._live_stale import changed_since, clear_prediction, note_shown
from napari_unet.widgets._live_view import placement_of
from napari_unet.widgets._made_layers import place

__all__ = ["RunWatch"]


class RunWatch:
    """Stops the dock's run when its annotations leave the image's pixels or the image changes."""

    def __init__(self, dock, image, labels) -> None:
        self.dock, self.image, self.labels = dock, image, labels
        self.trainer = dock.trainer  # the run watched (None once closed)
        self._connected: list = []
        for layer in (image, labels):
            for name in MOVES:
                self._connect(layer, name, self._moved)
        self._connect(image, "data", self._replaced)
        self._connect(labels, "data", self._labels_replaced)  # the Review dock's next image
        note_shown(dock, image, labels)  # what changes since: accepts refused (_live_stale)

    def _connect(self, layer, name: str, slot) -> None:
        event = getattr(layer.events, name, None)
        if event is not None:
            event.connect(slot)
            self._connected.append((event, slot))

    def _current(self) -> bool:
        trainer = self.trainer
        return trainer is not None and self.dock.trainer is trainer and trainer.running

    def _moved(self, _event=None) -> None:
        QTimer.singleShot(0, self._check_grid)  # once a script moved both layers

    def _check_grid(self) -> None:
        from napari_unet.widgets._regions import check_same_grid

        if not self._current():
            return
        try:
            check_same_grid(self.labels, self.image, what="the annotations")
        except InputError as exc:
            self._stop(f"{exc} (they were moved while training), then Start again")
            return
        live = self.dock._live  # both moved alike: the prediction follows the image
        if live is not None:
            place(live, placement_of(self.image))

    def _replaced(self, _event=None) -> None:
        name = self.image.name
        problem = f"the image {name!r} changed; Start again to train on it"
        QTimer.singleShot(0, lambda: self._current() and self._stop(problem, clear=True))

    def _labels_replaced(self, _event=None) -> None:
        QTimer.singleShot(0, self._check_shown)  # once the Review dock's step is done

    def _check_shown(self) -> None:
        why = changed_since(self.dock) if self._current() else None
        if why is not None:  # else a script's new data: sent as strokes
            self._stop(f"{why}; its prediction of the image before was cleared; Start again "
                       "to train on the image shown", clear=True)  # fmt: skip

    def _stop(self, problem: str, clear: bool = False) -> None:
        self.dock.stop()  # closes this watch
        if clear:  # a prediction of the pixels before: never accepted
            clear_prediction(self.dock)
        with contextlib.suppress(RuntimeError):  # (the dock closing with napari)
            _layers.report_error(self.dock._status, f"Live training stopped: {problem}")

    def close(self) -> None:
        """Stop watching (at Stop)."""
        for event, slot in self._connected:
            with contextlib.suppress(Exception):
                event.disconnect(slot)
        self._connected = []
        self.trainer = None
