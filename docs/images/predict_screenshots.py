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


def main() -> None:
    """Make the screenshot."""
    viewer = napari.Viewer(title="napari-unet: Predict", show=True)
    viewer.window._qt_window.resize(*SIZE)
    viewer.open_sample("napari-unet", "nuclei")
    viewer.layers["nuclei ground truth"].visible = False
    widget = PredictWidget(viewer)
    dock = viewer.window.add_dock_widget(widget, name="Predict")
    QApplication.processEvents()
    viewer.window._qt_window.resizeDocks([dock], [380], Qt.Orientation.Horizontal)
    widget._image.value = viewer.layers["nuclei"]
    widget._probabilities.value = False
    widget._run.native.click()
    deadline = time.monotonic() + 300
    while (widget._worker is not None or not widget._run.enabled) and time.monotonic() < deadline:
        QApplication.processEvents()
        time.sleep(0.02)
    viewer.reset_view()
    for _ in range(5):
        QApplication.processEvents()
    shot = viewer.screenshot(canvas_only=False, flash=False)
    img = Image.fromarray(shot[..., :3]).quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    out = HERE / "predict_overlay.png"
    img.save(out, optimize=True)
    print(f"wrote {out} ({out.stat().st_size // 1024} KB)")
    viewer.close()


if __name__ == "__main__":
    main()
