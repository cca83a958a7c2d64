"""Regenerate the screenshot of docs/predict.md with the Predict widget itself.

Run from the repository root (needs a display, or a virtual one)::

    xvfb-run -a .venv/bin/python docs/images/predict_screenshots.py

It opens the shipped DSB2018 nuclei sample, keeps the Predict dock's default model (auto,
which chooses the built-in nuclei model for this fluorescence image, with that model's
recommended post-processing), presses Predict and saves
``predict_overlay.png`` beside this script.
"""

from __future__ import annotations

import time
from pathlib import Path

import napari
from PIL import Image
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QApplication

from napari_unet.widgets.predict import PredictWidget

HERE = Path(__file__).resolve().parent
SIZE = (1400, 760)


def wait(until, timeout: float = 300.0) -> None:
    """Run Qt's events until ``until()`` holds (or ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while not until() and time.monotonic() < deadline:
        QApplication.processEvents()
        time.sleep(0.02)


def predicted(title: str, size: tuple[int, int], dock_width: int):
    """A shown viewer with the nuclei sample predicted by a Predict dock: (viewer, dock)."""
    viewer = napari.Viewer(title=title, show=True)
    viewer.window._qt_window.resize(*size)
    viewer.open_sample("napari-unet", "nuclei")
    viewer.layers["nuclei ground truth"].visible = False
    widget = PredictWidget(viewer)
    dock = viewer.window.add_dock_widget(widget, name="Predict")
    QApplication.processEvents()
    viewer.window._qt_window.resizeDocks([dock], [dock_width], Qt.Orientation.Horizontal)
    widget._image.value = viewer.layers["nuclei"]
    widget._probabilities.value = False
    widget._run.native.click()
    wait(lambda: widget._worker is None and widget._run.enabled)
    viewer.reset_view()
    return viewer, widget


def save(viewer, name: str) -> None:
    """The whole window as ``name`` beside this script (128 colours)."""
    for _ in range(10):
        QApplication.processEvents()
    shot = viewer.screenshot(canvas_only=False, flash=False)
    img = Image.fromarray(shot[..., :3]).quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    out = HERE / name
    img.save(out, optimize=True)
    print(f"wrote {out} ({out.stat().st_size // 1024} KB)")


def main() -> None:
    """Make the screenshot."""
    viewer, _ = predicted("napari-unet: Predict", SIZE, 380)
    save(viewer, "predict_overlay.png")
    viewer.close()


if __name__ == "__main__":
    main()
