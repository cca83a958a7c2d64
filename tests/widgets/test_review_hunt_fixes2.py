"""The Review dock after a second bug hunt: changed images sent to training, (Z, C, Y, X)
stacks, the object table's plane, an export overtaken by Open, colour contrast, the cache."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest

from napari_unet.core.images.io import read_image, write_image

pytest.importorskip("napari")

SIDE = 64


def _cells(value=1):
    lab = np.zeros((SIDE, SIDE), np.int32)
    for i in range(3):
        lab[5 + 20 * i : 15 + 20 * i, 5:25] = value * (i + 1)
    return lab


def _folder(tmp_path, images: dict, labels: dict):
    """Images and their label files (no prediction needed): ``{stem: array}`` each."""
    folder, labels_in = tmp_path / "images", tmp_path / "labels_in"
    folder.mkdir(parents=True)
    labels_in.mkdir()
    for stem, data in images.items():
        write_image(folder / f"{stem}.tif", data)
    for stem, data in labels.items():
        write_image(labels_in / f"{stem}_labels.tif", data)
    return folder, labels_in


def _dock(make_napari_viewer, qtbot, folder, labels_in=None, **form):
    from napari_unet.widgets.review import ReviewWidget

    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Review")
    widget._form.images.value = folder
    if labels_in is not None:
        widget._form.labels_folder.value = labels_in
    for key, value in form.items():
        getattr(widget._form, key).value = value
    assert widget.open(), widget._status.value
    widget._timer.setInterval(10**8)  # the test saves itself
    _shown(widget, qtbot, 0)
    return viewer, widget


def _shown(widget, qtbot, index):
    qtbot.waitUntil(
        lambda: widget._index == index and widget._shown == widget.review.names[index],
        timeout=120_000,
    )


def _rewrite(path, data):
    before = path.stat().st_mtime_ns
    write_image(path, data)
    os.utime(path, ns=(before + 10**10, before + 10**10))


def _grey(k):
    return ((_cells() > 0) * 1000 + 50 * k).astype(np.uint16)


# -- 1. Train on corrected leaves out an image changed since it was corrected ---------------
def _train_dock(viewer):
    from napari_unet.widgets.train import TrainWidget

    train = TrainWidget(viewer)
    viewer.window.add_dock_widget(train, name="Train")
    return train


def _correct_both(widget, qtbot):
    for index in (0, 1):
        _shown(widget, qtbot, index)
        widget._labels_layer.paint((50, 50), 4321)
        widget.accept()
    qtbot.waitUntil(lambda: widget.review.counts()["corrected"] == 2, timeout=10_000)


def test_an_image_changed_since_it_was_corrected_is_not_sent_to_training(
    make_napari_viewer, qtbot, tmp_path
):
    from review_data import send_corrected

    folder, labels_in = _folder(
        tmp_path, {"a": _grey(0), "b": _grey(1)}, {"a": _cells(), "b": _cells()}
    )
    viewer, widget = _dock(make_napari_viewer, qtbot, folder, labels_in)
    train = _train_dock(viewer)
    _correct_both(widget, qtbot)
    _rewrite(folder / "a.tif", np.full((SIDE, SIDE), 7, np.uint16))  # re-acquired
    send_corrected(widget, qtbot)
    assert "a (reviewed)" not in viewer.layers  # before: sent with the old pixels' labels
    assert "b (reviewed)" in viewer.layers
    assert "a.tif (the image changed since it was reviewed" in widget._report.value
    widget.shutdown()
    train.shutdown()


def test_an_image_changed_after_sending_is_left_out_of_the_run(make_napari_viewer, qtbot, tmp_path):
    from review_data import send_corrected

    folder, labels_in = _folder(
        tmp_path, {"a": _grey(0), "b": _grey(1)}, {"a": _cells(), "b": _cells()}
    )
    viewer, widget = _dock(make_napari_viewer, qtbot, folder, labels_in)
    train = _train_dock(viewer)
    _correct_both(widget, qtbot)
    send_corrected(widget, qtbot)
    assert len(train._form.pairs()) == 2
    _rewrite(folder / "a.tif", np.full((SIDE, SIDE), 7, np.uint16))
    note = train._sent.refresh(viewer, train._form)  # what Train and Resume ask first
    assert "a.tif (the image changed since it was reviewed" in note
    assert [image.name for image, _, _ in train._form.pairs()] == ["b (reviewed)"]
    widget.shutdown()
    train.shutdown()


# -- 2. a (Z, C, Y, X) stack with as many channels as planes -------------------------------
def test_a_zcyx_stack_keeps_its_axes_after_a_save(make_napari_viewer, qtbot, tmp_path):
    zcyx = np.zeros((2, 2, SIDE, SIDE), np.uint16)
    for z in range(2):
        for c in range(2):
            zcyx[z, c] = _grey(0) * (1 + z) + 100 * c + 7 * z  # every plane its own
    folder, labels_in = _folder(
        tmp_path,
        {"a": zcyx, "b": _grey(1)},
        {"a": np.stack([_cells(), _cells()]), "b": _cells()},
    )
    viewer, widget = _dock(make_napari_viewer, qtbot, folder, labels_in)
    first = np.array(widget._image_layer.data)
    widget._labels_layer.paint((0, 50, 50), 999)  # an edit, saved on leaving
    widget.accept()
    _shown(widget, qtbot, 1)
    assert np.array_equal(widget.prefetcher.get("a.tif").image, read_image(folder / "a.tif"))
    widget.previous_image()
    _shown(widget, qtbot, 0)
    again = np.asarray(widget._image_layer.data)
    assert np.array_equal(first, again)  # before: planes and channels swapped
    widget.shutdown()


# -- 6. the object table's plane when the viewer has a channel axis ------------------------
def test_the_object_table_uses_the_labels_plane_axis(make_napari_viewer, qtbot, tmp_path):
    zcyx = np.stack([np.stack([_grey(0), _grey(0) // 2])] * 3)  # (Z=3, C=2, Y, X)
    labels = np.stack([_cells(), np.zeros_like(_cells()), np.zeros_like(_cells())])
    labels[2][_cells() == 2] = 77  # object 77 only in plane 2
    folder, labels_in = _folder(tmp_path, {"c": zcyx}, {"c": labels})
    viewer, widget = _dock(make_napari_viewer, qtbot, folder, labels_in)
    qtbot.waitUntil(lambda: widget._table.rowCount() > 0, timeout=60_000)
    table, z_axis = widget._table, viewer.dims.ndim - 3
    row = table.row_of(77, plane=2)
    table.selectRow(row)
    step = viewer.dims.current_step
    assert step[z_axis] == 2 and step[0] == 0  # before: the channel slider moved
    table.clearSelection()
    widget._labels_layer.selected_label = 1
    widget._labels_layer.selected_label = 77  # picked at plane 2
    assert table.selected_row() == row  # before: looked up in the channel's "plane"
    widget.shutdown()


# -- 7. an export still running when another folder is opened ------------------------------
def test_an_export_overtaken_by_open_leaves_the_new_review_alone(
    make_napari_viewer, qtbot, tmp_path
):
    one = _folder(tmp_path / "one", {"a": _grey(0), "b": _grey(1)}, {"a": _cells(), "b": _cells()})
    two = _folder(tmp_path / "two", {"c": _grey(0)}, {"c": _cells()})
    viewer, widget = _dock(make_napari_viewer, qtbot, *one)
    widget.accept()
    _shown(widget, qtbot, 1)
    widget.export()  # then, at once, the next plate
    widget._form.images.value, widget._form.labels_folder.value = two
    widget._form.output.value = tmp_path / "two-review"
    assert widget.open()
    qtbot.waitUntil(lambda: widget._export.enabled, timeout=60_000)
    qtbot.wait(200)
    assert widget._summary.rowCount() == 0 and widget._summary.isHidden()
    assert "Exported" not in widget._report.value  # before: plate one's report
    assert (tmp_path / "one" / "images-review" / "export" / "summary.csv").exists()
    widget.shutdown()


# -- 8. colour images of other bit depths --------------------------------------------------
def test_each_colour_image_gets_its_own_contrast_limits(make_napari_viewer, qtbot, tmp_path):
    grey = _grey(0) // 8
    rgb8 = np.stack([grey, grey, grey], -1).astype(np.uint8)
    rgb12 = (np.stack([grey, grey // 2, grey], -1) * 16).astype(np.uint16)  # 12-bit camera
    folder, labels_in = _folder(
        tmp_path, {"a": rgb8, "b": rgb12, "c": rgb8}, {n: _cells() for n in "abc"}
    )
    viewer, widget = _dock(make_napari_viewer, qtbot, folder, labels_in)
    assert widget._image_layer.rgb and list(widget._image_layer.contrast_limits) == [0, 255]
    widget.next_image()
    _shown(widget, qtbot, 1)
    layer = widget._image_layer
    assert layer.rgb and layer.contrast_limits[1] == rgb12.max()  # before: 255, saturated
    widget.next_image()
    _shown(widget, qtbot, 2)
    assert list(widget._image_layer.contrast_limits) == [0, 255]
    widget.shutdown()


# -- 5. the prediction cache cannot be written ---------------------------------------------
def test_a_prediction_cache_that_cannot_be_written_is_said_and_the_image_shown(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    import napari.utils.notifications as notifications

    import napari_unet.core.review.session as session
    from napari_unet.widgets._predict_form import BUILTIN

    written = session.write_image

    def full(path, data, *args, **kwargs):
        if "predictions" in str(path):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return written(path, data, *args, **kwargs)

    said = []
    monkeypatch.setattr(session, "write_image", full)
    monkeypatch.setattr(notifications, "show_error", said.append)
    folder, _ = _folder(tmp_path, {"a": _grey(0), "b": _grey(1)}, {})
    viewer, widget = _dock(make_napari_viewer, qtbot, folder, model=BUILTIN)
    assert widget._labels_layer.data.shape == (SIDE, SIDE)  # shown: before, an error
    widget.next_image()
    _shown(widget, qtbot, 1)
    qtbot.waitUntil(lambda: len(said) > 0, timeout=10_000)
    cached = [m for m in said if "could not be cached" in m]
    assert len(cached) == 1 and "No space left on device" in cached[0]
    widget.shutdown()
