"""Regenerate the screenshot of docs/metrics.md with the Predict dock's Evaluate section.

Run from the repository root (needs a display, or a virtual one)::

    xvfb-run -a .venv/bin/python docs/images/evaluate_screenshots.py

It opens the shipped DSB2018 nuclei sample, predicts it with the Predict dock's defaults,
opens the Evaluate section, picks the sample's ground truth, presses Evaluate, then adds a
second prediction layer and picks it, so the tables of the first run turn grey and the
status says what they score. Saves ``evaluate_stale.png`` beside this script.
"""

from __future__ import annotations

from predict_screenshots import predicted, save, wait
from qtpy.QtWidgets import QApplication

SIZE = (1600, 1000)


def main() -> None:
    """Make the screenshot."""
    viewer, widget = predicted("napari-unet: Evaluate", SIZE, 620)
    truth = viewer.layers["nuclei ground truth"]
    section = widget._evaluate
    section.expand()
    panel = section.panel
    panel._ground_truth.value = truth
    panel._run.native.click()
    wait(lambda: panel._run.text == "Evaluate" and panel.results is not None)
    prediction = panel._prediction.value
    flipped = viewer.add_labels(prediction.data[::-1].copy(), name="nuclei flipped (a wrong one)")
    flipped.visible = False
    panel._prediction.value = flipped  # another pick: the tables above are out of date
    for _ in range(10):
        QApplication.processEvents()
    bar = widget._scroll.verticalScrollBar()
    bar.setValue(bar.maximum())  # the Evaluate section and its tables in view
    save(viewer, "evaluate_stale.png")
    print("status:", panel._status.value)
    viewer.close()


if __name__ == "__main__":
    main()
