"""The "Live" dock: the model trains while you paint, and its prediction follows.

Start fine-tunes the chosen model on the annotations of the chosen image, continuously, in
a background thread (:class:`napari_unet.core.live.trainer.LiveTrainer`). Every stroke,
erase or fill on the annotations layer is handed over as the box it changed (a copy of a few
thousand pixels on the GUI thread); napari's undo and redo, which emit no event, are found by
a comparison with the last copy sent, once a second, where napari's undo history changed
(:mod:`~napari_unet.widgets._live_edits`). The prediction of the view (the
visible part of the image plus the network's halo, from napari's public camera) comes back
into the ``<image> live prediction`` layer, drawn as outlines so the cells you painted
(filled, in the annotations layer) stand apart; it is refreshed after every
:attr:`~napari_unet.core.live.trainer.LiveConfig.refresh_steps` steps and when you pan or
zoom, and only its box is redrawn (:mod:`~napari_unet.widgets._live_view`).

Accept clicks: with *click to accept* on, a click on a predicted object copies it into the
annotations as a new cell (one undo step); *Accept all* copies every predicted
object in the view, or in the shapes of a chosen Shapes layer (painted cells win where they
overlap).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, FileEdit, Label, PushButton
from qtpy.QtCore import QObject, QTimer, Signal
from qtpy.QtWidgets import QMainWindow

from napari_unet.core.errors import InputError, memory_message
from napari_unet.core.live.view import capped_view
from napari_unet.widgets import _layers
from napari_unet.widgets import _live_runs as runs
from napari_unet.widgets._docking import tab_when_docked, when_deleted
from napari_unet.widgets._exporting import load_model_file
from napari_unet.widgets._live_accept import read_only_note
from napari_unet.widgets._live_begin import new_trainer
from napari_unet.widgets._live_boxes import box_size, changed_box, grown
from napari_unet.widgets._live_inputs import inputs_note, on_layer_removed, plane_note
from napari_unet.widgets._live_loading import (
    cancel_pending,
    model_picked,
    pending,
    start_soon,
    stop_loading,
)
from napari_unet.widgets._live_parts import FILE, TIPS, keep_idle, model_path, stop_soon
from napari_unet.widgets._live_picks import annotated_choices, follow_picks, region_choices
from napari_unet.widgets._live_region import link_region, region_note, region_picked
from napari_unet.widgets._live_view import live_layer, write_box
from napari_unet.widgets._live_watch import RunWatch
from napari_unet.widgets._predict_form import BUILTINS
from napari_unet.widgets._private import real

if TYPE_CHECKING:
    import napari

#: How often the annotations are compared with what was sent (undo, redo) (ms).
DIFF_MS = 1000
#: Quiet time after the camera moved before the view is predicted again (ms).
VIEW_MS = 300
#: Status line refresh (ms).
STATUS_MS = 500


class _Bridge(QObject):
    """The trainer thread's news, delivered on the GUI thread."""

    view = Signal(object)


