"""The Annotate dock: nothing writes into a layer while Accept prediction writes into it; an
import whose ids do not fit the layer is refused.

Each test fails on the dock before its fix: Import TIFF stayed clickable during an accept
(the imported cells then shared ids with the accepted ones: separate cells merged into one
object); Start annotating, or a project folder chosen, made the layer editable and Accept
clickable again (strokes painted then were overwritten when the accept ended); an import
into a user's own uint16 layer wrapped id 65536 to 0 and 65537 to 1.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import tifffile
from scipy import ndimage
from test_annotate_hunt5 import WORKER_MS, _settle, _widget

from napari_unet import touching_cells
from napari_unet.widgets import _annotate_work, _session

SHAPE = (64, 128)


def _held_accepts(monkeypatch) -> threading.Event:
    """Accepts wait in their worker until the event is set (a large image, in short)."""
    gate, real = threading.Event(), _session.acceptance_job

    def held(*args, **kwargs):
        job = real(*args, **kwargs)

        def run():
            gate.wait(WORKER_MS / 1000)
            return job()

        return run

    monkeypatch.setattr(_session, "acceptance_job", held)
    return gate


def _image_and_cells(viewer):
    """An image 'im' with a prediction of 10 touching cells on its left half."""
    left, cells = touching_cells((64, 64), n_cells=10, seed=1)
    right, _ = touching_cells((64, 64), n_cells=10, seed=2)
    layer = viewer.add_image(np.concatenate([left, right], axis=1), name="im")
    prediction = np.zeros(SHAPE, np.int32)
    prediction[:, :64] = cells
    return layer, prediction


def _right_half_tiff(path, first_id=1, dtype=np.uint32):
    _, cells = touching_cells((64, 64), n_cells=10, seed=2)
    mask = np.zeros(SHAPE, dtype)
    mask[:, 64:] = np.where(cells > 0, cells.astype(np.int64) + first_id - 1, 0)
    tifffile.imwrite(path, mask)
    return mask


def _pieces(data, cell) -> int:
    return ndimage.label(data == cell, structure=np.ones((3, 3)))[1]


def _accept_done(widget):
    return bool(widget._annotations.editable and widget._accept_btn.enabled)


def test_import_waits_for_a_running_accept(
    make_napari_viewer, qtbot, tmp_path, errors, monkeypatch
):
    """Before, the import wrote into the locked layer and the accept then wrote its cells
    with ids chosen before it: 9 of 10 ids lay in two separate places."""
    gate = _held_accepts(monkeypatch)
    viewer = make_napari_viewer()
    layer, prediction = _image_and_cells(viewer)
    widget = _widget(viewer, layer)
    labels = widget._annotations
    widget._prediction_combo.value = viewer.add_labels(prediction, name="im segmentation (m)")
    tiff = tmp_path / "right.tif"
    mask = _right_half_tiff(tiff)
    widget._tiff_path.value = tiff
    widget._accept_btn.native.click()
    assert not labels.editable and not widget._import_btn.enabled
    widget._import_btn.native.click()  # off while the accept runs
    qtbot.wait(300)  # (before: its worker read the file and wrote it into the layer)
    errors.clear()
    _annotate_work._imported(widget, mask, tiff)  # an import read before Accept, done now
    assert errors and "still writing" in errors[-1] and "still writing" in widget._status.value
    assert not np.any(labels.data)
    gate.set()
    qtbot.waitUntil(lambda: _accept_done(widget), timeout=WORKER_MS)
    data = np.asarray(labels.data)
    assert widget._import_btn.enabled and not np.any(data[:, 64:])
    cells = np.unique(data[data > 0])
    assert len(cells) >= 10 and all(_pieces(data, c) == 1 for c in cells)  # no id shared
    widget._import_btn.native.click()  # the accept done: the import goes on
    qtbot.waitUntil(lambda: bool(np.any(labels.data[:, 64:])), timeout=WORKER_MS)
    np.testing.assert_array_equal(labels.data, mask)
    assert "Imported 10 cells" in widget._status.value


def test_start_and_a_project_folder_wait_for_a_running_accept(
    make_napari_viewer, qtbot, tmp_path, errors, monkeypatch
):
    """Before, Start (or a folder holding the project) made the layer editable and Accept
    clickable during the accept; a stroke painted then was gone when it ended."""
    gate = _held_accepts(monkeypatch)
    viewer = make_napari_viewer()
    layer, prediction = _image_and_cells(viewer)
    widget = _widget(viewer, layer, tmp_path / "proj")
    labels = widget._annotations
    labels.paint((32, 100), 1)  # saved into proj: a folder that holds the project
    _settle(qtbot, widget)
    widget._folder.value = tmp_path / "proj2"
    _settle(qtbot, widget)
    widget._prediction_combo.value = viewer.add_labels(prediction, name="im segmentation (m)")
    widget._accept_btn.native.click()
    errors.clear()
    widget._start_btn.native.click()
    assert widget._annotations is labels and not labels.editable
    assert not widget._accept_btn.enabled and not widget._import_btn.enabled
    assert "wait for it to finish" in widget._status.value and len(errors) == 1
    widget._folder.value = tmp_path / "proj"  # holds the project: opened as Start opens it
    assert len(errors) == 2 and not labels.editable and not widget._accept_btn.enabled
    gate.set()
    qtbot.waitUntil(lambda: _accept_done(widget), timeout=WORKER_MS)
    assert widget._import_btn.enabled and "Accepted 10 predicted cells" in widget._status.value
    labels.paint((10, 10), 500)  # editable again, and no accept left to overwrite it
    qtbot.wait(200)
    assert labels.data[10, 10] == 500 and labels.data[32, 100] == 1
    widget._start_btn.native.click()  # the accept done: Start goes on (proj is not
    assert widget._annotations is labels and labels.editable  # written over: its own error)
    assert "still writing" not in widget._status.value


@pytest.mark.parametrize("dtype", [np.uint16, np.int16])
def test_import_of_ids_a_users_layer_cannot_hold_is_refused(
    make_napari_viewer, qtbot, tmp_path, errors, dtype
):
    """Before, the ids were cast to the layer's type: 65536 became 0 (the cell erased),
    65537 became 1 (merged with cell 1), and the status said 10 cells were imported."""
    viewer = make_napari_viewer()
    layer, _ = _image_and_cells(viewer)
    viewer.add_labels(np.zeros(SHAPE, dtype), name="im annotations")  # the user's own
    widget = _widget(viewer, layer)
    labels = widget._annotations
    assert labels.data.dtype == dtype  # re-attached as it is
    labels.paint((10, 10), 1)
    before = np.array(labels.data)
    tiff = tmp_path / "wide.tif"
    _right_half_tiff(tiff, first_id=int(np.iinfo(dtype).max) + 1)
    widget._tiff_path.value = tiff
    errors.clear()
    widget._import_btn.native.click()
    qtbot.waitUntil(lambda: bool(errors), timeout=WORKER_MS)
    assert "Import refused" in errors[-1] and "do not fit" in errors[-1]
    assert np.dtype(dtype).name in errors[-1] and "Import refused" in widget._status.value
    np.testing.assert_array_equal(labels.data, before)


def test_a_second_dock_on_the_image_waits_for_the_first_docks_accept(
    make_napari_viewer, qtbot, tmp_path, errors, monkeypatch
):
    """Before, only the accepting dock refused: a second Annotate dock's Start on the same
    image made the layer editable during the accept and its Accept and Import were on."""
    gate = _held_accepts(monkeypatch)
    viewer = make_napari_viewer()
    layer, prediction = _image_and_cells(viewer)
    first = _widget(viewer, layer, tmp_path / "proj")
    labels = first._annotations
    first._prediction_combo.value = viewer.add_labels(prediction, name="im segmentation (m)")
    first._accept_btn.native.click()
    second = _widget(viewer, layer, tmp_path / "proj")
    assert not labels.editable and "wait for it to finish" in second._status.value
    assert not second._accept_btn.enabled and not second._import_btn.enabled
    gate.set()
    qtbot.waitUntil(lambda: _accept_done(first), timeout=WORKER_MS)
    second._start_btn.native.click()  # the accept done: the second dock starts
    assert second._annotations is labels and labels.editable and second._accept_btn.enabled
    assert "Accepted 10 predicted cells" in first._status.value


def test_export_tiff_refuses_a_name_of_another_format(make_napari_viewer, qtbot, tmp_path, errors):
    """Before, cells.png got TIFF bytes, and the status said it was exported."""
    viewer = make_napari_viewer()
    layer, _ = _image_and_cells(viewer)
    widget = _widget(viewer, layer, tmp_path / "proj")
    widget._annotations.paint((10, 10), 3)
    widget._tiff_path.value = tmp_path / "cells.png"
    widget._export_btn.native.click()
    assert errors and "name it cells.tif" in errors[-1]
    assert not (tmp_path / "cells.png").exists()
    widget._tiff_path.value = tmp_path / "cells"  # no suffix: .tif added, as before
    widget._export_btn.native.click()
    qtbot.waitUntil(lambda: bool((tmp_path / "cells.tif").exists()), timeout=WORKER_MS)
