"""Ctrl+Z never pastes pixels of replaced data, and read-only locks nest.

Review's next image while Evaluate copies the layers, Annotate's Start loading a saved
project into an empty layer, Predict writing again into its own result layer; Evaluate's
end of copy while the Annotate dock left the layer read-only or accepts into it.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import tifffile
from test_annotate_hunt5 import WORKER_MS, _settle, _widget

pytest.importorskip("napari")


def _slow_copy(monkeypatch) -> threading.Event:
    """Evaluate's copy of the layers waits until the event is set (a large image's copy)."""
    from napari_unet.widgets import _evaluate_work

    gate, real = threading.Event(), _evaluate_work.copy_layers
    monkeypatch.setattr(_evaluate_work, "copy_layers", lambda plan: (gate.wait(20), real(plan))[1])
    return gate


def _evaluate(viewer, prediction, truth):
    """An Evaluate dock scoring ``prediction`` against ``truth``, Evaluate pressed."""
    from napari_unet.widgets.evaluate import EvaluateWidget

    dock = EvaluateWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Evaluate")
    dock._prediction.reset_choices()
    dock._ground_truth.reset_choices()
    dock._prediction.value = prediction
    dock._ground_truth.value = truth
    dock._run.native.click()
    assert not truth.editable  # read-only while it copies
    return dock


def _evaluated(qtbot, dock, gate) -> None:
    gate.set()
    qtbot.waitUntil(lambda: dock._run.text == "Evaluate", timeout=20_000)


def _images(viewer, names=("a", "b")):
    rng = np.random.default_rng(0)
    return [viewer.add_image((rng.random((48, 64)) * 200).astype(np.uint8), name=n) for n in names]


def test_review_next_image_while_evaluate_copies_leaves_no_undo_of_the_last(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    pytest.importorskip("torch")
    from test_live_review_steps13 import _folder, _review

    gate = _slow_copy(monkeypatch)
    images, labs, la, lb = _folder(tmp_path, colour_b=False)
    viewer = make_napari_viewer()
    review = _review(viewer, qtbot, images, labs)
    layer = review._labels_layer
    prediction = viewer.add_labels(la.copy(), name="a segmentation")
    layer.data_setitem(tuple(np.mgrid[42:54, 42:54].reshape(2, -1)), 9)  # a correction on a
    evaluate = _evaluate(viewer, prediction, layer)
    review.next_image()  # PageDown while Evaluate copies
    qtbot.waitUntil(lambda: review._shown == "b.png", timeout=60_000)
    _evaluated(qtbot, evaluate, gate)
    assert layer.editable
    layer.undo()  # Ctrl+Z on image b: nothing of a's comes back
    np.testing.assert_array_equal(layer.data, lb)
    review.autosave()
    review.writer.flush()
    saved = review._form.output.value / "labels" / "b_labels.tif"
    assert not saved.exists(), "b was not edited: nothing written for it (before, a's pixels)"


def test_start_on_a_saved_project_starts_a_fresh_undo_history(
    make_napari_viewer, qtbot, tmp_path, errors
):
    viewer = make_napari_viewer()
    (image,) = _images(viewer, ("a",))
    dock = _widget(viewer, image, tmp_path / "saved")
    cell = np.zeros((48, 64), bool)
    cell[10:30, 10:30] = True
    dock._annotations.data_setitem(np.nonzero(cell), 3)  # saved work: one cell
    _settle(qtbot, dock, 300)
    viewer.layers.remove(dock._annotations)
    dock._folder.value = tmp_path / "scratch"  # a try on the same image...
    dock._start_btn.native.click()
    _settle(qtbot, dock)
    layer = dock._annotations
    stroke = tuple(np.mgrid[15:25, 5:40].reshape(2, -1))
    layer.data_setitem(stroke, 1)
    layer.data_setitem(stroke, 0)  # ...erased again: the layer is empty
    _settle(qtbot, dock)
    dock._folder.value = tmp_path / "saved"  # back to the saved project
    dock._start_btn.native.click()
    _settle(qtbot, dock)
    assert dock._annotations is layer and np.count_nonzero(layer.data == 3) == cell.sum()
    layer.undo()
    layer.undo()  # Ctrl+Z twice: the scratch strokes are not undone over the saved cell
    assert np.count_nonzero(layer.data == 3) == cell.sum()
    _settle(qtbot, dock, 300)
    saved = tifffile.imread(tmp_path / "saved" / "annotations.tif")
    assert np.count_nonzero(saved == 3) == cell.sum()
    assert not errors


def _predict_dock(make_napari_viewer, tiny):
    from napari_unet.sample_data import touching_cells_data
    from napari_unet.widgets.predict import PredictWidget

    viewer = make_napari_viewer()
    image = viewer.add_image(touching_cells_data()[0][:96, :96], name="cells")
    dock = PredictWidget(viewer)
    viewer.window.add_dock_widget(dock)
    dock.set_model(*tiny, name="A")
    dock._image.value = image
    return viewer, dock


def _look_and_back(layer, y: int, x: int) -> None:
    """Fill a cell with another id to look at it, then fill it back: no edit in the end."""
    cell = int(layer.data[y, x])
    layer.fill((y, x), int(np.max(layer.data)) + 5)
    layer.fill((y, x), cell)


def test_predict_again_into_its_layer_leaves_no_older_undo(
    run_predict, make_napari_viewer, qtbot, tiny
):
    from napari_unet.widgets.predict import result_name

    viewer, dock = _predict_dock(make_napari_viewer, tiny)
    run_predict(dock)
    layer = viewer.layers[result_name("cells", "A")]
    ys, xs = np.nonzero(layer.data)
    _look_and_back(layer, ys[0], xs[0])
    dock._threshold.value = 0.8
    run_predict(dock)  # the whole image again, into the same layer
    assert viewer.layers[result_name("cells", "A")] is layer
    written = np.array(layer.data)
    layer.undo()  # Ctrl+Z: no older pixels pasted over the new result
    np.testing.assert_array_equal(layer.data, written)


def test_predict_view_again_is_one_undo_step(run_predict, make_napari_viewer, qtbot, tiny):
    from napari_unet.widgets._layers import camera
    from napari_unet.widgets.predict import VIEW, result_name

    viewer, dock = _predict_dock(make_napari_viewer, tiny)
    run_predict(dock)
    layer = viewer.layers[result_name("cells", "A")]
    dock._scope.value = VIEW
    camera(viewer).center = (48, 48)
    camera(viewer).zoom = 3 * camera(viewer).zoom
    (y0, y1), (x0, x1) = dock._form.request()["region"]
    ys, xs = np.nonzero(layer.data[y0:y1, x0:x1])
    _look_and_back(layer, ys[len(ys) // 2] + y0, xs[len(xs) // 2] + x0)
    before = np.array(layer.data)
    dock._threshold.value = 0.7
    run_predict(dock)  # the view again, in place
    assert viewer.layers[result_name("cells", "A")] is layer
    written = np.array(layer.data)
    assert not np.array_equal(written, before)
    layer.undo()  # Ctrl+Z takes the new result back, whole
    np.testing.assert_array_equal(layer.data, before)
    layer.redo()
    np.testing.assert_array_equal(layer.data, written)


def test_evaluate_end_keeps_a_layer_annotate_left_read_only(
    make_napari_viewer, qtbot, tmp_path, monkeypatch, errors
):
    gate = _slow_copy(monkeypatch)
    viewer = make_napari_viewer()
    a, b = _images(viewer)
    dock = _widget(viewer, a, tmp_path / "pa")
    layer = dock._annotations
    layer.data_setitem(tuple(np.mgrid[5:10, 5:10].reshape(2, -1)), 1)
    _settle(qtbot, dock)
    prediction = viewer.add_labels(np.array(layer.data), name="a segmentation")
    evaluate = _evaluate(viewer, prediction, layer)
    dock._image_combo.value = b
    dock._folder.value = tmp_path / "pb"
    dock._start_btn.native.click()  # Start on b while Evaluate copies a's annotations
    _evaluated(qtbot, evaluate, gate)
    assert not layer.editable  # no session saves it: it stays read-only
    dock._image_combo.value = a
    dock._folder.value = tmp_path / "pa"
    dock._start_btn.native.click()  # a again: editable, its stroke undoable, autosave on
    _settle(qtbot, dock)
    assert dock._annotations is layer and layer.editable
    layer.undo()
    assert not np.any(layer.data)
    _settle(qtbot, dock, 300)
    assert not np.any(tifffile.imread(tmp_path / "pa" / "annotations.tif"))
    assert not errors


def test_evaluate_end_keeps_a_layer_read_only_until_its_accept_ends(
    make_napari_viewer, qtbot, tmp_path, monkeypatch, errors
):
    from test_live_accept_hunt10 import _held_accepts

    accept_gate, read = _held_accepts(monkeypatch)
    gate = _slow_copy(monkeypatch)
    viewer = make_napari_viewer()
    (a,) = _images(viewer, ("a",))
    dock = _widget(viewer, a, tmp_path / "pa")
    layer = dock._annotations
    layer.data_setitem(tuple(np.mgrid[30:34, 30:34].reshape(2, -1)), 4)  # a stroke before
    prediction = np.zeros((48, 64), np.uint16)
    prediction[5:20, 5:20] = 1
    prediction = viewer.add_labels(prediction, name="a segmentation")
    dock._prediction_combo.reset_choices()
    dock._prediction_combo.value = prediction
    evaluate = _evaluate(viewer, prediction, layer)
    dock._accept_btn.native.click()  # Accept prediction while Evaluate copies
    qtbot.waitUntil(read.is_set, timeout=WORKER_MS)
    _evaluated(qtbot, evaluate, gate)
    assert dock._accepting is layer and not layer.editable  # the accept still holds it
    accept_gate.set()
    qtbot.waitUntil(lambda: dock._accepting is None, timeout=WORKER_MS)
    assert layer.editable and layer.mode == "paint"
    assert np.count_nonzero(layer.data == 4) == 16 and np.any(layer.data[5:20, 5:20])
    layer.undo()  # the accept, then the stroke from before: both undoable
    assert not np.any(layer.data[5:20, 5:20]) and np.count_nonzero(layer.data == 4) == 16
    layer.undo()
    assert not np.any(layer.data)
    assert not errors


def test_a_large_predict_write_while_evaluate_copies_gives_no_old_history_back(monkeypatch):
    """A part written in place over UNDO_PIXELS clears the history; Evaluate's release gave
    the history from before it back (same array), and Ctrl+Z pasted the old result."""
    from napari.layers import Labels

    from napari_unet.widgets import _predict_place
    from napari_unet.widgets._evaluate_work import ReadOnly

    layer = Labels(np.zeros((32, 32), np.int32))
    layer.data_setitem((np.array([3]), np.array([3])), 7)  # an undo step before
    assert layer._undo_history
    lock = ReadOnly([layer])
    monkeypatch.setattr(_predict_place, "UNDO_PIXELS", 0)  # any part: written, history cleared
    new = np.ones((8, 8), np.int32) * 5
    _predict_place.write_part(layer, (slice(0, 8), slice(0, 8)), new)
    lock.release()
    assert layer.editable and not layer._undo_history
    layer.undo()  # nothing to undo: the new result stays
    np.testing.assert_array_equal(layer.data[:8, :8], new)


def test_an_accept_ends_editable_on_a_layer_another_dock_still_saves(
    make_napari_viewer, qtbot, tmp_path, monkeypatch, errors
):
    """Two Annotate docks on image a; the first starts on b while its accept runs: the
    layer, still saved by the second dock, stayed read-only for good."""
    from test_live_accept_hunt10 import _held_accepts

    accept_gate, read = _held_accepts(monkeypatch)
    viewer = make_napari_viewer()
    a, b = _images(viewer, ("a", "b"))
    first = _widget(viewer, a, tmp_path / "pa")
    second = _widget(viewer, a, tmp_path / "pa")  # the same image, the same project
    layer = first._annotations
    assert second._annotations is layer
    prediction = np.zeros((48, 64), np.uint16)
    prediction[5:20, 5:20] = 1
    prediction = viewer.add_labels(prediction, name="a segmentation")
    first._prediction_combo.reset_choices()
    first._prediction_combo.value = prediction
    first._accept_btn.native.click()
    qtbot.waitUntil(read.is_set, timeout=WORKER_MS)
    first._image_combo.value = b
    first._start_btn.native.click()  # the first dock leaves a; the second still saves it
    accept_gate.set()
    qtbot.waitUntil(lambda: first._accepting is None, timeout=WORKER_MS)
    assert layer.editable, "the second dock's session saves it: editable"
    assert not errors
