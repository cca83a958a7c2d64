"""Live dock: what reaches the trainer of edits that come without a paint event.

- Annotations **replaced by a script** while training, or **written directly** then Stop:
  a cell erased there is annotated background, as an erase is (docs/live.md). It was sent
  as an undo: its pixels became "not annotated" (the same replace while stopped was right).
- **Two quick undos** after an erase (the cell back, then gone, before the once-a-second
  check), while training or while stopped: the cell's spot is no longer annotated. The data
  was then as last sent, nothing was sent, and the erase's background stayed trained on.
"""

from __future__ import annotations

import numpy as np
from test_live_hunt_fixes2 import _applied, _discs, _dock, _started


def _painted(make_napari_viewer, qtbot, model_file):
    """A started (paused) Live dock with cell 1 painted and sent; the dock, layer, cell."""
    img, truth = _discs()
    viewer = make_napari_viewer()
    image = viewer.add_image(img, name="cells")
    labels = viewer.add_labels(np.zeros(img.shape, np.int32), name="cells annotations")
    widget = _dock(viewer, image, labels, model_file)
    _started(qtbot, widget)
    labels.data_setitem(np.nonzero(truth == 1), 1)
    _sent(qtbot, widget, labels)
    assert widget.trainer.data.mask[truth == 1].all()
    return widget, labels, truth == 1


def _sent(qtbot, widget, labels) -> None:
    """Wait until the layer's data is sent (a stroke: on the next loop turn) and applied."""
    qtbot.waitUntil(lambda: np.array_equal(widget._mirror, labels.data), timeout=10_000)
    _applied(qtbot, widget.trainer)


def test_data_replaced_by_a_script_while_training_makes_the_erased_cell_background(
    make_napari_viewer, qtbot, model_file
):
    widget, labels, cell = _painted(make_napari_viewer, qtbot, model_file)
    labels.data = np.zeros_like(labels.data)  # a script: cell 1 gone
    widget._send_diff()  # the once-a-second check (or its timer, first)
    _sent(qtbot, widget, labels)
    data = widget.trainer.data
    assert data.labels.max() == 0
    assert data.mask[cell].all()  # annotated background ("not a cell here")
    widget.stop()


def test_a_direct_write_seen_at_stop_makes_the_erased_cell_background(
    make_napari_viewer, qtbot, model_file
):
    widget, labels, cell = _painted(make_napari_viewer, qtbot, model_file)
    labels.data[cell] = 0  # a script's write: no event, no history (seen at Stop)
    trainer = widget.trainer
    widget.stop()
    trainer._apply_updates()  # what Stop sent last, as the next Start takes it over
    assert trainer.data.labels.max() == 0
    assert trainer.data.mask[cell].all()


def _erased(qtbot, widget, labels, cell) -> None:
    labels.data_setitem(np.nonzero(cell), 0)  # an eraser stroke: background
    _sent(qtbot, widget, labels)
    assert widget.trainer.data.mask[cell].all()


def test_two_quick_undos_after_an_erase_take_the_cell_back(make_napari_viewer, qtbot, model_file):
    widget, labels, cell = _painted(make_napari_viewer, qtbot, model_file)
    _erased(qtbot, widget, labels, cell)
    labels.undo()  # Ctrl+Z: the cell is back
    labels.undo()  # Ctrl+Z: before it was painted (the data as last sent)
    widget._send_diff()  # the once-a-second check, after both
    _applied(qtbot, widget.trainer)
    assert not labels.data.any()
    assert not widget.trainer.data.mask[cell].any()  # no longer annotated
    widget.stop()


def test_two_undos_after_an_erase_while_stopped_take_the_cell_back(
    make_napari_viewer, qtbot, model_file
):
    widget, labels, cell = _painted(make_napari_viewer, qtbot, model_file)
    _erased(qtbot, widget, labels, cell)
    widget.stop()
    labels.undo()
    labels.undo()
    assert widget.start(), widget._status.value  # continues the run, its annotations too
    widget.trainer.pause()
    _applied(qtbot, widget.trainer)
    assert not widget.trainer.data.mask[cell].any()
    widget.stop()
