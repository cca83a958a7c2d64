"""The "Predict" dock: seamless tiled segmentation of an image layer, in a background thread.

Loading the model file and every tile run in a napari thread worker on the core generator
:func:`napari_unet.core.postprocess.iter_segment`; the GUI thread only moves the progress bar
and adds the result as a Labels layer ``"<image> segmentation"`` (and optionally the
foreground probability as an Image layer) with the image's scale and translate.
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
        self._source = ComboBox(label="model", choices=[BUILTIN, OTHER], value=OTHER)
        self._model_file = FileEdit(label="model file", mode="r", filter="*.safetensors")
        self._model_label = Label(value="model: none (choose a file or train one)")
        self._image = ComboBox(label="image", choices=self._image_choices)
        self._tile = SpinBox(label="tile (0 = auto)", min=0, max=16384, value=0)
        self._device = ComboBox(label="device", choices=["auto", "cpu", "cuda", "mps"])
        self._scope = RadioButtons(label="predict", choices=[WHOLE, VIEW], value=WHOLE)
        self._threshold = FloatSpinBox(label="threshold", min=0.01, max=0.99, step=0.05, value=0.5)
        self._min_size = SpinBox(label="min size (px)", min=0, max=1_000_000, value=10)
        self._split = FloatSpinBox(
            label="split joined (px)",
            min=0.0,
            max=20.0,
            step=0.5,
            value=0.0,
            tooltip="cut cells left joined at a neck (0 = off; larger splits less)",
        )
        self._probabilities = CheckBox(text="also add probabilities", value=False)
        self._run = PushButton(text="Predict")
        self._cancel = PushButton(text="Cancel", enabled=False)
        self._progress = ProgressBar(label="progress", min=0, max=1, value=0)
        self._status = Label(value="")
        buttons = Container(widgets=[self._run, self._cancel], layout="horizontal")
        buttons.margins = (0, 0, 0, 0)
        self.extend(
            [
                self._source,
                self._model_file,
                self._model_label,
                self._image,
                self._tile,
                self._device,
                self._scope,
                self._threshold,
                self._min_size,
                self._split,
                self._probabilities,
                buttons,
                self._progress,
                self._status,
            ]
        )
        # Score the prediction against the annotations right here (collapsed by default).
        from napari_unet.widgets.evaluate import evaluate_section

        self._evaluate = evaluate_section(viewer)
        self.native.layout().addWidget(self._evaluate)
        self._model_file.changed.connect(self._on_model_file)
        self._source.changed.connect(self._on_source)
        self._source.value = BUILTIN  # the starter model works before any training
        self._run.changed.connect(self._on_run)
        self._cancel.changed.connect(self._on_cancel)
        events = viewer.layers.events
        for event in (events.inserted, events.removed, events.reordered):
            event.connect(lambda _e=None: self.reset_choices())

    # -- model --------------------------------------------------------------------------
    def set_model(self, model, metadata: dict, name: str) -> None:
        """Use an in-memory model (the Train dock hands over the model it just trained)."""
        from napari_unet.core.pretrained import postprocess_options

        self._source.value = OTHER
        self._model, self._metadata, self._pending_file = model, dict(metadata or {}), None
        self._model_label.value = f"model: {name}"
        self._apply_postprocess(postprocess_options(metadata))

    def _on_model_file(self, value=None) -> None:
        path = Path(str(self._model_file.value))
        if str(self._model_file.value) in ("", ".") or not path.is_file():
            return
        self._source.value = OTHER
        self._model, self._metadata, self._pending_file = None, {}, path
        self._model_label.value = f"model: {path.name} (loaded when you press Predict)"
        self._apply_recommendations(path)

    def _apply_recommendations(self, path: Path) -> None:
        """Set threshold, min size and split to what the model file recommends, if anything."""
        from napari_unet.core.errors import InputError
        from napari_unet.core.modelfile import read_metadata
        from napari_unet.core.pretrained import postprocess_options

        try:
            metadata = read_metadata(path)  # the header only: no torch
        except (InputError, OSError):
            return  # not a model file: Predict will say so
        self._apply_postprocess(postprocess_options(metadata))

    def _apply_postprocess(self, post: dict) -> None:
        """Show a model's recommended post-processing (nothing changes if it has none)."""
        if not post:
            return
        self._threshold.value = post.get("threshold", self._threshold.value)
        self._min_size.value = post.get("min_size", self._min_size.value)
        self._split.value = post.get("split", 0.0)

    def _on_source(self, value=None) -> None:
        """The built-in starter model, or back to the chosen model file."""
        from napari_unet.core.errors import InputError
        from napari_unet.core.pretrained import pretrained_path

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
        self._apply_recommendations(path)
        self._model_label.value = "model: nuclei, built-in (loaded when you press Predict)"

    def _image_choices(self, _widget=None):
        return [(ly.name, ly) for ly in self._viewer.layers if type(ly).__name__ == "Image"]

    # -- running ------------------------------------------------------------------------
    def _request(self) -> dict:
        """Everything the worker needs, read on the GUI thread (raises InputError)."""
        from napari_unet.core.errors import InputError

        layer = self._image.value
        if layer is None:
            raise InputError("no image layer: open an image first")
        if self._model is None and self._pending_file is None:
            raise InputError("no model: choose a model file or train one in the Train dock")
        data = layer.data[0] if getattr(layer, "multiscale", False) else layer.data
        rgb = bool(getattr(layer, "rgb", False))
        spatial_ndim = data.ndim - (1 if rgb else 0)
        options = {
            "tile": self._tile.value or None,
            "device": self._device.value,
            "threshold": float(self._threshold.value),
            "min_size": int(self._min_size.value),
            "split": float(self._split.value),
            "channel_axis": -1 if rgb else None,
        }
        req = {"layer": layer, "data": data, "options": options, "plane": None, "region": None}
        if self._scope.value == VIEW:
            from napari_unet.widgets._train_layers import visible_box

            if spatial_ndim > 2:
                req["plane"] = int(self._viewer.dims.current_step[0])
            h, w = data.shape[-3:-1] if rgb else data.shape[-2:]
            box = visible_box(self._viewer, layer, (h, w), limit=1 << 14)
            if box is not None and (box[1] - box[0], box[3] - box[2]) != (h, w):
                req["region"] = ((box[0], box[1]), (box[2], box[3]))
        return req

    def _on_run(self, _value=None) -> None:
        from napari.qt.threading import create_worker
        from napari.utils.notifications import show_error

        from napari_unet.core.errors import InputError

        if self._worker is not None:
            return
        try:
            req = self._request()
        except InputError as exc:
            show_error(str(exc))
            self._status.value = f"Error: {exc}"
            return
        self._req = req
        self._run.enabled, self._cancel.enabled = False, True
        self._progress.value = 0
        self._status.value = "Predicting..."
        self._worker = create_worker(
            _work,
            self._model,
            self._metadata,
            self._pending_file,
            req["data"],
            req["options"],
            req["plane"],
            req["region"],
            _connect={
                "yielded": self._on_progress,
                "returned": self._on_returned,
                "errored": self._on_error,
                "finished": self._on_finished,
                "aborted": self._on_aborted,
            },
        )

    def _on_cancel(self, _value=None) -> None:
        if self._worker is not None:
            self._worker.quit()
            self._status.value = "Cancelling..."

    def _on_progress(self, event) -> None:
        self._progress.max = max(int(event.total), 1)
        self._progress.value = int(event.done)

    def _on_returned(self, result) -> None:
        labels, foreground, model, metadata = result
        if model is not None:  # loaded from the file in the worker: keep it for next time
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
        data = req["data"]
        full = data.shape[:-1] if getattr(layer, "rgb", False) else data.shape
        kw = {"scale": layer.scale, "translate": layer.translate}
        index = [] if req["plane"] is None else [req["plane"]]
        if req["region"] is not None:
            (y0, y1), (x0, x1) = req["region"]
            index += [slice(y0, y1), slice(x0, x1)]
        for suffix, values, kind in (
            ("segmentation", labels, "labels"),
            ("probabilities", foreground, "image"),
        ):
            if kind == "image" and not self._probabilities.value:
                continue
            name = f"{layer.name} {suffix}"
            if name in self._viewer.layers and self._viewer.layers[name].data.shape == full:
                target = self._viewer.layers[name]
                if index:
                    target.data[tuple(index)] = values
                else:
                    target.data = values
                target.refresh()
                continue
            if name in self._viewer.layers:
                self._viewer.layers.remove(name)
            if index:
                arr = np.zeros(full, values.dtype)
                arr[tuple(index)] = values
                values = arr
            if kind == "labels":
                self._viewer.add_labels(values, name=name, opacity=0.5, **kw)
            else:
                self._viewer.add_image(
                    values, name=name, colormap="magma", blending="additive", **kw
                )

    def _on_error(self, exc: Exception) -> None:
        from napari.utils.notifications import show_error

        show_error(f"Prediction failed: {exc}")
        self._status.value = f"Error: {exc}"

    def _on_aborted(self) -> None:
        self._status.value = "Cancelled"

    def _on_finished(self) -> None:
        self._worker = None
        self._run.enabled, self._cancel.enabled = True, False


def _work(model, metadata, pending_file, data, options, plane, region):
    """The worker: load the model if needed, then segment; returns labels and foreground."""
    from napari_unet.core.postprocess import iter_segment

    loaded = None
    if model is None:
        from napari_unet.core.modelfile import load_model

        model, metadata = load_model(pending_file, device="cpu")
        loaded = model
    image = data
    if plane is not None:
        image = np.asarray(data[plane])
    elif region is not None or not type(data).__module__.startswith("dask"):
        image = np.asarray(data)
    labels, probs = yield from iter_segment(
        model, image, metadata=metadata, region=region, **options
    )
    foreground = probs[1] if probs.shape[0] > 1 else probs[0]
    if hasattr(foreground, "compute"):
        foreground = foreground.compute()
    return labels, np.asarray(foreground, np.float32), loaded, metadata
