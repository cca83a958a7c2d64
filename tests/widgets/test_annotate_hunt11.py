"""The Annotate dock: closing it ends its session; n acts on the layer it is pressed on.

Each test fails on the dock before its fix: a dock closed and reopened from the Plugins menu
was refused Start on its image ("annotated in another window"), the closed dock's session
still running unseen and keeping the project folder; a script's dock on the image a menu
dock annotates was refused the same way (the menu dock sees a proxy of the viewer); n on an
earlier session's layer gave the current session's layer a new id and its paint tool.
"""

from __future__ import annotations

import numpy as np
import tifffile
from napari.utils.key_bindings import coerce_keybinding
from test_annotate_hunt5 import _saved, _settle, _widget

from napari_unet import touching_cells
from napari_unet.core.annotation.project import project_folder_for


def _image_file(viewer, tmp_path):
    path = tmp_path / "nuclei.tif"
    tifffile.imwrite(path, touching_cells((96, 96), n_cells=8, seed=1)[0])
    return viewer.open(path)[0], project_folder_for(path)


def _menu_dock(viewer, image):
    """An Annotate dock opened as the Plugins menu opens it, started on ``image``."""
    dock, widget = viewer.window.add_plugin_dock_widget("napari-unet", "Annotate")
    widget._saver.timer.setInterval(30)  # the 2 s quiet period, shortened for tests
    widget._image_combo.value = image
    widget._start_btn.native.click()
    return dock, widget


def _press_n(layer) -> None:
    layer.keymap[coerce_keybinding("n")](layer)


def test_a_dock_closed_and_reopened_starts_its_image_again(
    make_napari_viewer, qtbot, tmp_path, errors
):
    """Before, the closed dock kept saving the folder: the reopened dock's Start was refused
    ("'nuclei' is annotated in another window"), and the stroke painted just before closing
    waited for the closed dock's timer."""
    viewer = make_napari_viewer()
    image, folder = _image_file(viewer, tmp_path)
    dock, old = _menu_dock(viewer, image)
    labels = viewer.layers["nuclei annotations"]
    labels.paint((20, 20), 5)
    _settle(qtbot, old)
    old._saver.timer.setInterval(60_000)  # the last stroke is left to the close to write
    labels.paint((60, 60), 6)
    viewer.window.remove_dock_widget(dock)  # the dock's x button
    qtbot.wait(100)
    assert set(np.unique(_saved(folder))) == {0, 5, 6}, "closing the dock saves the rest"
    assert old._annotations is None and not old._saver.enabled
    assert not labels.editable, "no session saves it now: read-only, as after a stop"

    _dock2, new = _menu_dock(viewer, image)
    assert new._status.value.startswith("Annotating nuclei"), new._status.value
    assert errors == []
    assert labels.editable and new._saver.enabled
    _press_n(labels)
    assert labels.selected_label == 7
    labels.paint((80, 20), 7)
    _settle(qtbot, new)
    assert set(np.unique(_saved(folder))) == {0, 5, 6, 7}
    labels.undo()  # the history from before the close is kept
    labels.undo()
    assert 6 not in labels.data and 5 in labels.data


def test_a_menu_dock_and_a_scripts_dock_share_one_image(
    make_napari_viewer, qtbot, tmp_path, errors
):
    """Before, the second dock was refused Start ("annotated in another window"): the menu's
    dock sees its own proxy of the viewer, never taken for the viewer a script's dock has."""
    viewer = make_napari_viewer()
    image, folder = _image_file(viewer, tmp_path)
    _dock, first = _menu_dock(viewer, image)
    second = _widget(viewer, image)  # AnnotateWidget(viewer), docked by a script
    assert second._status.value.startswith("Annotating nuclei"), second._status.value
    assert errors == []
    assert second._saver.enabled and first._saver.enabled
    viewer.layers["nuclei annotations"].paint((20, 20), 3)
    _settle(qtbot, second)
    _settle(qtbot, first)
    assert set(np.unique(_saved(folder))) == {0, 3}


def test_n_on_an_earlier_sessions_layer_leaves_the_current_one(make_napari_viewer, errors):
    """Before, n on 'one annotations' gave 'two annotations' a new id and switched its
    tool from fill to paint; 'one annotations' was unchanged."""
    viewer = make_napari_viewer()
    one = viewer.add_image(touching_cells((64, 64), n_cells=4, seed=1)[0], name="one")
    two = viewer.add_image(touching_cells((64, 64), n_cells=4, seed=2)[0], name="two")
    _dock, widget = _menu_dock(viewer, one)
    first = viewer.layers["one annotations"]
    first.paint((10, 10), 4)
    widget._image_combo.value = two
    widget._start_btn.native.click()
    current = viewer.layers["two annotations"]
    current.paint((5, 5), 7)
    current.mode, current.selected_label = "fill", 1
    _press_n(first)
    assert (current.mode, current.selected_label) == ("fill", 1)
    assert first.selected_label != 5 and not first.editable
    assert "n does nothing on 'one annotations'" in widget._status.value
    _press_n(current)  # on the session's own layer, n goes on as before
    assert (current.mode, current.selected_label) == ("paint", 8)
