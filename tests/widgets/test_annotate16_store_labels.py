"""An OME-Zarr store with its own ``labels/annotations``: the project's work comes back.

napari-unet's reader opens the store's label image as ``"<image> annotations"`` every time.
Start takes it over (its file is never written) and autosaves the work to the project. Before,
reopening the store the next day re-attached the reader's layer (the store's labels, without
the day's strokes), found it differed from the project, and turned autosave off: the saved
cells were not shown and nothing painted that day was saved. The project is shown now when it
was saved after the store's labels were written; a store whose labels changed after the
project was saved is still refused (neither is overwritten).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from test_annotate_hunt5 import _settle
from test_annotate_widget import _widget

from napari_unet.core.annotation.project import ANNOTATIONS_FILE

zarr = pytest.importorskip("zarr")


def _group(path, data, label=False) -> None:
    g = zarr.open_group(str(path), mode="w", zarr_format=2)
    g.create_array("0", data=data, chunks=data.shape)
    scale = [{"type": "scale", "scale": [1, 1]}]
    g.attrs["multiscales"] = [
        {
            "version": "0.4",
            "axes": [{"name": a, "type": "space"} for a in "yx"],
            "datasets": [{"path": "0", "coordinateTransformations": scale}],
        }
    ]
    if label:
        g.attrs["image-label"] = {"version": "0.4"}


def _store(tmp_path):
    store = tmp_path / "img.zarr"
    _group(store, np.random.default_rng(1).integers(0, 255, (40, 48), dtype=np.uint8))
    zarr.open_group(str(store / "labels"), mode="w", zarr_format=2).attrs["labels"] = [
        "annotations"
    ]
    cells = np.zeros((40, 48), np.uint16)
    cells[5:10, 5:10] = 1
    _group(store / "labels" / "annotations", cells, label=True)
    return store


def _session(make_napari_viewer, qtbot, store):
    viewer = make_napari_viewer()
    layers = viewer.open(store, plugin="napari-unet")
    image = next(ly for ly in layers if ly._type_string == "image")
    assert any(ly.name == "img annotations" for ly in layers)  # the reader's, lazily read
    widget, _ = _widget(viewer, qtbot, layer=image)
    return viewer, widget


def _day_one(make_napari_viewer, qtbot, store):
    viewer, widget = _session(make_napari_viewer, qtbot, store)
    assert np.unique(widget._annotations.data).tolist() == [0, 1]  # the store's cell taken
    widget._annotations.paint((30, 30), 2)
    _settle(qtbot, widget)
    viewer.close()
    return store.parent / "img.napari-unet"


def test_the_saved_project_comes_back_over_the_stores_labels(
    make_napari_viewer, qtbot, tmp_path, errors
):
    store = _store(tmp_path)
    folder = _day_one(make_napari_viewer, qtbot, store)
    assert (folder / ANNOTATIONS_FILE).is_file()
    viewer, widget = _session(make_napari_viewer, qtbot, store)  # the next day
    assert not errors
    labels = widget._annotations
    assert labels.data[30, 30] == 2 and labels.data[7, 7] == 1  # the day's work is back
    assert widget._saver.enabled and "OFF" not in widget._saved.value
    labels.paint((20, 40), 3)  # and the new day's strokes are saved
    _settle(qtbot, widget)
    assert "Saved to img.napari-unet" in widget._saved.value
    stored = zarr.open_array(str(store / "labels" / "annotations" / "0"), mode="r")[:]
    assert np.unique(stored).tolist() == [0, 1]  # the store's file is never written
    viewer.close()


def test_labels_changed_in_the_store_after_the_project_are_not_hidden(
    make_napari_viewer, qtbot, tmp_path, errors
):
    store = _store(tmp_path)
    folder = _day_one(make_napari_viewer, qtbot, store)
    saved = (folder / ANNOTATIONS_FILE).stat().st_mtime
    for root, _dirs, files in os.walk(store / "labels"):  # another tool rewrote them since
        for name in files:
            os.utime(os.path.join(root, name), (saved + 60, saved + 60))
    viewer, widget = _session(make_napari_viewer, qtbot, store)
    assert any("changed after" in e for e in errors)  # neither is overwritten: refused
    assert not widget._saver.enabled
    assert widget._annotations.data[30, 30] == 0  # the store's labels, as its file holds
    viewer.close()