class LiveWidget(_layers.KeepsPicks, Container):
    """Train while painting: strokes stream to a background trainer; the view follows."""

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__(labels=False)
        self._viewer = viewer = real(viewer)  # napari's own, not a Plugins-menu proxy
        self.trainer = None
        self._image = self._annotations = self._live = None
        self._mirror: np.ndarray | None = None  # the annotations as last sent
        self._edits = None  # what to compare with it (undo, redo)
        self._last_view = None
        self._views = 0
        self._link = self._watch = None  # while running: the region layer, the inputs followed
        self._capped = None  # the part of a large view that is predicted
        self._loading = None  # while Start loads the model in a thread
        self._other_names: list[str] = []
        self._left_out: list[str] = []  # other images left out, and why
        self._plane = None  # the plane trained on (_live_inputs.Plane)
        self._kept_for = None  # what the last run trained (_live_runs.Kept): Start continues it
        self._saving = None  # the worker writing a model file (Save model...)
        self._save_note = ""  # "; saved step 17 to NAME", kept on the status line
        self._make_controls()
        self._bridge = _Bridge()
        self._bridge.view.connect(self._on_view)
        self._timers = {
            "diff": self._timer(DIFF_MS, self._send_diff),
            "view": self._timer(VIEW_MS, self._request_view, single=True),
            "status": self._timer(STATUS_MS, self._show_status),
        }
        self._watcher = _layers.CloseWatcher(self._closed, confirmed=True)
        self.native.installEventFilter(self._watcher)
        when_deleted(self, "_closed")
        viewer.layers.events.removed.connect(self._on_removed)  # first: it stops training
        follow_picks(self)  # the image's annotations picked (not its prediction), as in Train
        runs.follow_stopped(self)  # after Stop: what Start does, as the picks change
        tab_when_docked(self)

    def _timer(self, ms: int, slot, single: bool = False) -> QTimer:
        timer = QTimer(self.native)
        timer.setInterval(ms)
        timer.setSingleShot(single)
        timer.timeout.connect(slot)
        return timer

    def _make_controls(self) -> None:
        choices = lambda kind: lambda _w=None: _layers.layer_choices(self._viewer, kind)  # noqa: E731
        self._image_box = ComboBox(label="image", choices=choices("Image"))
        self._labels_box = ComboBox(label="annotations", choices=choices("Labels"))
        self._model = ComboBox(label="model", choices=[*BUILTINS, FILE], value=next(iter(BUILTINS)))
        self._model_file = FileEdit(label="model file", mode="r", filter="*.safetensors")
        self._model_file.changed.connect(lambda _=None: setattr(self._model, "value", FILE))
        for signal in (self._model.changed, self._model_file.changed, self._model.native.activated):
            signal.connect(lambda *_: model_picked(self))  # afresh from it; a loading Start ends
        self._annotated_box = ComboBox(
            label="annotated region", choices=lambda _w=None: annotated_choices(self)
        )
        self._others = CheckBox(text="also train on other annotated images", value=False)
        self._start = PushButton(text="Start live training")
        self._pause = PushButton(text="Pause", enabled=False)
        self._stop = PushButton(text="Stop", enabled=False)
        self._save = PushButton(text="Save model...", enabled=False)
        self._click = CheckBox(text="click to accept a predicted object", value=False)
        self._region_box = ComboBox(label="accept in", choices=lambda _w=None: region_choices(self))
        self._accept_view = PushButton(text="Accept all", enabled=False)
        self._status = Label(value="")  # what Start would train on (keep_idle)
        _layers.message_label(self._status)
        self._start.changed.connect(lambda *_: start_soon(self))  # loads in a thread
        self._pause.changed.connect(self.toggle_pause)
        self._stop.changed.connect(lambda *_: stop_soon(self))  # napari stays responsive
        self._save.changed.connect(self._on_save)
        self._accept_view.changed.connect(self.accept_in_region)
        self._click.changed.connect(self._on_click_mode)
        # Another image or annotations layer: the running session ends (its model is kept).
        self._image_box.changed.connect(self._on_choice)
        self._labels_box.changed.connect(self._on_choice)
        # used from now on; Qt's signal: magicgui's changed is not emitted for None (no region)
        self._annotated_box.native.currentIndexChanged.connect(lambda *_: region_picked(self))
        for name, tip in TIPS.items():
            getattr(self, name).tooltip = tip
        self.extend(
            [Container(widgets=[self._image_box, self._labels_box, self._model,
                                self._model_file, self._annotated_box, self._region_box],
                       labels=True),
             self._others, self._start,
             _layers.row(self._pause, self._stop, self._save), self._click,
             self._accept_view, self._status]
        )  # fmt: skip
        keep_idle(self)

    # -- start and stop ---------------------------------------------------------------------
    def start(self, _value=None) -> bool:
        """Start live training on the chosen image and annotations (False on bad input).

        The model is loaded here, on the calling thread (scripts); the Start button loads
        it in a thread (:func:`~napari_unet.widgets._live_loading.start_soon`).
        """
        try:
            path = model_path(self)
            loaded = load_model_file(path)
        except (InputError, OSError) as exc:
            _layers.report_error(self._status, str(exc))
            return False
        return self._begin(loaded, pending(self, path))

    def _begin(self, loaded, started=None) -> bool:
        """Start training with ``loaded`` = ``(model, metadata)`` (False on bad input).

        ``started``: the Start's :class:`~napari_unet.widgets._live_loading.Pending`.
        """
        self._loading = None
        made = new_trainer(self, loaded, started)  # the inputs read, the last run stopped
        if made is None:  # refused: said
            return False
        trainer, previous, inputs = made
        image, labels, plane = inputs.image, inputs.labels, inputs.plane.shape
        _layers.widen_labels(labels)  # uint8 (255 cells at most), or read lazily: in memory
        self._image, self._annotations, self._plane = image, labels, inputs.plane
        self.trainer = trainer
        self._last_view, self._views, self._capped = None, 0, None  # not the last run's
        self._save_note = ""  # a save of the last run
        self._other_names, self._left_out = inputs.names, inputs.left_out
        self._other_labels = inputs.used  # the labels layer of each (said in the status)
        link_region(self)  # followed; another one picked while training: region_picked
        kept = runs.start_mirror(self, previous, plane)  # the stopped run's: what changed since
        self._watch = RunWatch(self, image, labels)  # moved off its pixels, new data: stop
        self._live = live_layer(self._viewer, image, plane, dock=self)
        self._viewer.layers.selection.active = labels
        if self._click.value:  # ticked before Start: a click accepts, it must not also paint
            labels.mode = "pan_zoom"
        labels.events.paint.connect(self._on_paint)
        _layers.connect_view(self._viewer, self._on_camera)  # the camera, canvas size, grid
        runs.send_start(self, kept)  # what is painted already (kept: what changed since Stop)
        for timer in ("diff", "status"):
            self._timers[timer].start()
        self._request_view()
        self._set_running(True)
        window = self.native.window()  # docked: closing napari stops the thread
        if isinstance(window, QMainWindow):
            window.installEventFilter(self._watcher)
        return True

    def stop(self, _value=None) -> None:
        """Stop training; the model is kept (Save, or Start again)."""
        stop_loading(self)  # a model being loaded for Start: no training
        for timer in getattr(self, "_timers", {}).values():
            with contextlib.suppress(RuntimeError):
                timer.stop()
        if self.trainer is None:
            return
        if self.trainer.running:  # else it ended by itself (an error): only tear down
            try:
                self._send_diff(full=True)
            finally:  # whatever the sending met, the trainer stops
                self.trainer.stop()
        for part in ("_link", "_watch"):  # no longer followed
            if getattr(self, part) is not None:
                getattr(self, part).close()
                setattr(self, part, None)
        with contextlib.suppress(Exception):  # the layer may be gone with the viewer
            self._annotations.events.paint.disconnect(self._on_paint)
        with contextlib.suppress(Exception):  # (apart: the view's, whatever the paint's met)
            _layers.connect_view(self._viewer, self._on_camera, connect=False)
        with contextlib.suppress(RuntimeError):
            self._set_running(False)
            runs.show_stopped(self)  # and what Start does next

    def _on_choice(self, _value=None) -> None:
        running = self.trainer is not None and self.trainer.running
        picks = (self._image_box.value, self._labels_box.value)
        if running and picks != (self._image, self._annotations):
            self.stop()
        else:  # a Start pressed for other picks, its model loading: it does not begin
            cancel_pending(self, picks)

    def toggle_pause(self, _value=None) -> None:
        """Pause or resume training."""
        if self.trainer is None:
            return
        if self.trainer.paused:
            self.trainer.resume()
            self._pause.text = "Pause"
        else:
            self.trainer.pause()
            self._pause.text = "Resume"

    def _set_running(self, running: bool) -> None:
        self._start.enabled = not running
        self._pause.enabled = self._stop.enabled = self._accept_view.enabled = running
        self._save.enabled = self.trainer is not None
        self._pause.text = "Pause"

    # -- strokes ----------------------------------------------------------------------------
    def _on_paint(self, event) -> None:
        box = changed_box(event.value, self._mirror.shape)
        trainer = self.trainer  # napari emits a fill's or data_setitem's event before it
        if box is not None:  # writes the pixels: they are read on the next loop turn
            QTimer.singleShot(0, lambda: self.trainer is trainer and self._send(box))

    def _send(self, box, undone: bool = False) -> None:
        runs.send_box(self, box, undone)  # the layer's own ids; nothing once it changed shape

    def _send_diff(self, full: bool = False) -> None:
        """Send what changed without a paint event: undo, redo (and, at Start and Stop, scripts).

        Undos and redos as taken back (a cell undone is no longer annotated), the rest as
        strokes (an erased cell is annotated background); never in a brush stroke, whose paint event
        comes when it ends (napari groups its edits in its private ``_block_history``).
        Compared only where napari's undo history changed (:class:`EditWatch`); the whole
        plane when ``full``. Nothing once the layer's data changed shape (:func:`reshaped`).
        """
        runs.send_diff(self, full)

    # -- the view ---------------------------------------------------------------------------
    def _on_removed(self, event) -> None:
        if event.value is self._live and self._live is not None:  # no longer written to
            self._live = None
        on_layer_removed(self, event.value)  # the trained image or annotations: stop

    def _on_camera(self, _event=None) -> None:
        self._timers["view"].start()  # (re)start the quiet period

    def _request_view(self) -> None:
        if self.trainer is None or not self.trainer.running:
            return
        from napari_unet.core.inference.runner import model_info

        box = _layers.visible_box(self._viewer, self._image, self._mirror.shape)
        if box is None:
            return
        box, capped = capped_view(box, self.trainer.config.view_max_pixels)
        self._capped = box if capped else None  # said in the status line
        halo = int(model_info(self.trainer.model)[0].halo)
        self.trainer.request_view(grown(box, halo, self._mirror.shape))

    def _on_view(self, result) -> None:
        if self._live is None or result.labels.shape != box_size(result.box):
            return
        write_box(self._live, result.box, result.labels)  # redraws the box, not the plane
        self._last_view = result
        self._views += 1

    def _show_status(self) -> None:
        t = self.trainer
        if t is None:
            return
        view = self._last_view
        seen = "" if view is None else f"; view of step {view.step} ({view.seconds:.2f} s)"
        if self._capped is not None:
            y0, y1, x0, x1 = self._capped
            seen += f"; zoom in: only the centre {y1 - y0} x {x1 - x0} px of the view is predicted"
        if self._live is None:
            seen = "; its prediction layer was deleted (Stop, then Start, to see it again)"
        loss = "" if t.loss is None else f", loss {t.loss:.3f}"
        state = "paused" if t.paused else "training"
        if not t.data.annotated:
            state = "waiting for the first painted cell"
        state += inputs_note(self) + runs.run_note(self)  # the plane, other images, continued
        seen += plane_note(self) + read_only_note(self) + region_note(self)  # region: picked
        problem = runs.reshaped(self) if t.error is None else memory_message(t.error) or t.error
        if problem is not None:  # an error of the thread, or the annotations reshaped
            self.stop()
            _layers.report_error(self._status, f"Live training stopped: {problem}")
            return
        self._status.value = f"Live: {state}, step {t.step}{loss}{seen}{self._save_note}"

    # -- accepting predictions -----------------------------------------------------------------
    def accept_at(self, y: int, x: int) -> bool:
        """Copy the predicted object at data pixel ``(y, x)`` into the annotations."""
        from napari_unet.widgets._live_accept import accept_at
        from napari_unet.widgets._live_stale import refuse_changed

        if self._live is None:
            return False
        refuse_changed(self)  # a prediction of the image before (the Review dock's next)
        return accept_at(self._live.data, self._annotations, y, x)  # its paint event sends it

    def _on_click_mode(self, on: bool) -> None:
        from napari_unet.widgets._live_accept import click_mode

        click_mode(self, on)

    def _closed(self) -> None:
        """The dock (or napari) closed: training stops and a click no longer accepts."""
        with contextlib.suppress(Exception):  # the viewer may be gone with the window
            self._on_click_mode(False)  # before, a closed dock's click still copied objects
        self.stop()

    def _on_click(self, viewer, event):
        """A click (not a drag) on the annotations or prediction layer accepts (a generator)."""
        from napari_unet.widgets._live_accept import click_gesture

        yield from click_gesture(self, viewer, event)

    def accept_in_region(self, _value=None) -> int:
        """Copy the predicted objects in the chosen region (or the view); how many.

        Painted cells win: where a predicted object overlaps one, only its free pixels are
        copied (:func:`~napari_unet.core.annotation.edits.merge_prediction`, on the region's
        box only).
        """
        from napari_unet.widgets._live_accept import accept_in_box, accept_region

        if self._live is None:
            return 0
        try:
            box, region = accept_region(self)
            if box is None:
                return 0
            return accept_in_box(self._annotations, self._live.data, box, region)
        except InputError as exc:
            _layers.report_error(self._status, str(exc))
            return 0

    def _on_save(self, _value=None) -> Path | None:
        from napari_unet.widgets._live_parts import save_model

        return None if self.trainer is None else save_model(self)
