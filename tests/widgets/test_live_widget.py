"""The Live dock in a real viewer: replayed strokes train the model while the GUI stays live."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_unet.core.images.io import read_image

pytest.importorskip("napari")

#: A histology test image of the shared DSB2018 set: the built-in (fluorescence) model
#: finds nothing there, so what it learns in the test is learnt live.
NAME = "032_0bf33d3db428"


@pytest.fixture
def histology(shared_data):
    src = shared_data / "dsb2018_full"
    image = np.asarray(read_image(src / "images" / f"{NAME}.png"))
    truth = np.asarray(read_image(src / "masks" / f"{NAME}.tif"))
    return image, truth


def _dock(make_napari_viewer, histology):
    """A viewer with the histology image, an empty annotations layer and the Live dock.

    The dock starts from the fluorescence model, chosen by name (auto, the default, would
    choose nuclei-brightfield, which finds these nuclei before any painting).
    """
    from napari_unet.widgets._predict_form import BUILTIN
    from napari_unet.widgets.live import LiveWidget

    image, truth = histology
    viewer = make_napari_viewer()
    image_layer = viewer.add_image(image, name="histology")
    labels = viewer.add_labels(np.zeros(truth.shape, np.int32), name="histology annotations")
    widget = LiveWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Live")
    widget._image_box.value, widget._labels_box.value = image_layer, labels
    widget._model.value = BUILTIN
    return viewer, widget, labels, truth


def _ap50_in(truth, predicted, region):
    from napari_unet.core.metrics import evaluate, restrict_to_region

    gt, pred = restrict_to_region(truth, predicted, region)
    return evaluate(gt, pred)["per_threshold"][0]["ap"]


def test_strokes_stream_in_and_the_prediction_improves(make_napari_viewer, qtbot, histology):
    from gui_meter import GapMeter

    viewer, widget, labels, truth = _dock(make_napari_viewer, histology)
    assert widget.start()
    trainer = widget.trainer
    qtbot.waitUntil(lambda: widget._views >= 1, timeout=60_000)
    first = widget._last_view
    meter = GapMeter()
    meter.start()
    sent: dict[int, float] = {}
    objects = [k + 1 for k, sl in enumerate(ndi.find_objects(truth)) if sl is not None]
    for n, obj in enumerate(objects[:10]):
        pixels = np.nonzero(truth == obj)
        half = len(pixels[0]) // 2  # two strokes per cell, as a brush would
        before = trainer.last_update
        for part in (slice(0, half), slice(half, None)):
            labels.data_setitem((pixels[0][part], pixels[1][part]), n + 1)
        qtbot.waitUntil(lambda b=before: trainer.last_update >= b + 2, timeout=5000)
        sent[trainer.last_update] = time.monotonic()  # the cell's last stroke
        qtbot.wait(1500)  # the annotator's pace
    qtbot.waitUntil(lambda: widget._last_view.step > first.step + 20, timeout=60_000)
    meter.stop()
    region = trainer.data.mask.copy()
    before = _ap50_in(truth, first.labels, region)
    after = _ap50_in(truth, widget._live.data, region)
    assert after > before + 0.3, (before, after)  # learnt live: the annotated cells found
    latencies = [trainer.applied_at[u] - t for u, t in sent.items() if u in trainer.applied_at]
    assert len(latencies) >= 10 and max(latencies) < 2.0  # in training within 2 s
    assert meter.percentiles()["max"] < 1000, meter.percentiles()  # no GUI gap over 1 s
    labels.undo()  # the last cell's two strokes; undo emits no paint event: found by the
    labels.undo()  # comparison with what was sent
    qtbot.waitUntil(lambda: trainer.data.labels.max() == len(objects[:10]) - 1, timeout=5000)
    widget.stop()
    assert not trainer.running and trainer.step > 0


def test_accepting_predicted_objects_and_saving(make_napari_viewer, qtbot, histology, tmp_path):
    from napari_unet.core.models.modelfile import load_model
    from napari_unet.widgets.live import LiveWidget

    viewer, widget, labels, truth = _dock(make_napari_viewer, histology)
    other = LiveWidget(viewer)
    other._labels_box.value = viewer.add_labels(np.zeros((2, 8, 8), np.int32), name="stack")
    assert not other.start() and other.trainer is None  # a message, no thread
    assert "2D image plane" in other._status.value
    assert widget.start()
    widget.trainer.pause()
    live = widget._live
    live.data[10:20, 10:20] = 7  # a predicted object
    live.data[30:40, 30:40] = 8
    labels.data[35:38, 35:38] = 1  # a painted cell touching the second
    assert widget.accept_at(15, 15)
    assert labels.data[15, 15] == 2 and (labels.data[10:20, 10:20] == 2).all()
    labels.undo()  # one undo step
    assert labels.data[15, 15] == 0
    assert not widget.accept_at(0, 0)  # background: nothing
    shapes = viewer.add_shapes([[[5, 5], [5, 25], [25, 25], [25, 5]]], name="region")
    widget._region_box.value = shapes  # a drawn region: only the first object is in it
    assert widget.accept_in_region() == 1
    assert labels.data[15, 15] > 0 and labels.data[31, 31] == 0
    widget._region_box.value = None  # the view: the second, except the painted cell's pixels
    assert widget.accept_in_region() == 1
    assert labels.data[31, 31] > 1 and labels.data[36, 36] == 1
    path = widget.trainer.save(tmp_path / "live.unet.safetensors")
    model, meta = load_model(path)
    assert meta["provenance"]["trained_by"] == "napari-unet live"
    trainer = widget.trainer
    widget._labels_box.value = viewer.layers["stack"]  # another layer: the session ends
    assert not trainer.running
    assert widget.start() is False  # (a stack) refused with a message
    widget._labels_box.value = labels
    assert widget.start()
    running = widget.trainer
    viewer.close()  # closing napari stops the thread
    assert not running.running


def test_a_drawn_region_and_other_annotated_images_train_too(make_napari_viewer, qtbot, histology):
    viewer, widget, labels, truth = _dock(make_napari_viewer, histology)
    image, _ = histology
    viewer.add_image(image[::-1].copy(), name="second")
    ann = viewer.add_labels(truth[::-1].copy(), name="second annotations")  # annotated
    viewer.add_image(image[:, ::-1].copy(), name="third")  # no annotations: left out
    shapes = viewer.add_shapes([[[0, 0], [0, 60], [60, 60], [60, 0]]], name="background")
    widget.reset_choices()
    widget._labels_box.value = labels
    widget._annotated_box.value = shapes
    widget._others.value = True
    assert widget.start()
    trainer = widget.trainer
    assert widget._other_names == ["second"]
    qtbot.waitUntil(lambda: trainer.data.region.any(), timeout=10_000)
    assert trainer.data.region[:60, :60].all() and not trainer.data.region[70:, 70:].any()
    qtbot.waitUntil(lambda: trainer.step > 0, timeout=60_000)  # the region alone is data
    (pair,) = trainer.other_pairs
    np.testing.assert_array_equal(pair.labels, ann.data)
    shapes.add([[[100, 100], [100, 150], [150, 150], [150, 100]]])  # another shape, sent
    qtbot.waitUntil(lambda: trainer.data.region[120, 120], timeout=10_000)
    widget._show_status()
    assert "+ 1 other images" in widget._status.value
    widget.stop()
    assert not trainer.running and trainer.error is None


def test_a_new_labels_layer_of_uint8_takes_hundreds_of_accepted_cells(
    make_napari_viewer, qtbot, histology
):
    # napari's New labels button makes uint8: accepting the 256th cell raised OverflowError.
    viewer, widget, labels, _ = _dock(make_napari_viewer, histology)
    labels.data = np.zeros(labels.data.shape, np.uint8)
    labels.data[2, 2] = 255
    assert widget.start()
    widget.trainer.pause()
    assert labels.data.dtype == np.int32 and labels.data[2, 2] == 255  # widened, kept
    assert widget.accept_at(*_object_at(widget, 20))
    assert labels.data.max() == 256
    for k in range(300):  # many small predicted objects, then all in the view at once
        y, x = divmod(k, 20)
        widget._live.data[40 + 7 * y : 46 + 7 * y, 40 + 7 * x : 46 + 7 * x] = 10 + k
    widget._region_box.value = None
    assert widget.accept_in_region() >= 290, widget._status.value
    widget.stop()


def _object_at(widget, y: int) -> tuple[int, int]:
    """Put one predicted object at row ``y`` of the live layer; a pixel of it."""
    widget._live.data[y : y + 4, 10:14] = 5
    return y + 1, 11


def test_after_an_error_in_the_thread_start_works_again(
    make_napari_viewer, qtbot, histology, monkeypatch
):
    from napari_unet.core.live import trainer as live_trainer

    def fail(self):
        raise RuntimeError("simulated failure in a training step")

    monkeypatch.setattr(live_trainer.LiveTrainer, "_train_step", fail)
    viewer, widget, labels, truth = _dock(make_napari_viewer, histology)
    labels.data = np.where(truth == truth.max(), truth, 0).astype(np.int32)  # one cell
    assert widget.start()
    trainer = widget.trainer
    qtbot.waitUntil(lambda: trainer.error is not None and not trainer.running, timeout=30_000)
    qtbot.waitUntil(lambda: "simulated failure" in widget._status.value, timeout=10_000)
    assert widget._start.enabled and not widget._stop.enabled  # before: stuck disabled
    monkeypatch.undo()
    assert widget.start() and widget.trainer is not trainer
    widget.stop()


def test_a_click_copies_only_the_object_clicked(make_napari_viewer, qtbot):
    """Each view numbers its objects from 1: a stale object of the same id elsewhere in
    the prediction layer was copied too (one annotation in two pieces)."""
    from scipy import ndimage

    from napari_unet.widgets._live_parts import object_at

    live = np.zeros((40, 40), np.int32)
    live[2:8, 2:8] = 1  # the object clicked
    live[30:36, 30:36] = 1  # a stale one of an earlier view
    mask = object_at(live, 4, 4)
    assert mask.sum() == 36 and ndimage.label(mask)[1] == 1


def test_saving_the_live_model_never_replaces_the_image_file(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    import tifffile
    from qtpy.QtWidgets import QFileDialog

    from napari_unet.widgets.live import LiveWidget

    image_file = tmp_path / "nuclei.tif"
    tifffile.imwrite(image_file, (np.random.default_rng(0).random((64, 64)) * 255).astype("u1"))
    viewer = make_napari_viewer()
    (image,) = viewer.open(str(image_file), plugin="napari")
    labels = viewer.add_labels(np.zeros((64, 64), np.int32), name="nuclei annotations")
    widget = LiveWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Live")
    widget._image_box.value, widget._labels_box.value = image, labels
    assert widget.start()
    widget.trainer.pause()
    before = image_file.read_bytes()
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(image_file), ""))
    assert widget._on_save() == tmp_path / "nuclei.tif.safetensors"  # beside, as a model file
    qtbot.waitUntil(lambda: widget._status.value.startswith("Saved the model"), timeout=30_000)
    gone = tmp_path / "gone" / "m.safetensors"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(gone), ""))
    assert widget._on_save() is None  # a message, not a traceback
    assert "could not save the model" in widget._status.value
    widget.stop()
    assert image_file.read_bytes() == before


def test_save_waits_for_the_step_in_a_worker_not_on_the_gui_thread(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    # the copy of the model waited for the step in progress on the GUI thread (4 s a step on
    # an 8192 x 8192 image, napari frozen meanwhile)
    import threading

    from qtpy.QtWidgets import QFileDialog

    _, widget, _ = _started_on_noise(make_napari_viewer)
    trainer, held, release = widget.trainer, threading.Event(), threading.Event()

    def a_long_step() -> None:
        with trainer._model_lock:  # as a step (or the view's prediction) holds it
            held.set()
            release.wait(10)

    threading.Thread(target=a_long_step, daemon=True).start()
    assert held.wait(10)
    saved = tmp_path / "live.unet.safetensors"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(saved), ""))
    assert widget._on_save() == saved
    assert widget._status.value.startswith("Saving the model")  # returned before the step ends
    release.set()
    qtbot.waitUntil(lambda: widget._status.value.startswith("Saved the model"), timeout=30_000)
    assert saved.exists()
    widget.stop()


def _started_on_noise(make_napari_viewer):
    """Live training started on a 64 x 64 noise image with empty annotations."""
    from napari_unet.widgets.live import LiveWidget

    viewer = make_napari_viewer()
    image = viewer.add_image(np.random.default_rng(0).random((64, 64)), name="cells")
    labels = viewer.add_labels(np.zeros((64, 64), np.int32), name="cells annotations")
    widget = LiveWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Live")
    widget._image_box.value, widget._labels_box.value = image, labels
    assert widget.start()
    return viewer, widget, labels


def test_undo_takes_a_cell_back_and_an_eraser_stroke_marks_background(
    make_napari_viewer, qtbot
):
    """Undo (no paint event, found by the comparison) left the undone cell annotated as
    background; an eraser stroke caught half-way by that comparison was taken as undo."""
    viewer, widget, labels = _started_on_noise(make_napari_viewer)
    data = widget.trainer.data
    widget.trainer.pause()
    labels.data_setitem(np.nonzero(np.pad(np.ones((8, 8)), ((10, 46), (10, 46)))), 1)
    labels.data_setitem(np.nonzero(np.pad(np.ones((8, 8)), ((40, 16), (40, 16)))), 2)
    qtbot.waitUntil(lambda: data.labels.max() == 2, timeout=10_000)
    labels.undo()  # cell 2 taken back: unknown again, not background (the trainer's thread
    # sets the labels, then the mask: both are waited for)
    qtbot.waitUntil(
        lambda: data.labels.max() == 1 and not data.mask[40:48, 40:48].any(), timeout=10_000
    )
    with labels.block_history():  # an eraser drag, as napari's brush groups it
        labels.data_setitem(np.nonzero(labels.data == 1), 0)
        widget._send_diff()  # the once-a-second comparison, mid-stroke
        assert (widget._mirror[10:18, 10:18] == 1).all()  # not sent half-way
    qtbot.waitUntil(lambda: data.labels.max() == 0, timeout=10_000)
    assert data.mask[10:18, 10:18].all()  # erased: annotated background
    labels.data_setitem(np.nonzero(np.pad(np.ones((8, 8)), ((40, 16), (10, 46)))), 3)
    qtbot.waitUntil(lambda: data.labels.max() == 3, timeout=10_000)
    labels.fill((44, 14), 0)  # the fill bucket's erase: napari emits its event before it
    qtbot.waitUntil(lambda: data.labels.max() == 0, timeout=10_000)  # writes the pixels
    assert data.mask[40:48, 10:18].all()  # erased: annotated background, not unknown
    widget.stop()


def test_a_deleted_prediction_layer_is_no_longer_written_and_the_status_says_so(
    make_napari_viewer, qtbot
):
    """The views went on into the deleted layer, out of sight, and a click accepted
    objects from it."""
    viewer, widget, labels = _started_on_noise(make_napari_viewer)
    gone = widget._live
    gone.data[20:30, 20:30] = 1  # an object of an earlier view
    viewer.layers.remove(gone)
    assert not widget.accept_at(25, 25) and labels.data.max() == 0
    qtbot.waitUntil(lambda: "prediction layer was deleted" in widget._status.value, timeout=5000)
    assert widget.trainer.running  # training goes on
    widget.stop()
    assert widget.start() and widget._live in viewer.layers  # Start shows it again
    widget.stop()


def test_the_stop_button_never_waits_for_a_long_step_on_the_gui_thread(
    make_napari_viewer, qtbot, monkeypatch
):
    """Stop joined the trainer's thread on the GUI thread: a step on a large image froze
    napari for 4 s. The button asks, says Stopping, and the dock stops when the step ends."""
    import threading

    from napari_unet.core.live import trainer as live_trainer

    in_step, release = threading.Event(), threading.Event()

    def long_step(self):
        in_step.set()
        release.wait(30)

    monkeypatch.setattr(live_trainer.LiveTrainer, "_train_step", long_step)
    viewer, widget, labels = _started_on_noise(make_napari_viewer)
    labels.data_setitem(np.nonzero(np.pad(np.ones((8, 8)), ((10, 46), (10, 46)))), 1)
    qtbot.waitUntil(in_step.is_set, timeout=10_000)
    trainer = widget.trainer
    widget._stop.native.click()
    assert trainer.running and widget._status.value.startswith("Stopping")  # not waited for
    assert not widget._stop.enabled and not widget._start.enabled
    release.set()
    qtbot.waitUntil(lambda: widget._start.enabled, timeout=10_000)
    assert not trainer.running and widget._status.value.startswith("Stopped after")
