"""Review keys with nowhere to go keep the image on screen as it is (its undo, its label).

PageUp on the first image, PageDown on the last, Home on the first unreviewed image shown
and a click on the shown image's row reloaded it: napari's undo history was cleared (the
stroke just painted could no longer be undone) and the chosen label id reset.
"""

from __future__ import annotations

import pytest
from test_review_dock_hunt10 import _dock

pytest.importorskip("napari")


@pytest.mark.parametrize("move", ["previous_image", "first_unreviewed", "go_to", "last_next"])
def test_going_nowhere_keeps_undo_and_the_chosen_label(
    make_napari_viewer, qtbot, tmp_path, move
):
    viewer, widget = _dock(make_napari_viewer, qtbot, tmp_path, names=("a", "b"))
    if move == "last_next":
        widget.next_image()
        qtbot.waitUntil(lambda: bool(widget._shown == "b.tif"), timeout=60_000)
    shown = widget._shown
    layer = widget._labels_layer
    layer.selected_label = 2
    layer.paint((44, 44), 2, refresh=True)  # a slip: object 2 grows into the corner
    widget.autosave()  # the edit is saved as the timer would
    {"previous_image": widget.previous_image, "first_unreviewed": widget.first_unreviewed,
     "go_to": lambda: widget.go_to(shown), "last_next": widget.next_image}[move]()  # fmt: skip
    qtbot.wait(200)
    assert widget._shown == shown and widget._labels_layer is layer
    assert layer.selected_label == 2  # was reset to a new id
    layer.undo()
    assert layer.data[44, 44] == 0  # Ctrl+Z still takes the slip back
    widget.next_image() if move != "last_next" else widget.previous_image()
    qtbot.waitUntil(lambda: bool(widget._shown not in (None, shown)), timeout=60_000)
    widget.go_to(shown)
    qtbot.waitUntil(lambda: bool(widget._shown == shown), timeout=60_000)
    assert widget._labels_layer.data[44, 44] == 0  # the undone slip was saved undone
