"""Regenerate the screenshot of docs/metrics.md with the Predict dock's Evaluate section.

Run from the repository root (needs a display, or a virtual one)::

    xvfb-run -a .venv/bin/python docs/images/evaluate_screenshots.py

It opens the shipped DSB2018 nuclei sample, predicts it with the Predict dock's defaults,
opens the Evaluate section, picks the sample's ground truth, presses Evaluate, then adds a
second prediction layer and picks it, so the tables of the first run turn grey and the
status says what they score. Saves ``evaluate_stale.png`` beside this script.
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
SIZE = (1600, 1000)


def _wait(until, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not until() and time.monotonic() < deadline:
        QApplication.processEvents()
        time.sleep(0.02)


def main() -> None:
    """Make the screenshot."""
    viewer = napari.Viewer(title="napari-unet: Evaluate", show=True)
    viewer.window._qt_window.resize(*SIZE)
    viewer.open_sample("napari-unet", "nuclei")
    truth = viewer.layers["nuclei ground truth"]
    truth.visible = False
    widget = PredictWidget(viewer)
    dock = viewer.window.add_dock_widget(widget, name="Predict")
    QApplication.processEvents()
    viewer.window._qt_window.resizeDocks([dock], [620], Qt.Orientation.Horizontal)
    widget._image.value = viewer.layers["nuclei"]
    widget._probabilities.value = False
    widget._run.native.click()
    _wait(lambda: widget._worker is None and widget._run.enabled)
    section = widget._evaluate
    section.expand()
    panel = section.panel
    panel._ground_truth.value = truth
    panel._run.native.click()
    _wait(lambda: panel._run.text == "Evaluate" and panel.results is not None)
    prediction = panel._prediction.value
    eroded = viewer.add_labels(prediction.data[::-1].copy(), name="nuclei flipped (a wrong one)")
    eroded.visible = False
    panel._prediction.value = eroded  # another pick: the tables above are out of date
    viewer.reset_view()
    for _ in range(10):
        QApplication.processEvents()
    bar = widget._scroll.verticalScrollBar()
    bar.setValue(bar.maximum())  # the Evaluate section and its tables in view
    for _ in range(10):
        QApplication.processEvents()
    shot = viewer.screenshot(canvas_only=False, flash=False)
    img = Image.fromarray(shot[..., :3]).quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    out = HERE / "evaluate_stale.png"
    img.save(out, optimize=True)
    print(f"wrote {out} ({out.stat().st_size // 1024} KB)")
    print("status:", panel._status.value)
    viewer.close()


if __name__ == "__main__":
    main()
