"""The "Weight map" dock: see the U-Net boundary weights (and target) of a Labels layer."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, FloatSpinBox, Label, PushButton, SpinBox
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QDockWidget

from napari_unet.core.images.labels import check_not_saved_mask
from napari_unet.core.options import describe
from napari_unet.core.training.targets import MODES, WeightMapSettings
from napari_unet.core.training.weightmap import iter_target_and_weights
from napari_unet.widgets import _layers
from napari_unet.widgets._docking import tab_when_docked, when_deleted
from napari_unet.widgets._labels_default import LabelsDefault
from napari_unet.widgets._private import real
from napari_unet.widgets._redrawn import labels_fingerprint
from napari_unet.widgets._train_helpers import RegionDefault
from napari_unet.widgets._weightmap_work import (
    EditWatch,
    LabelsImage,
    MapFigures,
    SharedId,
    changed_since,
    labels_to_read,
    layer_shaped,
    map_figures,
    show_maps,
)
from napari_unet.widgets._worker_errors import surfaced

if TYPE_CHECKING:
    import napari

#: Milliseconds of quiet after a change before the map is recomputed.
DEBOUNCE_MS = 300
NO_MASK = "(whole image)"
#: The dock's largest sigma (px): above about 15 px the weights take the slower SciPy path
#: (2048 x 2048 with 2,000 cells: 37 s at 60 px, 279 s at 120), and a run cannot be stopped.
SIGMA_MAX = 50.0


class WeightMapWidget(_layers.KeepsPicks, Container):
    """Compute the U-Net weight map of a Labels layer and show it as an Image layer.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer whose Labels layers are used.

    Notes
    -----
    The result appears as an Image layer ``"<labels> weights"`` (and, optionally, a Labels
    layer ``"<labels> target"`` with the separated target). With "update on change" on, the
    map is recomputed after any change of a setting or an edit of the labels or of the
    annotated-region layer (a paint stroke, an undo or redo, a shape drawn), once things have
    been quiet for :data:`DEBOUNCE_MS`; a redraw that left the labels as they were (a new
    slice) computes nothing. Work runs in a napari thread worker on a copy of the layer;
    changes made meanwhile queue a single re-run, so work never piles up. While the dock is
    out of sight (a background tab of a shown window) nothing is computed: the update waits
    until the dock is shown, so an unused dock adds no layers and costs nothing.
    """

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__(labels=False)
        self._viewer = viewer = real(viewer)  # napari's own, not a Plugins-menu proxy
        d = WeightMapSettings
        self._labels_box = ComboBox(label="annotations", choices=self._labels_choices)
        self._mask = ComboBox(label="annotated region", choices=self._mask_choices)
        self._w0 = FloatSpinBox(label="w0", value=d.w0, min=0.0, max=1000.0, step=1.0)
        self._sigma = FloatSpinBox(
            label="sigma (px)", value=d.sigma, min=0.1, max=SIGMA_MAX, step=0.5
        )
        self._gap = SpinBox(label="gap (px)", value=d.gap, min=0, max=10)
        self._class_weights = ComboBox(
            label="class weights", choices=["balanced", "none"], value=d.class_weights
        )
        self._mode = ComboBox(label="target", choices=list(MODES), value=d.mode)
        self._show_target = CheckBox(text="show the separated target", value=True)
        self._live = CheckBox(text="update on change", value=False)
        self._run = PushButton(text="Compute weight map")
        for widget, key in (
            (self._labels_box, "labels"), (self._mask, "region"), (self._w0, "w0"),
            (self._sigma, "sigma"), (self._gap, "gap"), (self._class_weights, "dock_class_weights"),
            (self._mode, "mode"), (self._show_target, "show_target"), (self._live, "live"),
            (self._run, "compute"),
        ):  # fmt: skip
            widget.tooltip = describe(key)
        self._status = Label(value="")
        # Two lines kept while live updates change it; a long error never widens the dock.
        _layers.message_label(self._status, lines=2)
        self._status.value = self._idle = self._idle_text()  # follows the picks (_show_idle)
        # The labels' image's "<image> annotations", then its ground truth, unless the user
        # chose labels; the Annotate dock's "<image> annotated region" of the labels' image,
        # unless the user chose a region. The labels' image is kept when either is renamed.
        self._labels_image = LabelsImage(viewer, lambda: self._labels_box.value)
        self._labels_default = LabelsDefault(self._labels_box, self._labels_image, viewer)
        self._region_default = RegionDefault(self._mask, self._labels_image)
        settings = Container(widgets=[
            self._labels_box, self._mask, self._w0, self._sigma, self._gap, self._class_weights,
            self._mode,
        ], labels=True)  # fmt: skip
        self.extend([settings, self._show_target, self._live, self._run, self._status])
        self.result: tuple[np.ndarray, np.ndarray] | None = None
        self._worker, self._job = None, 0  # the run whose signals count (not a dropped one's)
        self._removed = False  # the dock was taken out of napari (edits start no run then)
        self._pending = False
        self._must_run = False  # a change that needs a run (not just a redraw) is waiting
        self._computed = None  # the fingerprint of the labels last computed (fingerprint)
        # Paint strokes in the labels, and an undo/redo (which only redraws the layer).
        self._labels_watch = EditWatch(self._schedule, redraw=self._on_redraw)
        # And edits of the annotated region (an undo or redo of a Labels region too).
        self._region_watch = EditWatch(self._schedule, redraw=self._on_redraw)
        self._timer = QTimer(self.native)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self._on_quiet)
        self._stale = False  # a change arrived while the dock was out of sight
        self._dock: QDockWidget | None = None
        self._run.changed.connect(self._start)
        for widget in (self._w0, self._sigma, self._gap, self._class_weights):
            widget.changed.connect(self._schedule)
        self._mask.changed.connect(self._on_region_changed)
        self._mode.changed.connect(self._schedule)
        self._show_target.changed.connect(self._schedule)
        self._live.changed.connect(self._schedule)  # switched on: bring the map up to date
        self._labels_box.changed.connect(self._on_labels_changed)
        _layers.on_layers_changed(viewer, self._refresh_choices)
        self._refresh_choices()
        # Removing the dock (or closing napari) drops a run: nothing is added after it, and
        # its signals never reach deleted widgets (before: tracebacks, or Python aborted).
        self._watcher = _layers.CloseWatcher(self._closed, confirmed=True)
        self.native.installEventFilter(self._watcher)
        when_deleted(self, "_closed")
        tab_when_docked(self)  # opened from the Plugins menu: a tab beside the other docks

    # ------------------------------------------------------------------ choices

    def _labels_choices(self, _widget=None) -> list[tuple[str, Any]]:
        return _layers.layer_choices(self._viewer, "Labels")

    def _mask_choices(self, _widget=None) -> list[tuple[str, Any]]:
        chosen = getattr(self, "_labels_box", None)
        chosen = (chosen.value,) if chosen is not None else ()
        layers = _layers.layer_choices(self._viewer, "Shapes", "Labels", exclude=chosen)
        return [(NO_MASK, None), *layers]

    def _refresh_choices(self, _event=None) -> None:
        self.reset_choices()
        self._labels_default.pick()  # the image's annotations may have been added
        self._on_labels_changed()
        self._region_default.pick()  # the image's annotated region may have been added
        self._on_region_changed()  # a removed region layer is no longer watched
        self._show_idle()

    def _idle_text(self) -> str:
        """The status line before a computation, said from the current picks."""
        labels, region = self._labels_box.value, self._mask.value
        if labels is None:
            return "Choose a Labels layer."
        inside = f" (weights inside {region.name!r} only)" if region is not None else ""
        return f"Ready: press Compute weight map{inside}."

    def _show_idle(self, _value=None) -> None:
        """Bring the idle status line up to date with the picks (a result or error stays)."""
        if self._status.value == self._idle:
            self._status.value = self._idle = self._idle_text()

    # ------------------------------------------------------------------ scheduling

    def _on_labels_changed(self, _value=None) -> None:
        if not self._labels_watch.follow(self._labels_box.value):
            return
        self._region_default.pick()  # the region choices without the labels, refreshed
        self._region_watch.follow(self._mask.value)
        self._show_idle()
        self._schedule()

    def _on_region_changed(self, _value=None) -> None:
        """Watch the edits of the region layer now picked; a new pick is a change too."""
        self._show_idle()
        if self._region_watch.follow(self._mask.value):
            self._schedule()

    def _schedule(self, _value=None) -> None:
        """Restart the debounce timer (when updating on change)."""
        if self._live.value and self._labels_box.value is not None:
            self._must_run = True
            self._timer.start()

    def _on_redraw(self, _event=None) -> None:
        """The labels were redrawn: an undo or redo changed them, or just a new slice.

        The quiet timer then compares the labels with those last computed (:meth:`_on_quiet`).
        """
        if self._live.value and self._labels_box.value is not None:
            self._timer.start()

    def _out_of_sight(self) -> bool:
        """True when the window is shown but this dock is not (for example a background tab).

        A tab behind another stays "visible" to Qt, with nothing of it on screen; its dock
        reports tab changes through ``visibilityChanged``.
        """
        window = self.native.window()
        if window is self.native and self._removed:  # taken out of napari: no runs meanwhile
            return True
        if window is self.native or not window.isVisible():
            return False
        if self._dock is None:
            parent = self.native.parentWidget()
            while parent is not None and not isinstance(parent, QDockWidget):
                parent = parent.parentWidget()
            if parent is not None:
                self._dock = parent
                parent.visibilityChanged.connect(self._on_dock_visibility)
        return self.native.visibleRegion().isEmpty()

    def _inputs_fingerprint(self) -> tuple | None:
        """:func:`fingerprint` of the labels and of a Labels region (None: cannot tell)."""
        layer = self._labels_box.value
        return None if layer is None else labels_fingerprint([layer, self._mask.value])

    def _on_quiet(self) -> None:
        if not self._must_run:  # only redrawn: run when an undo or redo changed the inputs
            now = self._inputs_fingerprint()
            if now is None or now == self._computed:
                return  # a new slice or the like: the map is up to date
        if self._out_of_sight():
            self._stale = True
            return
        self._start()

    def _on_dock_visibility(self, visible: bool) -> None:
        if visible and self._stale:
            self._stale = False
            self._schedule()

    def _inputs(self) -> tuple[np.ndarray, np.ndarray | None]:
        """The labels (the layer's own array where the worker copies it) and region mask.

        The worker copies an array whose edits napari records (its :class:`EditState` kept
        in ``_snap``), and reads lazy (dask, zarr) labels (:class:`LazyLabels`); an edit or
        new data during the copy drops the run and starts another (:func:`labels_to_read`).
        """
        from napari.layers import Labels

        from napari_unet.core.errors import InputError

        layer = self._labels_box.value
        if layer is None:
            raise InputError("choose a Labels layer")
        labels, self._snap = labels_to_read(layer)
        # An empty Labels region (one the user is about to paint) gives weights 0 everywhere.
        # A Shapes region of lines only (or outside the image) is an error, not weights 0.
        region = self._mask.value
        empty_ok = isinstance(region, Labels)
        mask = _layers.region_array(region, labels.shape, allow_empty=empty_ok, like=layer)
        return labels, mask

    def _start(self, _value=None) -> None:
        from napari.qt.threading import create_worker

        from napari_unet.core.errors import InputError

        self._timer.stop()
        self._must_run = False
        if self._worker is not None:
            self._pending = True  # one re-run when the current one finishes
            return
        # Tried on these inputs, even if refused: a redraw alone never asks again.
        self._computed = self._inputs_fingerprint()
        try:
            labels, mask = self._inputs()
        except InputError as exc:
            _layers.report_error(self._status, str(exc))
            return
        self._source, self._torn = self._labels_box.value, False
        self._shared = None  # one id over many pieces
        self._shape = labels.shape  # (Y, X, 1) labels: maps of (Y, X) shown in that shape
        self._status.value = "Computing the weight map..."
        job = self._job
        self._worker = create_worker(
            surfaced(_copied_then),
            labels,
            self._snap is not None,
            what=f"{self._source.name!r}",
            gap=self._gap.value,
            w0=self._w0.value,
            sigma=self._sigma.value,
            class_weights=self._class_weights.value,
            mask=mask,
            mode=self._mode.value,
            _connect={
                "yielded": lambda event: job == self._job and self._on_progress(event),
                "returned": lambda result: job == self._job and self._on_done(result),
                "errored": lambda exc: job == self._job and self._on_error(exc),
                "finished": lambda: job == self._job and self._on_finished(),
            },
        )

    def _closed(self) -> None:
        """The dock was removed or napari closes: the run is dropped, quietly.

        No edit starts a run until the dock is back (:meth:`_out_of_sight`); then its status
        is the idle one (not "Computing..." of the dropped run) and Compute runs again.
        """
        self._job += 1
        self._pending, self._removed, self._computed, self._dock = False, True, None, None
        if self._worker is not None:
            self._worker.quit()
            self._worker = None
        with contextlib.suppress(RuntimeError):  # the widgets may be deleted with the dock
            self._timer.stop()
            self._status.value = self._idle = self._idle_text()

    # ------------------------------------------------------------------ results

    def _on_progress(self, event) -> None:
        if event is _COPIED:  # an edit meanwhile may have torn the copy: computed again
            self._torn = changed_since(self._source, self._snap)
        elif isinstance(event, SharedId):
            self._shared = event  # said on the status line with the map
        elif event.total > 1:
            self._status.value = f"Computing: plane {event.done} of {event.total}"

    def _on_error(self, exc: Exception) -> None:
        _layers.report_error(self._status, f"Weight map: {exc}")

    def _on_finished(self) -> None:
        self._worker = None
        gone = self._source not in self._viewer.layers and self._labels_box.value is None
        if self._pending and not gone:  # gone: "the labels layer was removed" stays shown
            self._pending = False
            self._start()
        self._pending = False

    def _on_done(self, result: tuple[np.ndarray, np.ndarray, MapFigures]) -> None:
        try:
            self._show(result)
        except Exception as exc:  # never "Computing..." for good (a layer napari refused)
            _layers.report_error(self._status, f"Weight map: the result cannot be shown: {exc}")

    def _show(self, result: tuple[np.ndarray, np.ndarray, MapFigures]) -> None:
        if self._torn:  # never a map of a mix of two states: the next run follows
            self._pending = True
            return
        target, weights, figures = result
        self.result = (target, weights)
        source = self._source
        if source not in self._viewer.layers:
            self._status.value = "The annotations layer was removed; no weight map is shown."
            return
        whole_stack = weights.ndim == 3
        maps = layer_shaped((target, weights), self._shape)
        status = show_maps(self._viewer, source, *maps, self._show_target.value, figures)
        status += " (whole stack)" if whole_stack else ""
        self._status.value = status + (self._shared.note() if self._shared else "")


_COPIED = object()  # yielded by the worker once it has copied the labels


def _copied_then(labels: np.ndarray, copy: bool, what: str = "labels", **kwargs):
    """In the worker: copy the layer's labels (napari paints in place), then compute.

    Lazy labels (dask, zarr) are read here too. Returns the target, the weights and their
    :class:`MapFigures` (inside ``kwargs``' mask), all computed off the GUI thread.

    A mask as image tools save one (boolean, or one id of 255 or 65535 over many cells) is
    refused first, as the Train dock refuses it: before, all its cells were one object.
    One id 1 over many pieces (napari's boolean mask) is computed, as Train trains it, and
    yielded as a :class:`SharedId` for the status line to say so.
    """
    if copy:
        labels = np.array(labels)
        yield _COPIED
    if (found := check_not_saved_mask(labels, what)) is not None:
        yield SharedId(*found)
    target, weights = yield from iter_target_and_weights(labels, **kwargs)
    return target, weights, map_figures(target, weights, kwargs.get("mask"))
