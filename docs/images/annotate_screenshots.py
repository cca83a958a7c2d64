"""Regenerate the screenshots of docs/annotate.md with the Annotate widget itself.

Run from the repository root (needs a display, or a virtual one)::

    xvfb-run -a .venv/bin/python docs/images/annotate_screenshots.py

It opens the shipped nuclei sample from a temporary folder (so autosave has a place to
write), paints a few nuclei as a user would, accepts a simple threshold "prediction"
inside the annotated region, and saves ``annotate_paint.png`` and
``annotate_accept.png`` beside this script.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import napari
import numpy as np
import tifffile
from PIL import Image
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QApplication
from scipy import ndimage
from skimage.filters import threshold_otsu
from skimage.measure import label

from napari_unet.sample_data import nuclei_data
from napari_unet.widgets.annotate import AnnotateWidget

HERE = Path(__file__).resolve().parent
SIZE = (1400, 760)


def _save(viewer: napari.Viewer, name: str) -> None:
    for _ in range(5):
        QApplication.processEvents()
    shot = viewer.screenshot(canvas_only=False, flash=False)
    img = Image.fromarray(shot[..., :3])
    img = img.quantize(colors=128, method=Image.Quantize.MEDIANCUT)  # small PNGs for the docs
    img.save(HERE / name, optimize=True)
    print(f"wrote {HERE / name} ({(HERE / name).stat().st_size // 1024} KB)")


def main() -> None:
    """Make both screenshots."""
    image, truth = nuclei_data()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "nuclei.tif"
        tifffile.imwrite(path, image)
        viewer = napari.Viewer(title="napari-unet: Annotate", show=True)
        viewer.window._qt_window.resize(*SIZE)
        layer = viewer.open(path)[0]
        widget = AnnotateWidget(viewer)
        dock = viewer.window.add_dock_widget(widget, name="Annotate")
        QApplication.processEvents()
        viewer.window._qt_window.resizeDocks([dock], [420], Qt.Orientation.Horizontal)
        QApplication.processEvents()
        widget._image_combo.value = layer
        widget._start_btn.native.click()
        labels, region = widget._labels, widget._region

        # A user paints five nuclei (here: copied from the ground truth, one id each).
        h, w = truth.shape
        ids = [i for i in np.unique(truth[: h // 2, : w // 2]) if i][:5]
        for i in ids:
            labels.selected_label = widget._labels.selected_label
            labels.data_setitem(np.nonzero(truth == i), labels.selected_label)
            widget._new_cell_btn.native.click()
        # ... and marks the top-left part as completely annotated.
        region.data = [np.array([[0, 0], [0, w * 0.6], [h * 0.6, w * 0.6], [h * 0.6, 0]])]
        widget._update_counts()
        viewer.reset_view()
        _save(viewer, "annotate_paint.png")

        # A stand-in prediction (Otsu threshold + connected components); in the real loop
        # this is the U-Net's prediction or the training preview.
        smooth = ndimage.gaussian_filter(image.astype(float), 1)
        pred = label(smooth > threshold_otsu(smooth)).astype(np.uint16)
        viewer.add_labels(pred, name="prediction", opacity=0.4, visible=False)
        widget._prediction_combo.reset_choices()
        widget._prediction_combo.value = viewer.layers["prediction"]
        widget._accept_btn.native.click()
        widget._update_counts()
        viewer.layers.selection.active = labels
        _save(viewer, "annotate_accept.png")
        viewer.close()


if __name__ == "__main__":
    main()
