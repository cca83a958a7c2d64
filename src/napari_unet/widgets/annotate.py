"""The "Annotate" dock widget: paint cells, mark the annotated region, accept predictions.

Thin: all arithmetic and file formats are in :mod:`napari_unet.core.annotation.edits` and
:mod:`napari_unet.core.annotation.project`. Autosave is debounced (a single-shot timer restarted on
each change) and writes in a thread worker, never on the GUI thread.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import ComboBox, Container, FileEdit, Label, PushButton, SpinBox
from napari.layers import Image, Labels, Shapes
from napari.utils.notifications import show_error, show_warning
from qtpy.QtCore import QTimer

from napari_unet.core.annotation.axes import AXES_CHOICES, plan_axes
from napari_unet.core.annotation.edits import MIN_PIECE, count_cells, next_free_id
from napari_unet.core.annotation.project import image_identity
from napari_unet.core.errors import InputError
from napari_unet.core.options import describe
from napari_unet.widgets import _session
from napari_unet.widgets._annotate_close import (
    bind_new_cell,
    end_when_closed,
    new_cell_key,
    session_closed,
)
from napari_unet.widgets._annotate_counts import StackCounter
from napari_unet.widgets._annotate_edits import ACCEPTING, EditWatcher, LockedLayers
from napari_unet.widgets._annotate_folders import ProjectFolders
from napari_unet.widgets._annotate_work import (
    finish_writing,
    plan_in_words,
    refused_elsewhere,
    refused_while_accepting,
    start_accept,
    start_export,
    start_import,
)
from napari_unet.widgets._autosave import Autosaver, load_saved, shapes_state
from napari_unet.widgets._docking import tab_when_docked
from napari_unet.widgets._kept_regions import KeptRegions
from napari_unet.widgets._layers import (
    CloseWatcher,
    KeepsPicks,
    layer_choices,
    layers_of,
    message_label,
    on_layers_changed,
    reset_keeping,
)
from napari_unet.widgets._predict_place import placement
from napari_unet.widgets._private import real

if TYPE_CHECKING:
    import napari

#: Milliseconds between a change and the refresh of the live counts.
COUNTS_MS = 150


class AnnotateWidget(KeepsPicks, Container):
    """Annotate cells on an image layer, with autosave to a project folder.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer whose layers are annotated.
    """

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__()
        self._viewer = viewer = real(viewer)  # napari's own, not a Plugins-menu proxy
        self._image: Image | None = None
        self._annotations: Labels | None = None
        self._region: Shapes | None = None
        self._region_kept: list | None = None  # the region, while its layer is removed
        self._kept_regions = KeptRegions()  # and after, until Start takes it back
        self._plan = None
        self._locks = LockedLayers()  # annotations no session saves now: read-only
        self._accepting: Labels | None = None  # the layer an Accept prediction writes into
        self._last_saved = None  # (layer, folder, annotations) this dock last saved there
        self._stack_counts: tuple[int, int] | None = None  # (cells, px) of the whole stack
        self._stack_counter = StackCounter(count_cells, self._on_stack_counts)
        self._make_controls()
        self._saver = Autosaver(self.native, self._state, self._set_saved)
        self._edits = EditWatcher(self.native, self._on_changed, self._counts_later)
        self._marker = _session.PlaneMarker(self)
        self._close_watcher = CloseWatcher(self._flush)
        self._end_watcher = CloseWatcher(lambda: self._detach(lock=False), confirmed=True)
        end_when_closed(self)  # closing the dock ends its session: _annotate_close
        self._counts_timer = QTimer(self.native)
        self._counts_timer.setSingleShot(True)
        self._counts_timer.setInterval(COUNTS_MS)
        self._counts_timer.timeout.connect(self._update_counts)
        self._start_btn.changed.connect(self._start)
        self._new_cell_btn.changed.connect(self._new_cell)
        # in workers: _annotate_work (Accept is applied as one step of napari's undo)
        self._accept_btn.changed.connect(lambda _=None: start_accept(self))
        self._export_btn.changed.connect(lambda _=None: start_export(self))
        self._import_btn.changed.connect(lambda _=None: start_import(self))
        self._save_btn.changed.connect(self._save_now)
        self._folders = ProjectFolders(self)  # the box follows the image picked: _annotate_folders
        self._folder.changed.connect(self._folders.changed)  # browse, or set by a script
        self._image_combo.changed.connect(self._folders.picked)
        self._folder.line_edit.native.editingFinished.connect(self._folders.typed)
        on_layers_changed(viewer, self._on_layers_changed)
        viewer.layers.events.removing.connect(self._on_layer_removing)
        viewer.dims.events.current_step.connect(self._on_step)
        self._enable_session(False)
        tab_when_docked(self)  # opened from the Plugins menu: a tab beside the other docks

    def _make_controls(self) -> None:
        self._image_combo = ComboBox(label="image", choices=self._image_choices)
        self._axes = ComboBox(label="leading axis", choices=AXES_CHOICES, value="auto")
        self._folder = FileEdit(label="project folder", mode="d", nullable=True)
        self._start_btn = PushButton(text="Start annotating")
        self._new_cell_btn = PushButton(text="New cell  [n]")
        self._counts = Label(value="")
        self._prediction_combo = ComboBox(
            label="prediction", choices=self._prediction_choices, nullable=True
        )
        self._min_size = SpinBox(label="min piece (px²)", value=MIN_PIECE, min=1, max=1_000_000)
        self._accept_btn = PushButton(text="Accept prediction")
        self._tiff_path = FileEdit(label="TIFF file", mode="w", filter="*.tif *.tiff")
        self._export_btn = PushButton(text="Export TIFF")
        self._import_btn = PushButton(text="Import TIFF")
        self._save_btn = PushButton(text="Save now")
        self._status = Label(value="Pick an image and start annotating.")
        self._saved = Label(value="")  # autosave's own line: it never hides an action's message
        for widget, key in (
            (self._image_combo, "image"), (self._axes, "axes"), (self._folder, "project_folder"),
            (self._start_btn, "start_annotating"), (self._new_cell_btn, "new_cell"),
            (self._prediction_combo, "prediction"), (self._min_size, "min_piece"),
            (self._accept_btn, "accept"), (self._tiff_path, "tiff_file"),
            (self._export_btn, "export"), (self._import_btn, "import"),
            (self._save_btn, "save_now"),
        ):  # fmt: skip
            widget.tooltip = describe(key)
        for label in (self._counts, self._status, self._saved):
            message_label(label)
        self.extend(
            [self._image_combo, self._axes, self._folder, self._start_btn, self._new_cell_btn]
            + [self._counts, self._prediction_combo, self._min_size, self._accept_btn]
            + [self._tiff_path, self._export_btn, self._import_btn, self._save_btn, self._status]
            + [self._saved]
        )

    # --- choices and small helpers ----------------------------------------------------

    def _image_choices(self, _widget=None) -> list[tuple[str, Image]]:
        return layer_choices(self._viewer, "Image")

    def _prediction_choices(self, _widget=None) -> list[tuple[str, Labels]]:
        return layer_choices(self._viewer, "Labels", exclude=(self._annotations,))

    def _on_layers_changed(self, _event=None, start: bool = False) -> None:
        combos = (self._image_combo, self._prediction_combo)  # each keeps its layer
        reset_keeping(lambda: [c.reset_choices() for c in combos], *combos)
        if self._image is not None:  # offer the image's new segmentation; keep a user's pick
            ours, pick = layers_of(self._viewer, self._image, exclude=(self._annotations,)), None
            if getattr(_event, "type", None) == "inserted" and _event.value in ours:
                pick = _event.value  # just made (by the Predict dock)
            elif ours and (self._prediction_combo.value is None or start):
                pick = None if self._prediction_combo.value in ours else ours[-1]
            if pick is not None:
                self._prediction_combo.value = pick

    def _on_step(self, _event=None) -> None:
        if self._annotations is not None:
            self._counts_timer.start()

    def _counts_later(self) -> None:
        self._counts_timer.start()

    def _enable_session(self, on: bool) -> None:
        for w in (self._new_cell_btn, self._export_btn, self._import_btn, self._save_btn):
            w.enabled = on
        busy = self._accepting is not None or self._annotations in ACCEPTING  # any dock's
        self._accept_btn.enabled = self._import_btn.enabled = on and not busy

    def _set_status(self, text: str) -> None:
        # A save may finish after the window closed and its label was deleted.
        with contextlib.suppress(RuntimeError):
            self._status.value = text

    def _set_saved(self, text: str) -> None:
        with contextlib.suppress(RuntimeError):
            self._saved.value = text

    # --- starting a session -----------------------------------------------------------

    def _default_folder(self, image: Image) -> Path | None:
        return self._folders.default(image)

    def _start(self, _value=None, image=None) -> None:
        """Create (or re-attach) the annotation and region layers for the chosen image."""
        image = self._image_combo.value if image is None else image
        if image is None:
            show_error("Choose an image layer to annotate first.")
            return
        if refused_while_accepting(self, image) or refused_elsewhere(self, image):
            return  # its layer is being written into; another window saves its folder
        try:
            names = getattr(image, "axis_labels", None)  # the reader names a file's z
            plan = plan_axes(image.data.shape, image.rgb, self._axes.value, names=names)
        except InputError as exc:
            show_error(str(exc))
            return
        self._detach()
        self._image, self._plan, self._stack_counts = image, plan, None
        n = len(plan.labels_shape)
        where = placement(image, n)  # rotation, shear, affine too: strokes on its pixels
        scale, translate = list(where["scale"]), list(where["translate"])
        folder = self._default_folder(image)
        self._folders.started(image)
        src = getattr(image.source, "path", None)
        identity = image_identity(image.data, image.name, plan.labels_shape, scale, translate, src)
        project, ok = load_saved(folder, identity, plan.labels_shape, src)
        kept = self._kept_regions.take(image, folder, project)  # its layer was removed
        labels = _session.attach_labels(self._viewer, image, plan, where, project, self._locks)
        self._annotations, self._region_kept = labels, None
        self._locks.unlock(labels, image)  # read-only while no session saved it
        self._region = _session.attach_region(self._viewer, image, plan, where, project, kept)
        # A layer continues its own work where the folder holds what this dock last saved
        # from it: there, or the folder moved (its data folder renamed: the old path fails)
        last = self._last_saved[2] if self._last_saved and self._last_saved[0] is labels else None
        ok = _session.reconcile(labels, self._region, project, folder, last) and ok
        labels.mode = "paint"
        labels.brush_size = int(np.clip(round(min(plan.labels_shape[-2:]) / 40), 3, 30))
        full = self._new_cell()  # None, or why no id is free (said after the notes below)
        bind_new_cell(self, labels)  # the dock held weakly; unbound when it closes
        self._edits.attach(labels)  # edits, not redraws (the plane slider, showing it)
        self._marker.attach(labels, plan)  # a stack's plane is marked at its first stroke
        self._region.events.data.connect(self._on_changed)
        self._viewer.layers.selection.active = labels
        # Closing the window flushes what the debounce timer has not written yet.
        self.native.window().installEventFilter(self._close_watcher)
        self.native.window().installEventFilter(self._end_watcher)  # closed: the session ends
        saved = None  # what the folder holds, so that only differences are written
        if project is not None and project.annotations is not None:
            saved = (project.annotations, shapes_state(project.region_data, project.region_types))
        session = (labels, self._viewer, image.name)  # its folder is saved by it alone
        self._saver.reset(folder, identity, saved, ok, src, self._state()[1], session)
        if last is not None and not np.array_equal(labels.data, last):
            self._saver.changed()  # its strokes the folder does not hold yet
        self._enable_session(True)
        self._on_layers_changed(start=True)
        notes = [f"Annotating {image.name} ({plan_in_words(plan)})."]
        if any(abs(s - 1) > 1e-9 for s in scale[-2:]):
            size = " x ".join(f"{float(s):g}" for s in scale[-2:])  # not np.float64(0.5)
            notes.append(f"Pixel size {size}: areas are shown in pixels and scaled units.")
        self._set_status(" ".join(notes + ([full] if full else [])))
        self._set_saved(self._saver.note())
        self._update_counts()

    def _detach(self, lock: bool = True) -> None:
        """Flush and disconnect from the current annotation layers.

        ``lock``: the annotations layer stays in the viewer read-only (nothing saves it
        now) until its image is started again.
        """
        if self._annotations is None:
            return
        self._flush()
        self._edits.detach()
        self._marker.detach()
        if self._region is not None:
            self._region.events.data.disconnect(self._on_changed)
        left = self._annotations
        self._kept_regions.keep(self._image, self._saver.folder, self._region_kept)
        saved = self._saver.saved_annotations
        self._last_saved = None if saved is None or not lock else (left, self._saver.folder, saved)
        if lock:
            self._locks.lock(left)
        self._annotations = self._region = self._image = self._region_kept = None
        self._saver.reset(None, {}, None, False)
        self._enable_session(False)

    def _on_layer_removing(self, event) -> None:
        layer = self._viewer.layers[event.index]
        self._locks.forget(layer)
        if self._last_saved is not None and self._last_saved[0] is layer:
            self._last_saved = None
        if layer is not None and layer is self._region:  # the session goes on without it
            self._region_kept = self._state()[1]
            self._region.events.data.disconnect(self._on_changed)
            self._region = None
            self._set_status(
                "Annotated region layer removed: the region stays as saved and autosave goes "
                "on; press Start annotating to get the region layer back."
            )
        elif layer is not None and layer in (self._annotations, self._image):
            self._detach(lock=layer is not self._annotations)
            self._set_status(
                "Annotation session ended; saved. Start annotating its image to continue "
                "(its annotations layer is read-only until then)."
            )
        self._kept_regions.forget(layer)  # an image gone: its region too

    # --- cells and counts -------------------------------------------------------------

    def _new_cell(self) -> str | None:
        """Select the next free label id; else keep the label, say and return why none is."""
        if self._annotations is None:
            return None
        try:
            self._annotations.selected_label = next_free_id(self._annotations.data)
            self._edits.fresh = self._annotations.selected_label  # a redo may take it
        except InputError as exc:
            self._set_status(text := f"New cell: {exc}.")
            show_error(text)
            return text
        self._annotations.mode = "paint"
        return None

    def _new_cell_key(self, layer) -> None:
        new_cell_key(self, layer)  # on another session's layer, not this one's

    def _closed(self) -> None:
        session_closed(self)

    def _update_counts(self) -> None:
        if self._annotations is None:
            self._counts.value = ""
            return
        data = np.asarray(self._annotations.data)
        pixel = float(np.prod(self._annotations.scale[-2:]))
        scaled = abs(pixel - 1) > 1e-9

        def fmt(cells: int, area: int) -> str:
            text = f"{cells} cells, {area} px"
            return text + (f" ({area * pixel:.4g} scaled units²)" if scaled else "")

        if self._plan.is_stack:  # the plane now, the whole stack from a worker
            try:
                z = _session.plane_on_screen(self._viewer, self._annotations, len(data))
                plane = f"plane {z}: {fmt(*count_cells(data[z]))}"
            except InputError:
                plane = "no plane of the stack on screen"
            stack = "counting..." if self._stack_counts is None else fmt(*self._stack_counts)
            self._counts.value = f"{plane}; stack: {stack}"
            self._stack_counter.request(data)
        else:
            self._counts.value = fmt(*count_cells(data))

    def _on_stack_counts(self, counts: tuple[int, int]) -> None:
        if self._annotations is not None and self._plan.is_stack and counts != self._stack_counts:
            self._stack_counts = counts
            with contextlib.suppress(RuntimeError):  # the dock may be gone
                self._update_counts()

    # --- persistence ------------------------------------------------------------------

    def _state(self) -> tuple[np.ndarray, list]:
        if self._region is None:  # its layer removed: the region as it was
            return np.asarray(self._annotations.data), self._region_kept
        region = shapes_state(self._region.data, self._region.shape_type)
        return np.asarray(self._annotations.data), region

    def _on_changed(self, _event=None) -> None:
        self._counts_timer.start()
        self._saver.changed()

    def _flush(self) -> None:
        """Save now, on this thread (napari closing, the session ending).

        An accept (or import) still written in parts is written whole first: the project
        holds all of it, never the part written so far (before, its cells were saved cut).
        """
        finish_writing(self._annotations)
        self._saver.flush()

    def _save_now(self) -> None:
        if self._annotations is not None and not self._saver.enabled:
            show_warning(self._saver.note())
        self._saver.save_now(explicit=True)


__all__ = ["AnnotateWidget"]
