"""Regenerate the pictures of docs/review.md by reviewing real images in the Review dock.

Run from the repository root (needs a display, or a virtual one)::

    xvfb-run -a .venv/bin/python docs/images/review_screenshots.py [SHARED_DATA]

It copies eight fluorescence test images of the shared DSB2018 set into a temporary folder,
opens them in the Review dock with its default model (auto: the built-in nuclei model for
these fluorescence images) and, as a reviewer would:
accepts the first two with Alt+A, corrects a merged object on the third (erases it and paints
the two nuclei it covered, taken from the ground truth), accepts it, clicks a row of the
object table, and exports. It saves ``review_<n>_<step>.png`` beside this script and prints
the export's report.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import napari
import numpy as np
from annotate_screenshots import save, wait  # the same window shots and waiting

from napari_unet.core.images.io import read_image
from napari_unet.widgets._layers import camera
from napari_unet.widgets.review import ReviewWidget

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SIZE = (1500, 900)
#: Fluorescence test images of the shared set (the third has touching nuclei).
NAMES = [
    "001_003cee89357d", "013_05040e2e959c", "011_0402a81e7526", "010_03f583ec5018",
    "014_0532c64c2fd0", "016_06350c7cc618", "024_08ae2741df2f", "035_0c6507d493bf",
]  # fmt: skip


def merged_object(labels: np.ndarray, truth: np.ndarray):
    """The predicted object nearest the centre covering most of 2+ true nuclei, and those."""
    found = []
    for i in [int(i) for i in np.unique(labels) if i]:
        own = labels == i
        covered = [t for t in np.unique(truth[own]) if t and own[truth == t].mean() > 0.5]
        if len(covered) >= 2:
            ys, xs = np.nonzero(own)
            off = np.hypot(ys.mean() - labels.shape[0] / 2, xs.mean() - labels.shape[1] / 2)
            found.append((off, i, covered))
    return min(found, key=lambda f: f[0])[1:] if found else (None, [])


def main() -> None:
    """Review eight images and save the pictures."""
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared" / "data"
    src = data.absolute() / "dsb2018_full"
    with tempfile.TemporaryDirectory() as tmp:
        # The path boxes show a path's end: a neutral one, no path of this machine.
        images = Path(tmp) / "experiment_2026-12-02" / "plate1_images"
        images.mkdir(parents=True)
        os.chdir(images.parent)
        for name in [n for n in NAMES if (src / "images" / f"{n}.png").exists()]:
            shutil.copy(src / "images" / f"{name}.png", images)
        viewer = napari.Viewer(title="napari-unet: review a folder", show=True)
        viewer.window._qt_window.resize(*SIZE)
        widget = ReviewWidget(viewer)
        viewer.window.add_dock_widget(widget, name="Review")
        widget._form.images.value = images
        widget._form.queue_all.value = True
        widget.open()
        wait(lambda: widget._shown == widget.current_name)
        wait(lambda: widget._table.rowCount() > 0)
        save(viewer, "review_1_dock.png")
        widget.accept()
        wait(lambda: widget._shown == widget.current_name)
        widget.accept()
        wait(lambda: widget._shown == widget.current_name)
        layer = widget._labels_layer
        truth = np.asarray(read_image(src / "masks" / f"{NAMES[2]}.tif"))
        merged, covered = merged_object(np.asarray(layer.data), truth)
        if merged is not None:  # the reviewer's correction, with the layer's own undo steps
            ys, xs = np.nonzero(layer.data == merged)
            layer.fill((int(ys[0]), int(xs[0])), 0)
            for t in covered:
                new = int(layer.data.max()) + 1
                tys, txs = np.nonzero(truth == t)
                layer.data_setitem((tys, txs), new)
            camera(viewer).zoom = 3.0
        widget.autosave()  # what the timer does while you edit: saved, measured again
        newest = int(layer.data.max())
        wait(lambda: widget._table.row_of(newest) is not None)
        widget._table.selectRow(widget._table.row_of(newest))  # centres the view on it
        save(viewer, "review_2_correct_and_table.png")
        widget.accept()
        wait(lambda: widget._shown == widget.current_name)
        widget.export()
        wait(lambda: widget._report.value.startswith("Exported"))
        viewer.reset_view()
        save(viewer, "review_3_export_summary.png")
        print(widget._report.value)
        widget.shutdown()
        viewer.close()


if __name__ == "__main__":
    main()
