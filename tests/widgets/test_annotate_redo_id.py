"""The Annotate dock: New cell's id stays a new cell's through Ctrl+Z and Ctrl+Shift+Z.

Before, n after an undo picked the undone cell's id (one above the largest id in use),
Ctrl+Shift+Z brought that cell back under the selected label, and the next cell painted
merged with it (one id, two blobs); the same after undo and redo of Accept prediction.
"""

from __future__ import annotations

import numpy as np
from napari.utils.key_bindings import coerce_keybinding
from scipy import ndimage as ndi
from test_annotate_hunt5 import WORKER_MS, _settle, _widget


def _stroke(labels, *points) -> None:
    """A brush stroke dragged through ``points`` (press, moves, release), as a user paints."""
    from napari.utils._test_utils import read_only_mouse_event as event
    from napari.utils.interactions import (
        mouse_move_callbacks,
        mouse_press_callbacks,
        mouse_release_callbacks,
    )

    pos = [tuple(map(float, p)) for p in points]
    mouse_press_callbacks(labels, event(type="mouse_press", position=pos[0]))
    for p in pos[1:]:
        mouse_move_callbacks(labels, event(type="mouse_move", is_dragging=True, position=p))
    mouse_release_callbacks(labels, event(type="mouse_release", position=pos[-1]))


def _n(labels) -> None:
    labels.keymap[coerce_keybinding("n")](labels)


def _blobs(labels, label: int) -> int:
    return ndi.label(np.asarray(labels.data) == label)[1]


def _session(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros((128, 128), np.float32), name="cells")
    widget = _widget(viewer, image, tmp_path / "proj")
    labels = widget._annotations
    labels.brush_size = 5
    return viewer, widget, labels


def test_a_redo_never_merges_the_next_cell_with_the_cell_it_brings_back(
    make_napari_viewer, qtbot, tmp_path, errors
):
    _, widget, labels = _session(make_napari_viewer, qtbot, tmp_path)
    _stroke(labels, (20, 20), (20, 30))  # cell 1
    _n(labels)
    _stroke(labels, (60, 60), (60, 70))  # cell 2
    labels.undo()
    _n(labels)
    assert labels.selected_label == 2  # one above the largest id in use
    labels.redo()  # cell 2 is back: 2 is no new cell's id now
    assert labels.selected_label == 3
    _stroke(labels, (100, 100), (100, 110))  # the user's next cell
    assert _blobs(labels, 2) == 1 and _blobs(labels, 3) == 1
    _settle(qtbot, widget)
    qtbot.waitUntil(lambda: widget._counts.value.startswith("3 cells"), timeout=WORKER_MS)
    # Moving on is for ids New cell handed out: the user's own cells are continued.
    labels.undo()
    labels.redo()
    assert labels.selected_label == 3  # continuing cell 3 after its stroke came back
    labels.selected_label = 1  # an existing cell chosen to extend it
    _stroke(labels, (20, 32), (20, 40))
    labels.undo()
    labels.redo()
    assert labels.selected_label == 1
    _stroke(labels, (24, 20), (24, 40))
    assert all(_blobs(labels, i) == 1 for i in (1, 2, 3))
    assert not errors


def test_an_undo_of_an_eraser_stroke_moves_the_new_cell_on(
    make_napari_viewer, qtbot, tmp_path, errors
):
    _, _, labels = _session(make_napari_viewer, qtbot, tmp_path)
    _stroke(labels, (20, 20), (20, 30))
    _n(labels)
    _stroke(labels, (60, 60), (60, 70))  # cell 2, then erased
    labels.mode = "erase"
    labels.brush_size = 15
    _stroke(labels, (60, 58), (60, 72))
    assert _blobs(labels, 2) == 0
    _n(labels)  # New cell also sets paint mode again
    assert labels.selected_label == 2
    labels.mode = "erase"
    labels.undo()  # the eraser stroke undone: cell 2 is back
    assert _blobs(labels, 2) == 1 and labels.selected_label == 3
    assert labels.mode == "erase"  # the user's tool is left as it was
    assert not errors


def test_a_live_accept_never_takes_the_new_cells_id(make_napari_viewer, qtbot, tmp_path, errors):
    """Another dock's write (the Live dock's accept) is no stroke of the user's either."""
    from napari_unet.widgets._live_accept import accept_in_box

    _, _, labels = _session(make_napari_viewer, qtbot, tmp_path)
    _stroke(labels, (20, 20), (20, 30))
    _n(labels)
    assert labels.selected_label == 2
    live = np.zeros((128, 128), np.int32)
    live[50:60, 50:60] = 7
    assert accept_in_box(labels, live, (0, 128, 0, 128)) == 1  # written as cell 2
    assert _blobs(labels, 2) == 1 and labels.selected_label == 3
    assert not errors


def test_a_redone_accept_never_takes_the_new_cells_id(make_napari_viewer, qtbot, tmp_path, errors):
    viewer, widget, labels = _session(make_napari_viewer, qtbot, tmp_path)
    _stroke(labels, (20, 20), (20, 30))  # cell 1
    predicted = np.zeros((128, 128), np.int32)
    predicted[50:60, 50:60], predicted[80:90, 80:90] = 1, 2
    widget._prediction_combo.value = viewer.add_labels(predicted, name="cells prediction")
    widget._accept_btn.native.click()
    qtbot.waitUntil(lambda: "Accepted 2" in widget._status.value, timeout=WORKER_MS)
    assert set(np.unique(labels.data)) == {0, 1, 2, 3}
    labels.undo()
    _n(labels)
    assert labels.selected_label == 2
    labels.redo()  # the accepted cells 2 and 3 are back
    assert labels.selected_label == 4
    _stroke(labels, (110, 110), (110, 120))
    assert all(_blobs(labels, i) == 1 for i in (1, 2, 3, 4))
    _settle(qtbot, widget)
    assert not errors
