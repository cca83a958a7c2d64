"""The "Predict" dock: seamless tiled segmentation of an image layer, in a background thread.

Loading the model file and every tile run in a napari thread worker
(:func:`napari_unet.widgets._workers.predict_job`, on the core generator
:func:`napari_unet.core.inference.segment.iter_labels`); the GUI thread only moves the
progress bar (with the elapsed and remaining time) and adds the result as a Labels layer
``"<image> segmentation (<model>)"`` (and optionally the foreground probability as an Image
layer ``"<image> probabilities (<model>)"``) on the image (its scale, translate, rotation,
shear and affine transform), so the results of several models sit side by side (two models
of one name, too). Corrections painted into a result layer, and a layer of a result's name
the dock did not make, are never written over: the result goes to a new layer
(:mod:`~napari_unet.widgets._predict_place`).
Removing the dock cancels its run. The segmentation and an unsaved trained model can be
saved from the dock, and the model exported as a bioimage.io package
(:mod:`~napari_unet.widgets._exporting`).
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import Container, Label, ProgressBar, PushButton
from qtpy.QtWidgets import QWIDGETSIZE_MAX, QMainWindow, QSizePolicy

from napari_unet.core.errors import InputError, in_words
from napari_unet.widgets import _exporting, _layers, _predict_run, _saving
from napari_unet.widgets._docking import reveal, scroll_panel, tab_when_docked, when_deleted
from napari_unet.widgets._predict_form import (  # noqa: F401 - the dock's public names
    AUTO_CHOICE,
    BUILTIN,
    OTHER,
    VIEW,
    WHOLE,
    PredictForm,
)
from napari_unet.widgets._predict_place import Results, probabilities_name, result_name  # noqa: F401
from napari_unet.widgets._private import real

if TYPE_CHECKING:
    import napari


class PredictWidget(_layers.KeepsPicks, Container):
    """Segment an image layer with a model file or the model just trained.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer whose image layers can be segmented.
    """

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__(labels=False)
        self._viewer = viewer = real(viewer)  # napari's own, not a Plugins-menu proxy
        self._worker = None
        self._job = 0  # the run whose signals count (a cancelled run's later ones do not)
        self._form = PredictForm(viewer)
        for name in self._form.CONTROLS:  # the form's controls are the dock's too
            setattr(self, name, getattr(self._form, name))
        self._run = PushButton(text="Predict")
        self._cancel = PushButton(text="Cancel", enabled=False)
        self._progress = ProgressBar(label="progress", min=0, max=1, value=0)
        self._status = Label(value="")
        # Three lines' height while a run goes on (a progress update never relayouts the
        # form); at least three, as tall as its text, once the run has ended.
        _layers.message_label(self._status, lines=3)
        self._fix_status(False)
        self._save_labels = PushButton(text="Save segmentation...", enabled=False)
        self._save_model = PushButton(text="Save model...", enabled=False)
        # The chosen model as a bioimage.io package, written and tested in a worker.
        self._exporter = _exporting.Exporter(self.native, self._status, self._form.export_source)
        self._form.tooltips(
            predict=self._run, cancel=self._cancel, save_segmentation=self._save_labels,
            save_model=self._save_model,
        )  # fmt: skip
        self._saves = _layers.row(self._save_labels, self._save_model)
        self._form.extend(
            [
                _layers.row(self._run, self._cancel), self._progress, self._status,
                self._saves, _layers.row(self._exporter.button),
            ]
        )  # fmt: skip
        from napari_unet.widgets.evaluate import evaluate_section

        # Score the prediction against the annotations right here (collapsed by default).
        self._evaluate = evaluate_section(viewer)
        self._scroll = scroll_panel(self._form.native, self._evaluate)
        self.native.layout().addWidget(self._scroll)
        self._evaluate.toggled.connect(lambda on: on and reveal(self._scroll, self._evaluate))
        self._evaluate.panel.scroll = self._scroll  # a run's status and tables are scrolled to
        self._last: tuple | None = None  # (result layer, image layer) of the last run
        self._placed = Results(viewer)  # the result layers the dock made, and what it wrote
        self._run.changed.connect(self._on_run)
        self._cancel.changed.connect(self._on_cancel)
        self._estimate.changed.connect(lambda _=None: self._on_run(estimate=True))
        self._save_labels.changed.connect(self._on_save_labels)
        self._save_model.changed.connect(self._on_save_model)
        self._form.model_changed = self._on_model_changed
        _layers.on_layers_changed(viewer, self.reset_choices)  # held weakly: a closed dock goes
        # Removing the dock (or closing napari) cancels a run: nothing is added after.
        self._watcher = _layers.CloseWatcher(self._closed, confirmed=True)
        self.native.installEventFilter(self._watcher)
        when_deleted(self, "_closed")
        self._on_model_changed()
        tab_when_docked(self)  # opened from the Plugins menu: a tab beside the other docks

    def reset_choices(self, *_args) -> None:
        """Refresh the layer pickers (the form is not a magicgui child of this container)."""
        super().reset_choices()  # each picker keeps its layer (by object)
        _layers.reset_keeping(self._form.reset_choices, self._form)

    # -- model --------------------------------------------------------------------------
    def set_model(self, model, metadata: dict, name: str, saved: Path | None = None) -> None:
        """Use an in-memory model (the Train dock hands over the model it just trained).

        ``saved`` is the file it was saved to, if any: without one "Save model..." is offered.
        """
        self._form.set_model(model, metadata, name, saved)

    def _on_model_changed(self) -> None:
        self._save_model.enabled = self._form.model is not None and self._form.saved is None

    # -- running ------------------------------------------------------------------------
    def _on_run(self, _value=None, estimate: bool = False) -> None:
        if self._worker is not None:
            return
        try:
            req = self._form.request(estimate)
            image = req["data"] if req["plane"] is None else req["data"][req["plane"]]
        except InputError as exc:  # also from Estimate, at the top of the dock
            _layers.report_error(self._status, str(exc))
            reveal(self._scroll, self._status.native)
            return
        req["source"] = _source(req["layer"])  # a run's data replaced meanwhile: dropped
        self._req, self._job = req, self._job + 1
        self._set_running(True)
        window = self.native.window()  # docked: closing napari cancels the run too
        if isinstance(window, QMainWindow):
            window.installEventFilter(self._watcher)
        self._progress.value = 0
        self._t0 = time.perf_counter()
        self._status.value = "Estimating the object size..." if estimate else "Predicting..."
        self._worker = _predict_run.start(  # held by napari: it reports to the dock weakly
            self, self._job, self._form.model, self._form.metadata, self._form.pending, image,
            req["options"], req["region"], estimate,
        )  # fmt: skip

    def _set_running(self, running: bool) -> None:
        self._run.enabled = not running
        self._estimate.enabled = not running and self._form._size.enabled  # the model's size
        self._cancel.enabled = running
        self._fix_status(running)

    def _fix_status(self, fixed: bool) -> None:
        """Three lines' height (a run's progress), or at least three and as tall as its text."""
        status, policy = self._status.native, self._status.native.sizePolicy()
        policy.setVerticalPolicy(QSizePolicy.Policy.Fixed if fixed else QSizePolicy.Policy.Minimum)
        status.setSizePolicy(policy)
        status.setMaximumHeight(status.minimumHeight() if fixed else QWIDGETSIZE_MAX)

    def _on_cancel(self, _value=None) -> None:
        """Stop at the next tile; the dock is free at once and ignores the rest of the run."""
        if self._worker is None:
            return
        self._worker.quit()
        self._worker, self._job = None, self._job + 1
        self._set_running(False)
        self._progress.value = 0
        self._status.value = "Cancelled: nothing was added"

    def _closed(self) -> None:
        """The dock was removed or napari closes: the run is dropped, quietly."""
        if self._worker is None:
            return
        self._worker.quit()
        self._worker, self._job = None, self._job + 1
        with contextlib.suppress(RuntimeError):  # the dock's widgets may be deleted
            self._set_running(False)
            self._progress.value = 0
            self._status.value = "Cancelled: the dock was closed; nothing was added"

    def _on_progress(self, event, job: int) -> None:
        from napari_unet.core.inference.scale import ObjectSize

        if job != self._job:
            return
        if isinstance(event, ObjectSize):
            self._form.show_size(event)
            return
        done, total = int(event.done), max(int(event.total), 1)
        self._progress.max, self._progress.value = total, done
        elapsed = time.perf_counter() - self._t0
        left = elapsed / done * (total - done) if done else None
        self._status.value = progress_text(done, total, elapsed, left)
        if done == total:  # the tiles are done; labelling the cells can take a second more
            self._status.value += "; separating the cells..."

    def _on_returned(self, out: dict, job: int) -> None:
        if job != self._job:
            return
        try:
            self._show_returned(out)
        except Exception as exc:  # noqa: BLE001 - said in the dock, never "Predicting..."
            _layers.report_error(self._status, f"Could not show the segmentation: {exc}")

    def _show_returned(self, out: dict) -> None:
        """Show a run's result (or its estimated object size) and say so in the status."""
        from napari.utils.notifications import show_warning

        self._form.keep_loaded(out, self._req)
        stale = self._stale()
        if stale:  # as Cancel does: the result no longer fits an image in the viewer
            self._progress.value = 0
            self._status.value = f"Dropped the segmentation: {stale}; nothing was added"
            return
        if out["labels"] is None and out.get("output") is None:  # estimate only
            self._status.value = self._form.use_estimate(out["size"], self._req["layer"])
            return
        if out["size"] is not None:
            self._form.show_size(out["size"])
        else:  # at the image's own scale: not the scale of an earlier run
            self._form.show_own_scale()
        self._placed.notes = []
        if out.get("output") is not None:  # another tool's bioimage.io package
            lines = self._show_foreign(out)
        else:
            self._show(out["labels"], out["foreground"], out.get("kept"))
            plane = self._req.get("plane")  # one plane's count, not the stack's (the layer's)
            lines = [f"{int(out['labels'].max())} objects in {self._last[0].name!r}"
                     + ("" if plane is None else f" on plane {plane}")]  # fmt: skip
            for note in (out.get("background"), out.get("denoise")):
                if note:
                    lines.append(note[0].upper() + note[1:])
        lines[1:1] = self._placed.notes  # a layer kept, after the result's line
        for text in out["warnings"]:
            show_warning(f"{self._req['layer'].name}: {text}")
            lines.append(f"Warning: {text}")
        self._status.value = "\n".join(lines)
        if self._last is not None and out["labels"] is not None:
            name = self._last[0].name
            try:  # Evaluate picks it: a failed pick never fails the prediction
                self._evaluate.panel.suggest(self._req["layer"].name, prediction=name)
            except Exception as exc:  # noqa: BLE001 - the segmentation was added all the same
                show_warning(f"Evaluate could not pick {name!r}: {exc}")

    def _stale(self) -> str:
        """Why this run's result no longer fits its image ("" when it still does).

        Only a removed image or replaced data counts: a new name, contrast, scale or
        slider position leaves the result as it is (it takes the image's new name).
        """
        layer = self._req["layer"]
        if layer not in self._viewer.layers:
            return "the image was removed during the run"
        data, shape = _source(layer)
        if data is not self._req["source"][0] or shape != self._req["source"][1]:
            return "the image changed during the run; predict again"
        return ""

    def _where(self) -> tuple[tuple, list]:
        """The result layer's full shape and where this run's result goes in it."""
        req = self._req
        index = [] if req["plane"] is None else [req["plane"]]
        if req["region"] is not None:
            (y0, y1), (x0, x1) = req["region"]
            index += [slice(y0, y1), slice(x0, x1)]
        return req["shape"], index

    def _show(self, labels: np.ndarray, foreground: np.ndarray, kept=None) -> None:
        """Put the result into the viewer (a region/plane goes into the full-size layer)."""
        req, layer = self._req, self._req["layer"]
        full, index = self._where()
        name = self._placed.name_for(layer, req["model_names"], req["model_id"])
        seg = self._put(name, labels, full, index, "labels", kept)
        if self._form.probabilities:
            probs = probabilities_name(layer.name, name)  # the model's own, as its result
            self._put(probs, foreground, full, index, "image")
        self._last = (seg, layer)
        self._save_labels.enabled = True

    def _show_foreign(self, out: dict) -> list[str]:
        """Another tool's output as it declares it; returns the status lines.

        A labels output becomes a Labels layer; probabilities an Image layer (channels
        first), with the instances of a one-channel probability as a Labels layer.
        """
        req, layer = self._req, self._req["layer"]
        full, index = self._where()
        name = self._placed.name_for(layer, req["model_names"], req["model_id"])
        self._last = None
        if out["kind"] == "labels":
            seg = self._put(name, out["labels"], full, index, "labels", out.get("kept"))
            self._last = (seg, layer)
            self._save_labels.enabled = True
            return [f"{int(out['labels'].max())} labels in {seg.name!r} (the package's labels)"]
        probs = out["output"]
        k = probs.shape[0]
        shown = self._put(f"{name} probabilities", probs if k > 1 else probs[0],
                          (k, *full) if k > 1 else full,
                          [slice(None), *index] if k > 1 else index, "image")  # fmt: skip
        lines = [f"{k} probability channel(s) in {shown.name!r}"]
        if out["labels"] is not None:
            seg = self._put(name, out["labels"], full, index, "labels", out.get("kept"))
            self._last = (seg, layer)
            self._save_labels.enabled = True
            lines.insert(0, f"{int(out['labels'].max())} objects in {seg.name!r}")
        return lines

    def _put(self, name: str, values, full: tuple, index: list, kind: str, kept=None):
        """Write ``values`` at ``index`` of layer ``name``, on the image (``Results.put``)."""
        owner = self._req["model_id"]  # another model's result of the same name is kept
        return self._placed.put(name, values, full, index, kind, self._req["layer"], kept, owner)

    def _on_error(self, exc: Exception, job: int) -> None:
        if job == self._job:
            _layers.report_error(self._status, f"Prediction failed: {exc}")

    def _on_finished(self, job: int) -> None:
        """The run ended (after its result or error): its status and Save are scrolled to."""
        if job == self._job:
            self._worker = None
            self._set_running(False)
            reveal(self._scroll, self._status.native, self._saves.native)

    # -- saving ---------------------------------------------------------------------------
    def _on_save_labels(self, _value=None, path: Path | None = None) -> None:
        """Save the last segmentation (TIFF, or Zarr for large images) in a thread."""
        seg, image = self._last or (None, None)
        if seg is None or seg not in self._viewer.layers:
            _layers.report_error(self._status, "no segmentation to save: predict first")
            self._save_labels.enabled = False
            return
        opened = [*self._viewer.layers, image]  # no file a layer was read from is replaced
        suggested = _saving.suggested_labels_path(seg, image, opened)
        path = path or _saving.ask_path(
            self.native, "Save segmentation", suggested, _saving.LABEL_FILTERS
        )
        if path is not None and not _saving.refuse_opened(self._status, path, opened):
            inputs = [_saving.layer_source(ly) for ly in opened]
            data = np.array(seg.data)  # painting meanwhile changes nothing
            placed = _saving.labels_placement(seg)  # the TIFF's pixel size, the OME-Zarr's
            _layers.run_saving(self._status, _saving.save_labels, data, path, inputs, placed)

    def _on_save_model(self, _value=None, path: Path | None = None) -> None:
        """Save the in-memory (trained) model to a model file."""
        model, name = self._form.model, self._form.model_name
        if model is None:
            return
        path = path or _saving.ask_path(
            self.native, "Save model", Path.home() / f"{name}.safetensors", _saving.MODEL_FILTER
        )
        if path is None:
            return
        try:
            saved = _saving.save_trained_model(model, self._form.metadata, path)
        except (InputError, OSError) as exc:
            _layers.report_error(self._status, f"could not save the model: {in_words(exc)}")
            return
        self._form.set_model(model, self._form.metadata, saved.stem, saved)
        self._status.value = f"Saved the model to {saved}"


def _source(layer) -> tuple:
    """Which data ``layer`` holds: the data object itself (compared by identity) and its shape."""
    data = layer.data
    return data, tuple(getattr(data, "shape", ()))


def progress_text(done: int, total: int, elapsed: float, left: float | None) -> str:
    """``Predicting: tile 3 of 16 - 0:04 elapsed, about 0:12 left``."""
    from napari_unet.widgets._train_helpers import fmt_time

    text = f"Predicting: tile {done} of {total} - {fmt_time(elapsed)} elapsed"
    return text + (f", about {fmt_time(left)} left" if left is not None else "")
