"""The Annotate dock: Start takes back its image's read-only annotations layer, renamed too.

Each test fails on the dock before its fix: Start looked for ``"<image> annotations"`` by
name only, so after the user renamed that layer a new one was made from the saved file
beside it, and the user's renamed layer stayed read-only for good, its undo history unused.
"""

from __future__ import annotations

import numpy as np
import tifffile
from test_annotate_hunt5 import _saved, _settle, _widget
from test_annotate_hunt11 import _image_file, _menu_dock

from napari_unet import touching_cells


def _paint_and_rename(qtbot, widget, labels):
    labels.paint((20, 20), 5)
    labels.paint((60, 60), 6)
    labels.name = "nuclei annotations (mine)"
    labels.paint((40, 40), 7)
    _settle(qtbot, widget)


def _taken_back(viewer, widget, labels, folder, qtbot):
    names = [layer.name for layer in viewer.layers]
    assert "nuclei annotations" not in names, f"no second layer is made: {names}"
    assert widget._annotations is labels, "the user's renamed layer is the session's again"
    assert labels.editable, "a session saves it again: editable"
    labels.undo()  # its undo history from before is kept
    assert 7 not in labels.data and 6 in labels.data
    labels.paint((80, 20), 8)
    _settle(qtbot, widget)
    assert set(np.unique(_saved(folder))) == {0, 5, 6, 8}, "its strokes are saved"


def test_start_again_in_the_same_dock_takes_back_the_renamed_layer(
    make_napari_viewer, qtbot, tmp_path, errors
):
    """Start on another image, then on this one again: before, a new ``nuclei annotations``
    layer was made and ``nuclei annotations (mine)`` stayed read-only."""
    viewer = make_napari_viewer()
    image, folder = _image_file(viewer, tmp_path)
    other_path = tmp_path / "other.tif"
    tifffile.imwrite(other_path, touching_cells((64, 64), n_cells=4, seed=2)[0])
    other = viewer.open(other_path)[0]
    widget = _widget(viewer, image)
    labels = viewer.layers["nuclei annotations"]
    _paint_and_rename(qtbot, widget, labels)

    widget._image_combo.value = other
    widget._start_btn.native.click()
    assert not labels.editable, "no session saves it now: read-only"
    widget._image_combo.value = image
    widget._start_btn.native.click()
    assert widget._status.value.startswith("Annotating nuclei"), widget._status.value
    _taken_back(viewer, widget, labels, folder, qtbot)
    assert errors == []


def test_start_again_on_the_same_image_keeps_the_renamed_layer(
    make_napari_viewer, qtbot, tmp_path, errors
):
    """Start pressed again on the image being annotated: before, the renamed layer was made
    read-only and a new one made beside it."""
    viewer = make_napari_viewer()
    image, folder = _image_file(viewer, tmp_path)
    widget = _widget(viewer, image)
    labels = viewer.layers["nuclei annotations"]
    _paint_and_rename(qtbot, widget, labels)

    widget._start_btn.native.click()
    _taken_back(viewer, widget, labels, folder, qtbot)
    assert errors == []


def test_a_reopened_menu_dock_takes_back_the_renamed_layer(
    make_napari_viewer, qtbot, tmp_path, errors
):
    """The dock closed and reopened from the Plugins menu: before, Start made a new layer and
    the renamed one (handed over by the closed dock) stayed read-only."""
    viewer = make_napari_viewer()
    image, folder = _image_file(viewer, tmp_path)
    dock, old = _menu_dock(viewer, image)
    labels = viewer.layers["nuclei annotations"]
    _paint_and_rename(qtbot, old, labels)
    viewer.window.remove_dock_widget(dock)  # the dock's x button
    qtbot.wait(100)
    assert not labels.editable

    _dock2, new = _menu_dock(viewer, image)
    assert new._status.value.startswith("Annotating nuclei"), new._status.value
    _taken_back(viewer, new, labels, folder, qtbot)
    assert errors == []
