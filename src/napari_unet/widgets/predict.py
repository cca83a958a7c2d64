"""The "Predict" dock: seamless tiled segmentation of an image layer, in a background thread.

Loading the model file and every tile run in a napari thread worker
(:func:`napari_unet.widgets._workers.predict_job`, on the core generator
:func:`napari_unet.core.inference.segment.iter_segment`); the GUI thread only moves the
progress bar and adds the result as a Labels layer ``"<image> segmentation"`` (and optionally
the foreground probability as an Image layer) with the image's scale and translate.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    Label,
    ProgressBar,
    PushButton,
    RadioButtons,
    SpinBox,
)

from napari_unet.core.annotation.axes import plan_axes
from napari_unet.core.errors import InputError
from napari_unet.core.inference.postprocess import Postprocess
from napari_unet.core.options import describe
from napari_unet.widgets import _layers, _workers

if TYPE_CHECKING:
    import napari

WHOLE = "whole image"
VIEW = "current view/slice only"
BUILTIN = "nuclei (built-in starter)"
OTHER = "model file / trained model"


class PredictWidget(Container):
    """Segment an image layer with a model file or the model just trained.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer whose image layers can be segmented.
    """

    def __init__(self, viewer: napari.viewer.Viewer) -> None:
        super().__init__(labels=True)
        self._viewer = viewer
        self._model = None
        self._metadata: dict = {}
        self._pending_file: Path | None = None
        self._worker = None
        self._make_controls()
        buttons = Container(widgets=[self._run, self._cancel], layout="horizontal")
        buttons.margins = (0, 0, 0, 0)
        self.extend(
            [
                self._source, self._model_file, self._model_label, self._image, self._channel,
                self._tile, self._device, self._scope, self._threshold, self._min_size,
                self._split,
                self._probabilities, buttons, self._progress, self._status,
            ]
        )  # fmt: skip
        # Score the prediction against the annotations right here (collapsed by default).
        from napari_unet.widgets.evaluate import evaluate_section

        self._evaluate = evaluate_section(viewer)
        self.native.layout().addWidget(self._evaluate)
        self._model_file.changed.connect(self._on_model_file)
        self._image.changed.connect(lambda _=None: self._channel.reset_choices())
        self._source.changed.connect(self._on_source)
        self._source.value = BUILTIN  # the starter model works before any training
        self._run.changed.connect(self._on_run)
        self._cancel.changed.connect(self._on_cancel)
        _layers.on_layers_changed(viewer, lambda _e=None: self.reset_choices())

    def _make_controls(self) -> None:
        post = Postprocess()
        self._source = ComboBox(label="model", choices=[BUILTIN, OTHER], value=OTHER)
        self._model_file = FileEdit(label="model file", mode="r", filter="*.safetensors")
        self._model_label = Label(value="model: none (choose a file or train one)")
        self._image = ComboBox(
            label="image", choices=lambda _w=None: _layers.layer_choices(self._viewer, "Image")
        )
        self._channel = ComboBox(label="channel", choices=self._channel_choices)
        self._tile = SpinBox(label="tile (px, 0 = auto)", min=0, max=16384, value=0)
        self._device = ComboBox(label="device", choices=["auto", "cpu", "cuda", "mps"])
        self._scope = RadioButtons(label="predict", choices=[WHOLE, VIEW], value=WHOLE)
        self._threshold = FloatSpinBox(
            label="threshold", min=0.01, max=0.99, step=0.05, value=post.threshold
        )
        self._min_size = SpinBox(label="min size (px)", min=0, max=1_000_000, value=post.min_size)
        self._split = FloatSpinBox(
            label="split joined (px)", min=0.0, max=20.0, step=0.5, value=post.split
        )
        self._probabilities = CheckBox(text="also add probabilities", value=False)
        self._run = PushButton(text="Predict")
        self._cancel = PushButton(text="Cancel", enabled=False)
        self._progress = ProgressBar(label="progress", min=0, max=1, value=0)
        self._status = Label(value="")
        for widget, key in (
            (self._source, "model"), (self._model_file, "model_file"), (self._image, "image"),
            (self._channel, "channel"),
            (self._tile, "tile"), (self._device, "device"), (self._scope, "scope"),
            (self._threshold, "threshold"), (self._min_size, "min_size"), (self._split, "split"),
            (self._probabilities, "probabilities"), (self._run, "predict"),
            (self._cancel, "cancel"),
        ):  # fmt: skip
            widget.tooltip = describe(key)

    def _channel_choices(self, _widget=None) -> list[tuple[str, object]]:
        """auto, mean, and each colour channel of an RGB(A) layer (its alpha is never used)."""
        layer = self._image.value if hasattr(self, "_image") else None
        n = int(layer.data.shape[-1]) if getattr(layer, "rgb", False) else 0
        picks = [(f"channel {k}", k) for k in range(min(n, 3))]
        return [("auto", None), ("mean of the channels", "mean"), *picks]

    # -- model --------------------------------------------------------------------------
    def set_model(self, model, metadata: dict, name: str) -> None:
        """Use an in-memory model (the Train dock hands over the model it just trained)."""
        self._source.value = OTHER
        self._model, self._metadata, self._pending_file = model, dict(metadata or {}), None
        self._model_label.value = f"model: {name}"
        self._show_postprocess(metadata)

    def _on_model_file(self, value=None) -> None:
        path = Path(str(self._model_file.value))
        if str(self._model_file.value) in ("", ".") or not path.is_file():
            return
        self._source.value = OTHER
        self._model, self._metadata, self._pending_file = None, {}, path
        self._model_label.value = f"model: {path.name} (loaded when you press Predict)"
        self._show_recommendations(path)

    def _show_recommendations(self, path: Path) -> None:
        """Show the post-processing a model file recommends (its header only: no torch)."""
        from napari_unet.core.models.modelfile import read_metadata

        try:
            metadata = read_metadata(path)
        except (InputError, OSError):
            return  # not a model file: Predict will say so
        self._show_postprocess(metadata)

    def _show_postprocess(self, metadata: dict | None) -> None:
        """Threshold, min size and split as the model would use them (else the defaults)."""
        try:
            post = Postprocess.for_model(metadata)
        except InputError as exc:  # a damaged or hand-edited file: say so, show the defaults
            _layers.report_error(self._status, f"the model's post-processing is invalid: {exc}")
            post = Postprocess()
        self._threshold.value = post.threshold
        self._min_size.value = post.min_size
        self._split.value = post.split

    def _on_source(self, value=None) -> None:
        """The built-in starter model, or back to the chosen model file."""
        from napari_unet.core.models.pretrained import pretrained_path

        if self._source.value != BUILTIN:
            self._model, self._metadata, self._pending_file = None, {}, None
            self._model_label.value = "model: none (choose a file or train one)"
            self._on_model_file()
            return
        try:
            path = pretrained_path("nuclei")
        except InputError as exc:  # a broken installation: say so, keep the file choice
            self._model_label.value = f"model: none ({exc})"
            self._source.value = OTHER
            return
        self._model, self._metadata, self._pending_file = None, {}, path
        self._show_recommendations(path)
        self._model_label.value = "model: nuclei, built-in (loaded when you press Predict)"

    # -- running ------------------------------------------------------------------------
    def _request(self) -> dict:
        """Everything the worker needs, read on the GUI thread (raises InputError)."""
        layer = self._image.value
        if layer is None:
            raise InputError("no image layer: open an image first")
        if self._model is None and self._pending_file is None:
            raise InputError("no model: choose a model file or train one in the Train dock")
        data = layer.data[0] if getattr(layer, "multiscale", False) else layer.data
        rgb = bool(getattr(layer, "rgb", False))
        # The axes as napari shows them: colour last, else planes (napari's slider), one
        # prediction each; a shape the Annotate dock would find ambiguous is refused here too.
        plan = plan_axes(data.shape, rgb=rgb)
        if plan.kind == "channels":
            plan = plan_axes(data.shape, axes="stack")
        axis = -1 if plan.kind == "rgb" else "none"
        options = {
            "tile": self._tile.value or None,
            "device": self._device.value,
            "threshold": float(self._threshold.value),
            "min_size": int(self._min_size.value),
            "split": float(self._split.value),
            "channel_axis": axis,
            "channel": self._channel.value,
        }
        req = {"layer": layer, "data": data, "options": options, "plane": None, "region": None}
        req["shape"] = plan.labels_shape
        req["model_file"] = self._pending_file  # to keep the loaded model only if still chosen
        if self._scope.value == VIEW:
            if plan.is_stack:
                req["plane"] = int(self._viewer.dims.current_step[0])
            h, w = plan.labels_shape[-2:]
            box = _layers.visible_box(self._viewer, layer, (h, w))
            if box is not None and (box[1] - box[0], box[3] - box[2]) != (h, w):
                req["region"] = ((box[0], box[1]), (box[2], box[3]))
        return req

    def _on_run(self, _value=None) -> None:
        from napari.qt.threading import create_worker

        if self._worker is not None:
            return
        try:
            req = self._request()
        except InputError as exc:
            _layers.report_error(self._status, str(exc))
            return
        self._req = req
        self._run.enabled, self._cancel.enabled = False, True
        self._progress.value = 0
        self._status.value = "Predicting..."
        image = req["data"] if req["plane"] is None else req["data"][req["plane"]]
        self._worker = create_worker(
            _workers.predict_job, self._model, self._metadata, self._pending_file, image,
            req["options"], req["region"],
            _connect={
                "yielded": self._on_progress, "returned": self._on_returned,
                "errored": self._on_error, "finished": self._on_finished,
                "aborted": self._on_aborted,
            },
        )  # fmt: skip

    def _on_cancel(self, _value=None) -> None:
        if self._worker is not None:
            self._worker.quit()
            self._status.value = "Cancelling..."

    def _on_progress(self, event) -> None:
        self._progress.max = max(int(event.total), 1)
        self._progress.value = int(event.done)

    def _on_returned(self, result) -> None:
        labels, foreground, model, metadata = result
        chosen = self._model is None and self._pending_file == self._req["model_file"]
        if model is not None and chosen:  # loaded in the worker: keep it for next time
            name = self._pending_file.name if self._pending_file else "?"
            if self._source.value == BUILTIN:
                name = "nuclei, built-in"
            self._model, self._metadata, self._pending_file = model, metadata, None
            self._model_label.value = f"model: {name}"
        self._show(labels, foreground)
        self._status.value = f"{int(labels.max())} objects"
        self._evaluate.panel.suggest(self._req["layer"].name)

    def _show(self, labels: np.ndarray, foreground: np.ndarray) -> None:
        """Put the result into the viewer (a region/plane goes into the full-size layer)."""
        req, layer = self._req, self._req["layer"]
        full = req["shape"]
        index = [] if req["plane"] is None else [req["plane"]]
        if req["region"] is not None:
            (y0, y1), (x0, x1) = req["region"]
            index += [slice(y0, y1), slice(x0, x1)]
        self._put(f"{layer.name} segmentation", labels, full, index, "labels")
        if self._probabilities.value:
            self._put(f"{layer.name} probabilities", foreground, full, index, "image")

    def _put(self, name: str, values: np.ndarray, full: tuple, index: list, kind: str) -> None:
        """Write ``values`` at ``index`` of layer ``name`` (made, or remade, at ``full`` shape)."""
        layers = self._viewer.layers
        if name in layers and layers[name].data.shape == full:
            target = layers[name]
            if index:
                target.data[tuple(index)] = values
            else:
                target.data = values
            target.refresh()
            return
        if name in layers:
            layers.remove(name)
        if index:
            arr = np.zeros(full, values.dtype)
            arr[tuple(index)] = values
            values = arr
        layer, n = self._req["layer"], len(full)
        kw = {"name": name, "scale": layer.scale[-n:], "translate": layer.translate[-n:]}
        if kind == "labels":
            self._viewer.add_labels(values, opacity=0.5, **kw)
        else:
            self._viewer.add_image(values, colormap="magma", blending="additive", **kw)

    def _on_error(self, exc: Exception) -> None:
        _layers.report_error(self._status, f"Prediction failed: {exc}")

    def _on_aborted(self) -> None:
        self._status.value = "Cancelled"

    def _on_finished(self) -> None:
        self._worker = None
        self._run.enabled, self._cancel.enabled = True, False
