"""Closing napari while Accept prediction (or Import TIFF) writes its parts saves all of it.

Before, the close-time save wrote whatever the layer held: an accept written part by part
was saved half done, its cells cut at a part's edge (40 px of a 100 px cell), and the rest of
the region read as background in the reopened project.
"""

from __future__ import annotations

import numpy as np
import tifffile
from qtpy.QtWidgets import QApplication
from test_annotate_widget import WORKER_MS, _image_file, _widget

from napari_unet.core.annotation.project import ANNOTATIONS_FILE, project_folder_for
from napari_unet.widgets import _annotate_work

SHAPE = (64, 80)


def _grid() -> np.ndarray:
    """Cells of 10 x 10 px on a grid: 20 of them, ids 1..20."""
    cells = np.zeros(SHAPE, np.int32)
    k = 0
    for y in range(2, 60, 16):
        for x in range(2, 70, 14):
            k += 1
            cells[y : y + 10, x : x + 10] = k
    return cells


def _close_while_writing(qtbot, viewer, widget, doing: str) -> None:
    mid_way = lambda: bool(f"{doing}... " in widget._status.value and "%" in widget._status.value)  # noqa: E731
    qtbot.waitUntil(mid_way, timeout=WORKER_MS)  # a part is written, the others wait
    viewer.close()  # the user quits napari
    for _ in range(20):  # the parts the event loop still holds change nothing now
        QApplication.processEvents()


def _whole(saved: np.ndarray, expected: np.ndarray) -> None:
    ids, areas = np.unique(saved[saved > 0], return_counts=True)
    assert ids.size == np.unique(expected[expected > 0]).size  # every cell, none missing
    assert set(areas.tolist()) == {100}  # none cut at a part's edge
    np.testing.assert_array_equal(saved > 0, expected > 0)


def test_closing_napari_mid_accept_saves_the_whole_accept(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    monkeypatch.setattr(_annotate_work, "PART_PIXELS", 40)  # many parts on a tiny image
    path, _ = _image_file(tmp_path, shape=SHAPE)
    viewer = make_napari_viewer()
    widget, _ = _widget(viewer, qtbot, path)
    cells = _grid()
    widget._prediction_combo.value = viewer.add_labels(cells, name="cells segmentation (m)")
    widget._accept_btn.native.click()
    _close_while_writing(qtbot, viewer, widget, "Accepting the prediction")
    _whole(tifffile.imread(project_folder_for(path) / ANNOTATIONS_FILE), cells)


def test_closing_napari_mid_import_saves_the_whole_import(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    monkeypatch.setattr(_annotate_work, "PART_PIXELS", 40)
    path, _ = _image_file(tmp_path, shape=SHAPE)
    mask = tmp_path / "mask.tif"
    cells = _grid().astype(np.uint16)
    tifffile.imwrite(mask, cells)
    viewer = make_napari_viewer()
    widget, _ = _widget(viewer, qtbot, path)
    widget._tiff_path.value = mask
    widget._import_btn.native.click()
    _close_while_writing(qtbot, viewer, widget, "Importing mask.tif")
    saved = tifffile.imread(project_folder_for(path) / ANNOTATIONS_FILE)
    _whole(saved, cells)
    np.testing.assert_array_equal(saved, cells)
