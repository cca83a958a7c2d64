"""The Review dock in a real viewer: keys, verdicts, corrections saved, resume, table, export."""

from __future__ import annotations

import json

import numpy as np
import pytest
from qtpy.QtCore import Qt
from review_data import REVIEW_NAMES, send_corrected

from napari_unet.core.images.io import read_image

pytest.importorskip("napari")

NAMES = REVIEW_NAMES


@pytest.fixture
def folder(review_folder):
    return review_folder


def _dock(make_napari_viewer, qtbot, images):
    from napari_unet.widgets.review import ReviewWidget

    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Review")
    widget._form.images.value = images
    assert widget.open()
    qtbot.waitUntil(lambda: widget._shown == widget.current_name, timeout=120_000)
    return viewer, widget


def _key(viewer, qtbot, key, modifier=Qt.KeyboardModifier.NoModifier):
    canvas = viewer.window._qt_viewer.canvas.native  # where napari's key bindings listen
    canvas.setFocus()
    qtbot.keyClick(canvas, key, modifier)


def _shown(widget, qtbot, index):
    qtbot.waitUntil(
        lambda: widget._index == index and widget._shown == widget.review.names[index],
        timeout=120_000,
    )


def test_step_by_keys_accept_correct_close_and_resume(make_napari_viewer, qtbot, folder):
    viewer, widget = _dock(make_napari_viewer, qtbot, folder)
    names = widget.review.names
    assert widget._form.output.value.name == "images-review"  # beside, not inside
    assert widget._status.value.startswith(f"1/5 {names[0]}: unreviewed;")
    alt = Qt.KeyboardModifier.AltModifier
    _key(viewer, qtbot, Qt.Key.Key_A, alt)  # accept 1
    _shown(widget, qtbot, 1)
    _key(viewer, qtbot, Qt.Key.Key_A, alt)  # accept 2
    _shown(widget, qtbot, 2)
    labels = widget._labels_layer
    assert labels.name == f"{NAMES[2]} labels"
    new_id = int(labels.data.max()) + 1
    labels.paint((20, 30), new_id)  # a correction with the brush
    assert widget._dirty
    _key(viewer, qtbot, Qt.Key.Key_A, alt)  # accept 3: corrected
    _shown(widget, qtbot, 3)
    _key(viewer, qtbot, Qt.Key.Key_PageDown)
    _shown(widget, qtbot, 4)
    _key(viewer, qtbot, Qt.Key.Key_PageUp)
    _shown(widget, qtbot, 3)
    out = widget.review.output
    viewer.close()  # closing napari saves the edits and the review file, and stops threads
    assert widget.review is None
    saved = np.asarray(read_image(out / "labels" / f"{NAMES[2]}_labels.tif"))
    assert saved[20, 30] == new_id  # the correction is in the saved file
    state = json.loads((out / "review.json").read_text())
    statuses = [state["images"][n]["status"] for n in names]
    assert statuses == ["accepted", "accepted", "corrected", "unreviewed", "unreviewed"]
    assert state["current"] == names[3]
    assert all(state["images"][n]["hash"] for n in names[:4])
    # Reopened in a new viewer: resumes at the fourth image, with the verdicts.
    viewer2, again = _dock(make_napari_viewer, qtbot, folder)
    assert again.current_name == names[3]
    assert again._status.value.startswith(f"4/5 {names[3]}:")
    assert again._report.value.startswith("Resumed: 5 images: 2 unreviewed, 2 accepted")
    again.go(0)
    _shown(again, qtbot, 0)
    _key(viewer2, qtbot, Qt.Key.Key_Home)  # the first image neither accepted nor rejected
    _shown(again, qtbot, 3)
    again.go(2)
    _shown(again, qtbot, 2)
    assert again._labels_layer.data[20, 30] == new_id  # the reviewed labels come back
    assert "reviewed" in again._status.value
    again.shutdown()


def test_table_follows_the_selection_both_ways(make_napari_viewer, qtbot, folder):
    viewer, widget = _dock(make_napari_viewer, qtbot, folder)
    table, labels = widget._table, widget._labels_layer
    qtbot.waitUntil(lambda: table.rowCount() > 0, timeout=60_000)
    n = len(np.unique(labels.data)) - 1
    assert table.rowCount() == n
    target = 5
    table.selectRow(table.row_of(target))
    assert labels.selected_label == target
    ys, xs = np.nonzero(labels.data == target)
    center = viewer.scene.camera.center[-2:]
    assert abs(center[0] - ys.mean()) < 1 and abs(center[1] - xs.mean()) < 1
    labels.selected_label = 3
    assert table.selected_row() == table.row_of(3)
    widget.shutdown()


