"""Autosave after the image's data folder was moved or renamed: NOT SAVED, nothing re-made.

Before, the next autosave made the old path again (``exp1/cells.napari-unet``) and wrote the
new strokes there, with "Saved to cells.napari-unet." on the status line: the moved image's
project never got them. The moved project folder, chosen, takes the work (before, it was
refused as holding other annotations than the layer: it holds the layer's last save).
"""

from __future__ import annotations

import os

import numpy as np
import tifffile
from test_annotate_hunt5 import _settle
from test_annotate_widget import _image_file, _widget

from napari_unet.core.annotation.project import ANNOTATIONS_FILE


def _moved_while_painting(make_napari_viewer, qtbot, tmp_path):
    """A session on exp1/cells.tif: cell 1 saved, exp1 renamed exp1_done, cell 2 painted."""
    (tmp_path / "exp1").mkdir()
    path, _ = _image_file(tmp_path / "exp1")
    viewer = make_napari_viewer()
    widget, _ = _widget(viewer, qtbot, path)
    labels = widget._annotations
    labels.paint((10, 10), 1)
    _settle(qtbot, widget)
    assert "Saved to cells.napari-unet" in widget._saved.value
    os.rename(tmp_path / "exp1", tmp_path / "exp1_done")  # the user tidies the data away
    labels.paint((40, 40), 2)
    _settle(qtbot, widget)
    return viewer, widget, labels


def test_autosave_never_remakes_a_moved_data_folder(make_napari_viewer, qtbot, tmp_path, errors):
    viewer, widget, labels = _moved_while_painting(make_napari_viewer, qtbot, tmp_path)
    assert not (tmp_path / "exp1").exists()  # no ghost project at the old path
    assert "NOT SAVED" in widget._saved.value and "does not exist" in widget._saved.value
    assert any("exp1, which does not exist" in e for e in errors)
    assert labels.data[40, 40] == 2  # the work stays in the viewer
    viewer.close()  # the close-time save says so again and makes nothing either
    assert not (tmp_path / "exp1").exists()
    moved = tifffile.imread(tmp_path / "exp1_done" / "cells.napari-unet" / ANNOTATIONS_FILE)
    assert np.unique(moved).tolist() == [0, 1]  # as saved before the move, untouched


def test_the_moved_project_folder_chosen_takes_the_work(
    make_napari_viewer, qtbot, tmp_path, errors
):
    viewer, widget, labels = _moved_while_painting(make_napari_viewer, qtbot, tmp_path)
    assert "NOT SAVED" in widget._saved.value
    errors.clear()
    moved = tmp_path / "exp1_done" / "cells.napari-unet"
    widget._folder.value = moved  # it holds what this layer last saved: its work goes on
    _settle(qtbot, widget)
    assert not [e for e in errors if "exp1_done" in e]  # not refused (the old path's save fails)
    assert widget._saver.enabled and widget._saver.folder == moved
    assert "Saved to cells.napari-unet" in widget._saved.value
    assert np.unique(tifffile.imread(moved / ANNOTATIONS_FILE)).tolist() == [0, 1, 2]
    viewer.close()
