"""The Review dock's fixes: closing, reopening, model switches, odd labels, tables, undo."""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import Qt
from review_data import REVIEW_NAMES, send_corrected

from napari_unet.core.images.io import read_image

pytest.importorskip("napari")


def _crop(source, folder):
    """The review images, cropped to 128 x 128 (fast to predict), as PNG files in ``folder``."""
    from PIL import Image

    folder.mkdir()
    for name in REVIEW_NAMES:
        pixels = np.asarray(Image.open(source / f"{name}.png"))
        Image.fromarray(pixels[:128, :128]).save(folder / f"{name}.png")
    return folder


@pytest.fixture
def small(shared_data, tmp_path):
    return _crop(shared_data / "dsb2018_full" / "images", tmp_path / "images")


def _dock(make_napari_viewer, qtbot, images, show=False, **form):
    from napari_unet.widgets.review import ReviewWidget

    viewer = make_napari_viewer(show=show)
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Review")
    widget._form.images.value = images
    for key, value in form.items():
        getattr(widget._form, key).value = value
    assert widget.open()
    qtbot.waitUntil(lambda: widget._shown == widget.current_name, timeout=60_000)
    return viewer, widget


def _shown(widget, qtbot, index):
    qtbot.waitUntil(
        lambda: widget._index == index and widget._shown == widget.review.names[index],
        timeout=60_000,
    )


def _click_row(qtbot, table, row):
    rect = table.visualRect(table.model_.index(row, 0))
    qtbot.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def _full_disk(name, data):
    raise OSError("No space left on device")


def test_cancelling_napari_close_keeps_the_review_open(
    make_napari_viewer, qtbot, small, monkeypatch
):
    # Cancel to napari's "close window?" question shut the review down: edits never saved
    from napari._qt.qt_main_window import _QtMainWindow
    from qtpy.QtGui import QCloseEvent
    from qtpy.QtWidgets import QApplication

    viewer, widget = _dock(make_napari_viewer, qtbot, small, show=True)
    window = viewer.window._qt_window
    with monkeypatch.context() as m:  # napari's closeEvent when the user answers Cancel
        m.setattr(_QtMainWindow, "closeEvent", lambda _self, event: event.ignore())
        QApplication.sendEvent(window, QCloseEvent())
    assert widget.review is not None and widget._next.enabled
    widget._labels_layer.paint((20, 20), 4321)
    widget.next_image()
    assert widget.writer.flush()
    saved = read_image(widget.review.labels_path(widget.review.names[0]), labels=True)
    assert saved[20, 20] == 4321
    viewer.close()  # a close napari carries out still saves and stops the review
    assert widget.review is None


def test_a_model_switch_keeps_edits_whose_write_failed(
    make_napari_viewer, qtbot, small, monkeypatch
):
    # the new model's predictions were shown instead, and Accept wrote them over the edits
    from napari_unet.core.models.pretrained import resolve_model
    from napari_unet.widgets._exporting import load_model_file
    from napari_unet.widgets._review_actions import switch_model

    viewer, widget = _dock(make_napari_viewer, qtbot, small)
    review, names = widget.review, widget.review.names
    monkeypatch.setattr(review, "save_labels", _full_disk)
    widget._labels_layer.paint((20, 20), 4321)
    widget.next_image()  # leaving the image: its write fails, the labels are kept
    assert widget.writer.flush() and widget.writer.failed == [names[0]]
    _shown(widget, qtbot, 1)
    model, metadata = load_model_file(resolve_model("nuclei"))
    switch_model(widget, model, metadata, "nuclei-reviewed")  # what Train on corrected does
    assert names[0] not in widget._report.value
    widget.go(0)
    _shown(widget, qtbot, 0)
    assert widget._labels_layer.data[20, 20] == 4321
    monkeypatch.undo()  # the disk is back
    widget.accept()
    assert widget.writer.flush()
    assert read_image(review.labels_path(names[0]), labels=True)[20, 20] == 4321
    widget.shutdown()


