"""Live dock: a layer made read-only (by another dock, or by hand) keeps its erased background.

napari puts new, empty undo and redo deques on a Labels layer made read-only; Evaluate and
the Annotate dock put the old items back when they let it go. The Live dock's once-a-second
check took every item gone with the old deques for an undo: every pixel erased (and sent
as background) was taken back, no longer annotated, and stayed so when the items came back.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_live_hunt_fixes2 import _applied, _discs, _dock, _started
from test_live_sends_hunt11 import _sent

pytest.importorskip("napari")


def _erased(make_napari_viewer, qtbot, model_file):
    """A started Live dock where cell 1 was painted, then erased (annotated background)."""
    img, truth = _discs()
    cell = truth == 1
    viewer = make_napari_viewer()
    image = viewer.add_image(img, name="cells")
    labels = viewer.add_labels(np.zeros(img.shape, np.int32), name="cells annotations")
    live = _dock(viewer, image, labels, model_file)
    _started(qtbot, live)
    labels.data_setitem(np.nonzero(cell), 1)  # paint a cell
    _sent(qtbot, live, labels)
    labels.data_setitem(np.nonzero(cell), 0)  # erase it: background
    _sent(qtbot, live, labels)
    live._send_diff()  # the once-a-second check: it has seen both history items
    _applied(qtbot, live.trainer)
    assert live.trainer.data.mask[cell].all()
    return viewer, live, labels, truth


def test_evaluate_while_live_trains_keeps_the_erased_background(
    make_napari_viewer, qtbot, model_file
):
    from napari_unet.widgets.evaluate import EvaluateWidget

    viewer, live, labels, truth = _erased(make_napari_viewer, qtbot, model_file)
    viewer.add_labels(truth.astype(np.int32), name="cells segmentation (x)")
    ev = EvaluateWidget(viewer)
    viewer.window.add_dock_widget(ev)
    ev._ground_truth.value = labels
    ev._prediction.value = viewer.layers["cells segmentation (x)"]
    ev._run.native.click()  # the annotations read-only while Evaluate copies them
    assert not labels.editable
    live._send_diff()  # the Live dock's 1 s check firing in that window
    _applied(qtbot, live.trainer)
    qtbot.waitUntil(lambda: bool(ev._run.text == "Evaluate"), timeout=20_000)
    live._send_diff()  # and after, the history given back
    _applied(qtbot, live.trainer)
    assert labels.editable
    assert live.trainer.data.mask[truth == 1].all()  # still annotated background
    live.stop()


def test_a_layer_made_read_only_by_hand_keeps_the_erased_background(
    make_napari_viewer, qtbot, model_file
):
    _viewer, live, labels, truth = _erased(make_napari_viewer, qtbot, model_file)
    labels.editable = False  # the layer's lock: napari drops its undo history
    live._send_diff()
    _applied(qtbot, live.trainer)
    labels.editable = True
    live._send_diff()
    _applied(qtbot, live.trainer)
    assert live.trainer.data.mask[truth == 1].all()
    live.stop()


def test_history_given_back_after_a_look_mid_hold_is_no_undo_and_undos_still_count(
    make_napari_viewer, qtbot, model_file
):
    from napari_unet.widgets._evaluate_work import restore_history
    from napari_unet.widgets._held_layers import hold, release

    _viewer, live, labels, truth = _erased(make_napari_viewer, qtbot, model_file)
    cell, token = truth == 1, object()
    before = hold(labels, token)  # as Evaluate or an Annotate accept does
    live._send_diff(full=True)  # Stop's look, inside the read-only window
    _applied(qtbot, live.trainer)
    release(labels, token)
    labels.editable = True
    restore_history(labels, *before.history)  # the items come back
    live._send_diff()
    _applied(qtbot, live.trainer)
    assert live.trainer.data.mask[cell].all()  # the erase is still background
    labels.undo()  # Ctrl+Z of the erase: the cell is back
    live._send_diff()
    _applied(qtbot, live.trainer)
    assert (live.trainer.data.labels[cell] == 1).all()
    labels.undo()  # Ctrl+Z of the paint: taken back, no longer annotated
    live._send_diff()
    _applied(qtbot, live.trainer)
    assert not labels.data.any()
    assert not live.trainer.data.mask[cell].any()
    live.stop()


def test_an_annotate_accept_while_live_trains_keeps_the_erased_background(
    make_napari_viewer, qtbot, tmp_path, model_file
):
    import tifffile

    from napari_unet.widgets.annotate import AnnotateWidget

    img, truth = _discs()
    cell, path = truth == 1, tmp_path / "cells.tif"
    tifffile.imwrite(path, img)
    viewer = make_napari_viewer()
    image = viewer.open(path)[0]
    ann = AnnotateWidget(viewer)
    viewer.window.add_dock_widget(ann)
    ann._image_combo.value, ann._axes.value = image, "auto"
    ann._start_btn.native.click()
    labels = viewer.layers["cells annotations"]
    live = _dock(viewer, image, labels, model_file)
    _started(qtbot, live)
    for value in (1, 0):  # paint a cell, then erase it: background
        labels.data_setitem(np.nonzero(cell), value)
        _sent(qtbot, live, labels)
    live._send_diff()  # the once-a-second check: it has seen both history items
    _applied(qtbot, live.trainer)
    assert live.trainer.data.mask[cell].all()
    others = np.where(cell, 0, truth).astype(np.int32)  # predicted: the other cells
    viewer.add_labels(others, name="cells segmentation (x)")
    ann._prediction_combo.reset_choices()
    ann._prediction_combo.value = viewer.layers["cells segmentation (x)"]
    ann._accept_btn.native.click()
    assert not labels.editable  # read-only while the accept runs
    live._send_diff()  # the Live dock's 1 s check firing in that window
    qtbot.waitUntil(lambda: bool(labels.editable and ann._accept_btn.enabled), timeout=30_000)
    assert labels.data[truth == 2].all()  # the accept wrote the other cells
    live._send_diff()
    _sent(qtbot, live, labels)
    assert live.trainer.data.mask[cell].all()  # still annotated background
    live.stop()