def test_reject_export_and_edits_saved_by_autosave(make_napari_viewer, qtbot, folder):
    viewer, widget = _dock(make_napari_viewer, qtbot, folder)
    names = widget.review.names
    widget.accept()
    _shown(widget, qtbot, 1)
    widget.reject()
    _shown(widget, qtbot, 2)
    widget._labels_layer.paint((40, 40), 999)
    widget.autosave()  # the timer's tick: the edit is written without leaving the image
    assert widget.writer.flush()
    saved = np.asarray(read_image(widget.review.labels_path(names[2])))
    assert saved[40, 40] == 999
    assert widget.review.entries[names[2]].status == "unreviewed"  # saved, not judged
    widget.export()
    qtbot.waitUntil(lambda: widget._report.value.startswith("Exported"), timeout=60_000)
    assert "Exported 1 images" in widget._report.value
    export = widget.review.output / "export"
    assert (export / "measurements" / f"{NAMES[0]}.csv").exists()
    assert not (export / "measurements" / f"{NAMES[1]}.csv").exists()  # rejected
    summary = widget._summary
    assert summary.rowCount() == 1 and summary.text(0, 0) == names[0]
    summary.selectRow(0)  # a summary row opens its image
    _shown(widget, qtbot, 0)
    widget.shutdown()