def test_a_refused_open_leaves_the_open_review_running(make_napari_viewer, qtbot, small, tmp_path):
    # the buttons went off while the review ran on; or it closed and its edits went nowhere
    from napari_unet.widgets._predict_form import BUILTIN

    viewer, widget = _dock(make_napari_viewer, qtbot, small)
    review = widget.review
    widget._form.model.value = "model file"  # chosen, but no file picked
    assert not widget.open()
    assert "choose a model file" in widget._status.value
    assert widget.review is review and widget._next.enabled and widget._accept_btn.enabled
    widget._form.model.value = BUILTIN
    (tmp_path / "empty").mkdir()
    widget._form.images.value = tmp_path / "empty"
    assert not widget.open()
    assert widget.review is review and widget._next.enabled
    assert widget._labels_layer.editable
    widget._labels_layer.paint((20, 20), 4321)  # the reviewer goes on correcting
    widget.shutdown()
    assert read_image(review.labels_path(review.names[0]), labels=True)[20, 20] == 4321


def test_a_one_byte_mask_with_id_255_is_shown(make_napari_viewer, qtbot, small, tmp_path):
    # napari refused selected_label 256 for uint8 labels: the image was never shown
    from napari_unet.core.images.io import write_image

    masks = tmp_path / "masks"
    masks.mkdir()
    mask = np.zeros((128, 128), np.uint8)
    mask[10:40, 10:40] = 255
    write_image(masks / f"{REVIEW_NAMES[0]}_mask.tif", mask)
    viewer, widget = _dock(make_napari_viewer, qtbot, small, labels_folder=masks)
    labels = widget._labels_layer
    assert labels.data[20, 20] == 255 and labels.selected_label == 256
    labels.paint((100, 100), labels.selected_label)  # a new object beside the mask's
    widget.accept()
    assert widget.writer.flush()
    saved = read_image(widget.review.labels_path(widget.review.names[0]), labels=True)
    assert saved[20, 20] == 255 and saved[100, 100] == 256
    widget.shutdown()


def _corrected(widget, qtbot, index):
    widget._labels_layer.paint((20, 20), 4321)
    widget.accept()
    _shown(widget, qtbot, index + 1)


def test_train_on_corrected_fine_tunes_the_reviews_model(make_napari_viewer, qtbot, small):
    # the form's model now (touched after opening) was fine-tuned, not the one predicting
    from napari_unet.widgets.train import BUILTIN, TrainWidget

    viewer, widget = _dock(make_napari_viewer, qtbot, small)
    train = TrainWidget(viewer)
    viewer.window.add_dock_widget(train, name="Train")
    _corrected(widget, qtbot, 0)
    widget._form.model.value = "nuclei-brightfield (built-in)"  # not opened with it
    send_corrected(widget, qtbot)
    assert "fine-tuning nuclei" in widget._report.value
    assert "brightfield" not in widget._report.value
    assert train._start_from.value == BUILTIN
    assert train._save_path.value.name == "nuclei-reviewed.unet.safetensors"
    widget.shutdown()
    train.shutdown()


def test_train_on_corrected_leaves_out_an_image_whose_file_is_gone(
    make_napari_viewer, qtbot, small
):
    # a traceback, and nothing sent, when a corrected image's file was moved away
    from napari_unet.widgets.train import TrainWidget

    viewer, widget = _dock(make_napari_viewer, qtbot, small)
    train = TrainWidget(viewer)
    viewer.window.add_dock_widget(train, name="Train")
    _corrected(widget, qtbot, 0)
    _corrected(widget, qtbot, 1)
    gone = widget.review.path(widget.review.names[0])
    gone.unlink()  # moved away by a colleague
    send_corrected(widget, qtbot)
    assert "Sent 1 corrected images" in widget._report.value
    assert str(gone) in widget._report.value
    assert [p[0].name for p in train._form.pairs()] == [f"{REVIEW_NAMES[1]} (reviewed)"]
    widget.shutdown()
    train.shutdown()


