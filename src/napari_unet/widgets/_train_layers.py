"""Helpers of the Train dock: layer data, scroll panel, visible region, preview, closing, timer."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from qtpy.QtCore import QEvent, QObject, Qt, QTimer
from qtpy.QtWidgets import QScrollArea, QVBoxLayout, QWidget


def layer_array(layer) -> np.ndarray:
    """A copy of a layer's full-resolution data (painting during training changes nothing)."""
    data = layer.data[0] if getattr(layer, "multiscale", False) else layer.data
    return np.array(data)


def region_array(layer, shape) -> np.ndarray | None:
    """The annotated region of a Labels (non-zero) or Shapes (filled shapes) layer."""
    if layer is None:
        return None
    if type(layer).__name__ == "Shapes":
        from napari_unet.core.annotations import region_mask

        return region_mask(layer.data, layer.shape_type, shape)
    return layer_array(layer) != 0


def snapshot(pairs, val_image, val_labels) -> dict:
    """Copies of the training layers' data, taken on the GUI thread for the worker.

    ``pairs`` are (Image, Labels, region layer or None) triples; ``val_image`` is None (hold
    out part of the training data), ``"none"`` (no validation) or an Image layer, with
    ``val_labels`` its Labels layer. Raises InputError when a layer is missing.
    """
    from napari_unet.core.errors import InputError

    if not pairs or any(i is None or lb is None for i, lb, _ in pairs):
        raise InputError("choose an Image layer and a Labels layer with painted cells")
    labels = [layer_array(lb) for _, lb, _ in pairs]
    data = {
        "images": [layer_array(i) for i, _, _ in pairs],
        "labels": labels,
        "regions": [region_array(r, lb.shape) for (_, _, r), lb in zip(pairs, labels, strict=True)],
        "names": [i.name for i, _, _ in pairs],
        "val": None,
    }
    if val_image == "none":
        data["val"] = []
    elif val_image is not None:
        if val_labels is None:
            raise InputError("choose the validation Labels layer (or hold out a region)")
        data["val"] = (layer_array(val_image), layer_array(val_labels), val_image.name)
    return data


def scroll_panel(*widgets) -> QScrollArea:
    """The widgets stacked in a vertical scroll area, so the dock itself can stay short.

    napari docks a widget's ``native`` directly, so magicgui's own scrollable wrapper would be
    dropped; the scroll area is built here instead.
    """
    panel = QWidget()
    box = QVBoxLayout(panel)
    box.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        box.addWidget(widget)
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    scroll.setWidget(panel)
    scroll.setMinimumHeight(260)
    width = panel.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width()
    scroll.setMinimumWidth(width + 4)
    return scroll


def camera(viewer):
    """The viewer's camera (``viewer.scene.camera`` from napari 0.9, else ``viewer.camera``)."""
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None else viewer.camera


def visible_box(viewer, layer, plane_shape, limit: int = 512):
    """``(y0, y1, x0, x1)`` of the data pixels of ``layer`` in view (at most 2*limit a side).

    None if less than 16 x 16 pixels are visible.
    """
    cam = camera(viewer)
    size = getattr(viewer, "_canvas_size", (512, 512))
    h, w = plane_shape
    scale, trans = np.asarray(layer.scale[-2:]), np.asarray(layer.translate[-2:])
    centre = (np.asarray(cam.center[-2:]) - trans) / scale
    half = np.minimum(np.asarray(size[-2:]) / cam.zoom / scale / 2, limit)
    y0, x0 = (int(v) for v in np.maximum(np.floor(centre - half), 0))
    y1, x1 = (int(v) for v in np.minimum(np.ceil(centre + half), (h, w)))
    return (y0, y1, x0, x1) if y1 - y0 >= 16 and x1 - x0 >= 16 else None


def output_path(image_layer, chosen) -> Path | None:
    """The chosen model path, else ``IMAGE.unet.safetensors`` beside an image from a file."""
    if chosen is not None and str(chosen) not in ("", "."):
        return Path(chosen)
    src = getattr(getattr(image_layer, "source", None), "path", None)
    if src:
        p = Path(src)
        return p.with_name(p.stem + ".unet.safetensors")
    return None


class CloseWatcher(QObject):
    """Calls ``callback`` when a watched window closes or a watched dock content is removed."""

    def __init__(self, callback) -> None:
        super().__init__()
        self._callback = callback

    def eventFilter(self, obj, event):  # noqa: N802 (Qt API)
        """Watch for Close, and for a change to no parent (the dock was removed)."""
        kind = event.type()
        if kind == QEvent.Type.Close or (kind == QEvent.Type.ParentChange and obj.parent() is None):
            self._callback()
        return False


def paint_preview(layer, ev, plane: int = 0) -> None:
    """Write a :class:`~napari_unet.core.train_config.Preview` into ``layer`` in place."""
    y0, x0 = ev.origin or (0, 0)
    h, w = ev.labels.shape
    target = layer.data[int(plane)] if layer.ndim == 3 else layer.data
    target[:] = 0
    target[y0 : y0 + h, x0 : x0 + w] = ev.labels
    layer.refresh()


def fmt_time(seconds: float) -> str:
    """``m:ss`` below an hour, else whole hours."""
    seconds = int(max(seconds, 0))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds < 3600 else f"{seconds // 3600} h"


def set_progress_deferred(bar, value: int) -> None:
    """Set a QProgressBar's value without its synchronous repaint.

    ``QProgressBar.setValue`` repaints at once; with updates disabled meanwhile the paint is
    left to the event loop, which merges it with the other pending paints (the status line).
    """
    bar.setUpdatesEnabled(False)
    try:
        bar.setValue(int(value))
    finally:
        bar.setUpdatesEnabled(True)  # schedules one ordinary (deferred) update


class GapMeter:
    """A 10 ms QTimer on the GUI thread recording the gaps between its ticks.

    A responsive GUI thread ticks about every 10 ms; a longer gap is time the GUI thread
    was busy (or starved of the GIL) and could not repaint or react.
    """

    def __init__(self, interval_ms: int = 10) -> None:
        self.gaps_ms: list[float] = []
        self._timer = QTimer()
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)
        self._last = 0.0

    def start(self) -> None:
        """Forget earlier gaps and start ticking."""
        self.gaps_ms.clear()
        self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        """Stop ticking."""
        self._timer.stop()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps_ms.append((now - self._last) * 1000.0)
        self._last = now

    def percentiles(self) -> dict[str, float]:
        """p50, p99 and max gap (ms) and the number of ticks."""
        g = np.asarray(self.gaps_ms or [0.0])
        return {
            "p50": float(np.percentile(g, 50)),
            "p99": float(np.percentile(g, 99)),
            "max": float(g.max()),
            "n": len(self.gaps_ms),
        }


def preimport() -> None:
    """Import what the worker needs now (dock creation), not during training.

    An import holds the interpreter lock: torch or scikit-image imported by the worker
    thread would freeze the GUI thread for up to a second mid-training.
    """
    import importlib

    for name in (
        "torch",
        "safetensors.torch",
        "napari_unet.core.train",
        "napari_unet.core.models.registry",
        "napari_unet.core.device",
        "napari_unet.core.losses",
        "napari_unet.core.validation",
        "napari_unet.core.postprocess",
        "napari_unet.core.predict",
        "napari_unet.core.metrics",
        "napari_unet.core.modelfile",
        "napari_unet.core.weightmap",
    ):
        importlib.import_module(name)