def test_stacks_and_multichannel_images(make_napari_viewer, qtbot, shared_data, tmp_path):
    from napari_unet.core.images.io import write_image

    src = np.asarray(read_image(shared_data / "dsb2018_full" / "images" / f"{NAMES[0]}.png"))
    images = tmp_path / "mixed"
    images.mkdir()
    write_image(images / "a_stack.tif", np.stack([src, src[::-1], src[:, ::-1]]))
    # Two channels last: a grey model reads their mean; the table measures each.
    write_image(images / "b_channels.tif", np.stack([src, src // 2], axis=-1).astype(np.uint16))
    zcyx = np.stack([np.stack([src, src // 2])] * 3)  # (Z, C, Y, X)
    write_image(images / "c_zcyx.tif", zcyx)
    viewer, widget = _dock(make_napari_viewer, qtbot, images)
    assert widget._labels_layer.data.shape == (3, *src.shape)
    qtbot.waitUntil(lambda: widget._table.rowCount() > 0, timeout=60_000)
    planes = {int(widget._table.text(r, 0)) for r in range(widget._table.rowCount())}
    assert planes == {0, 1, 2}  # the first column is the plane
    widget.next_image()
    _shown(widget, qtbot, 1)
    assert widget._labels_layer.data.shape == src.shape
    assert widget._labels_layer.data.max() > 5
    assert widget._image_layers[(3, False)].data.shape == (2, *src.shape)  # a channel slider
    qtbot.waitUntil(lambda: widget._table.rowCount() > 0, timeout=60_000)
    table = widget._table
    headers = [table.header(c) for c in range(table.columnCount())]
    assert "mean intensity (channel 1)" in headers  # readable; the CSV keeps its name:
    assert "mean_intensity_c1" in [table.key(c) for c in range(table.columnCount())]
    widget.next_image()
    _shown(widget, qtbot, 2)
    assert widget._labels_layer.data.shape == (3, *src.shape)
    # channels on a slider of their own, first: the labels' planes follow the Z slider
    assert widget._image_layers[(4, False)].data.shape == (2, 3, *src.shape)
    widget.shutdown()


def test_bad_folders_are_refused_with_a_message(make_napari_viewer, qtbot, folder, tmp_path):
    from napari_unet.widgets.review import ReviewWidget

    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    assert not widget.open()
    assert "choose the folder of images" in widget._status.value
    widget._form.images.value = folder
    widget._form.output.value = folder
    assert not widget.open()
    assert "holds the images under review" in widget._status.value
    assert not any(p.name.endswith("_labels.tif") for p in folder.iterdir())
    # A list of files instead of a folder: those images only.
    widget._form.output.value = tmp_path / "chosen-review"
    widget._form.files.value = sorted(folder.iterdir())[3:]
    assert widget.open()
    assert widget.review.names == [f"{n}.png" for n in NAMES[3:]]
    qtbot.waitUntil(lambda: widget._shown == widget.current_name, timeout=120_000)
    widget.shutdown()


def test_train_on_corrected_then_unreviewed_images_are_predicted_again(
    make_napari_viewer, qtbot, folder
):
    from napari_unet.widgets.train import BUILTIN, TrainWidget

    viewer, widget = _dock(make_napari_viewer, qtbot, folder)
    train = TrainWidget(viewer)
    viewer.window.add_dock_widget(train, name="Train")
    names = widget.review.names
    send_corrected(widget, qtbot)
    assert widget._report.value.startswith("No corrected images yet")
    widget._labels_layer.paint((30, 30), 500)
    widget.accept()  # corrected
    _shown(widget, qtbot, 1)
    old_key = widget.prefetcher.key
    send_corrected(widget, qtbot)
    assert "Sent 1 corrected images to the Train dock" in widget._report.value
    image_layer, labels_layer, _ = train._form.pairs()[0]
    assert image_layer.name == f"{NAMES[0]} (reviewed)" and labels_layer.data[30, 30] == 500
    assert train._start_from.value == BUILTIN  # fine-tunes the review's model
    assert train._save_path.value.parent == widget.review.output / "models"
    train._steps.value = 4
    train._val_image.value = "none"
    train._start.native.click()
    assert not train._start.enabled, train._status.value
    qtbot.waitUntil(lambda: train._result is not None, timeout=180_000)
    qtbot.waitUntil(lambda: widget.prefetcher.key != old_key, timeout=10_000)
    assert widget._form.model.value.startswith("trained: ")
    qtbot.waitUntil(lambda: widget._shown == names[1], timeout=120_000)
    entry = widget.review.entries[names[1]]
    assert entry.predicted_with == widget.prefetcher.key  # predicted again with the new model
    assert widget.review.entries[names[0]].status == "corrected"  # reviewed work untouched
    widget.shutdown()
    train.shutdown()


def test_undo_unreadable_images_and_a_failing_disk(make_napari_viewer, qtbot, folder, monkeypatch):
    (folder / "zz_broken.png").write_bytes(b"not a png")
    viewer, widget = _dock(make_napari_viewer, qtbot, folder)
    review, names = widget.review, widget.review.names
    labels = widget._labels_layer
    before = np.array(labels.data)
    labels.paint((40, 40), 777)
    widget.autosave()
    labels.undo()  # napari's undo changes the data without an event
    widget.next_image()
    assert widget.writer.flush()
    np.testing.assert_array_equal(read_image(review.labels_path(names[0])), before)
    # A write that fails keeps the edits: shown again on return, written at the next try.
    real, broken = review.save_labels, [True]

    def flaky(name, data):
        if broken[0]:  # the disk is full until the test frees it (every retry fails too)
            raise OSError("No space left on device")
        return real(name, data)

    monkeypatch.setattr(review, "save_labels", flaky)
    _shown(widget, qtbot, 1)
    widget._labels_layer.paint((10, 10), 555)
    widget.go(4)  # leaves image 1: its write fails
    assert widget.writer.flush()
    assert widget.writer.failed == [names[1]]
    assert not review.labels_path(names[1]).exists()
    widget.go(1)
    _shown(widget, qtbot, 1)
    assert widget._labels_layer.data[10, 10] == 555  # not the prediction from disk
    widget.go(5)  # the broken file: an error, the previous image hidden, still rejectable
    qtbot.waitUntil(lambda: widget.prefetcher.error("zz_broken.png"), timeout=60_000)
    qtbot.waitUntil(lambda: "Error: zz_broken.png" in widget._status.value, timeout=10_000)
    assert widget._shown is None and not widget._labels_layer.visible
    widget.reject()
    assert review.entries["zz_broken.png"].status == "rejected"
    broken[0] = False
    widget.shutdown()  # the failed write is tried again: now it lands
    assert read_image(review.labels_path(names[1]))[10, 10] == 555


def test_undo_never_reaches_back_into_the_previous_image(make_napari_viewer, qtbot, folder):
    # napari kept the undo history when the next image's labels replaced the data: Ctrl+Z
    # pasted the last image's pixels in, and Accept recorded the image as corrected
    viewer, widget = _dock(make_napari_viewer, qtbot, folder)
    widget._labels_layer.paint((30, 30), 999)
    widget.next_image()
    _shown(widget, qtbot, 1)
    before = np.array(widget._labels_layer.data)
    widget._labels_layer.undo()
    np.testing.assert_array_equal(widget._labels_layer.data, before)
    widget.accept()
    assert widget.review.entries[widget.review.names[1]].status == "accepted"


def test_the_proposed_output_follows_the_images_a_chosen_one_stays(qtbot, tmp_path):
    # plate2 after plate1 opened plate1's review: its statuses and labels over plate2's images
    from napari_unet.widgets._review_form import ReviewForm

    for plate in ("plate1", "plate2", "plate3"):
        (tmp_path / plate).mkdir()
    form = ReviewForm()
    form.images.value = tmp_path / "plate1"
    assert form.output.value == tmp_path / "plate1-review"
    form.images.value = tmp_path / "plate2"
    assert form.output.value == tmp_path / "plate2-review"
    form.output.value = tmp_path / "mine"
    form.images.value = tmp_path / "plate3"
    assert form.output.value == tmp_path / "mine"