def test_train_on_corrected_reads_the_files_off_the_gui_thread(
    make_napari_viewer, qtbot, small, monkeypatch
):
    # the corrected images were read (and their kinds chosen) on the GUI thread
    import threading

    from napari_unet.core.images import io
    from napari_unet.widgets.train import TrainWidget

    viewer, widget = _dock(make_napari_viewer, qtbot, small)
    train = TrainWidget(viewer)
    viewer.window.add_dock_widget(train, name="Train")
    _corrected(widget, qtbot, 0)
    release, threads, read = threading.Event(), [], io.read_image

    def slow_read(*args, **kwargs):
        threads.append(threading.current_thread() is threading.main_thread())
        release.wait(10)  # a slow disk
        return read(*args, **kwargs)

    monkeypatch.setattr(io, "read_image", slow_read)
    worker = widget.train_on_corrected()
    assert worker is not None and not widget._train.enabled
    assert widget._report.value == "Reading 1 corrected image..."
    release.set()
    qtbot.waitUntil(lambda: widget._train.enabled, timeout=30_000)
    assert threads and not any(threads)
    assert "Sent 1 corrected images" in widget._report.value and len(train._form.pairs()) == 1
    widget.shutdown()
    train.shutdown()


def test_clicking_the_selected_row_again_acts_again(make_napari_viewer, qtbot, small):
    # only a change of selection counted: the row already selected did nothing
    viewer, widget = _dock(make_napari_viewer, qtbot, small, show=True)
    table = widget._table
    qtbot.waitUntil(lambda: table.rowCount() > 2, timeout=60_000)
    _click_row(qtbot, table, 1)
    camera = viewer.scene.camera
    first = tuple(camera.center[-2:])
    camera.center = (0.0, 0.0)  # the reviewer pans away
    _click_row(qtbot, table, 1)
    np.testing.assert_allclose(camera.center[-2:], first)
    widget.accept()
    _shown(widget, qtbot, 1)
    widget.export()
    qtbot.waitUntil(lambda: widget._summary.isVisible(), timeout=60_000)
    _click_row(qtbot, widget._summary, 0)
    _shown(widget, qtbot, 0)
    widget.next_image()
    _shown(widget, qtbot, 1)
    _click_row(qtbot, widget._summary, 0)  # the same summary row: its image again
    _shown(widget, qtbot, 0)
    widget.shutdown()


def test_opening_another_folder_clears_the_export_summary(
    make_napari_viewer, qtbot, small, tmp_path
):
    # the last folder's summary stayed: clicking its rows opened the new folder's images
    import shutil

    viewer, widget = _dock(make_napari_viewer, qtbot, small)
    widget.accept()
    _shown(widget, qtbot, 1)
    widget.export()
    qtbot.waitUntil(lambda: widget._summary.rowCount() == 1, timeout=60_000)
    shutil.copytree(small, tmp_path / "plate2")
    widget._form.images.value = tmp_path / "plate2"
    assert widget.open()
    assert widget._summary.rowCount() == 0 and widget._summary.isHidden()
    widget.shutdown()


def test_a_stroke_undone_before_accept_is_no_correction(make_napari_viewer, qtbot, small):
    viewer, widget = _dock(make_napari_viewer, qtbot, small)
    name, layer = widget.current_name, widget._labels_layer
    layer.paint((20, 20), 4321)
    layer.undo()
    widget.accept()
    _shown(widget, qtbot, 1)
    assert widget.review.entries[name].status == "accepted"
    assert not widget.review.labels_path(name).exists() or (
        read_image(widget.review.labels_path(name), labels=True)[20, 20] != 4321
    )
    widget.shutdown()


def test_closing_napari_on_a_failing_disk_rescues_without_a_traceback(
    make_napari_viewer, qtbot, small, monkeypatch, errors, tmp_path
):
    # the queued "save failed" message reached the dock's deleted status label
    import tempfile

    viewer, widget = _dock(make_napari_viewer, qtbot, small)
    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path))  # where rescues go
    monkeypatch.setattr(widget.review, "save_labels", _full_disk)
    widget._labels_layer.paint((20, 20), 4321)
    with qtbot.capture_exceptions() as raised:
        viewer.close()
        qtbot.wait(300)  # the event loop goes on (a notebook, another window)
    assert not raised, raised
    assert any("napari-unet-unsaved" in e for e in errors)
    assert (tmp_path / "napari-unet-unsaved" / "images-review").is_dir()
