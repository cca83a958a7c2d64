"""The Annotate widget in a real viewer: layers, new cell ids, region, accept prediction,
autosave and restore, bad input."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_unet.core.annotation.project import ANNOTATIONS_FILE, REGION_FILE, project_folder_for
from napari_unet.core.annotation.regions import region_mask
from napari_unet.widgets.annotate import AnnotateWidget

#: How long a background save/import/export may take on a loaded shared machine (ms).
WORKER_MS = 30_000


def _image_file(tmp_path, shape=(48, 64), name="cells.tif"):
    rng = np.random.default_rng(0)
    data = (rng.random(shape) * 200).astype(np.uint8)
    path = tmp_path / name
    tifffile.imwrite(path, data)
    return path, data


def _widget(viewer, qtbot, path=None, axes="auto", layer=None):
    if layer is None:
        layer = viewer.open(path)[0]
    widget = AnnotateWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget._saver.timer.setInterval(30)  # the 2 s quiet period, shortened for tests
    widget._image_combo.value = layer
    widget._axes.value = axes
    widget._start_btn.native.click()
    return widget, layer


def _accept(qtbot, widget, refused=False):
    """Click Accept prediction and wait for its worker (the annotations are locked meanwhile)."""
    widget._accept_btn.native.click()
    assert widget._annotations.editable is refused  # no stroke lands while the merge is computed
    done = lambda: widget._annotations.editable and widget._accept_btn.enabled  # noqa: E731
    qtbot.waitUntil(done, timeout=WORKER_MS)


def _wait_saved(qtbot, widget, path):
    qtbot.waitUntil(lambda: path.exists() and not widget._saver.busy, timeout=WORKER_MS)
    qtbot.waitUntil(lambda: not widget._saver.timer.isActive() and not widget._saver.busy)


def test_start_creates_labels_and_whole_image_region(make_napari_viewer, qtbot, tmp_path):
    path, data = _image_file(tmp_path)
    viewer = make_napari_viewer()
    widget, image = _widget(viewer, qtbot, path)
    labels = viewer.layers["cells annotations"]
    region = viewer.layers["cells annotated region"]
    assert labels.data.shape == data.shape and labels.mode == "paint"
    assert 3 <= labels.brush_size <= 30 and labels.selected_label == 1
    assert region_mask(region.data, region.shape_type, data.shape).all()
    assert viewer.layers.selection.active is labels
    # Starting again re-attaches the same layers instead of adding new ones.
    n = len(viewer.layers)
    widget._start_btn.native.click()
    assert len(viewer.layers) == n and widget._annotations is labels


def test_start_says_nothing_about_napari_history_where_it_is_readable(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    """Before, Start read the history of no layer yet and warned "this napari keeps no
    readable undo history" on the napari it is tested with (and never again, when true)."""
    import warnings

    from napari_unet.widgets import _history

    monkeypatch.setattr(_history, "_NO_HISTORY", [])
    path, _ = _image_file(tmp_path)
    viewer = make_napari_viewer()
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*no readable undo history")
        widget, _ = _widget(viewer, qtbot, path)
    assert widget._annotations is not None and _history._NO_HISTORY == []


def test_new_cell_button_and_key_pick_the_next_free_id(make_napari_viewer, qtbot, tmp_path):
    from napari.utils.key_bindings import coerce_keybinding

    path, _ = _image_file(tmp_path)
    viewer = make_napari_viewer()
    widget, _ = _widget(viewer, qtbot, path)
    labels = widget._annotations
    labels.paint((10, 10), 1)
    labels.paint((30, 40), 4)
    widget._new_cell_btn.native.click()
    assert labels.selected_label == 5
    labels.paint((20, 20), 5)
    labels.keymap[coerce_keybinding("n")](labels)
    assert labels.selected_label == 6
    qtbot.waitUntil(lambda: widget._counts.value.startswith("3 cells"))


def test_counts_show_scaled_area(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    layer = viewer.add_image(np.zeros((40, 40), np.float32), name="scaled", scale=(0.5, 0.5))
    widget, _ = _widget(viewer, qtbot, layer=layer)
    labels = widget._annotations
    assert list(labels.scale) == [0.5, 0.5]
    assert "Pixel size 0.5 x 0.5:" in widget._status.value  # not [np.float64(0.5), ...]
    assert "no file" in widget._saved.value
    idx = np.nonzero(np.ones((4, 4), bool))
    labels.data_setitem((idx[0] + 5, idx[1] + 5), 1)
    qtbot.waitUntil(lambda: widget._counts.value == "1 cells, 16 px (4 scaled units²)")


def test_accept_prediction_user_strokes_win_inside_region_and_undo(
    make_napari_viewer, qtbot, tmp_path
):
    path, data = _image_file(tmp_path)
    viewer = make_napari_viewer()
    widget, _ = _widget(viewer, qtbot, path)
    labels, region = widget._annotations, widget._region
    user = np.zeros(data.shape, np.uint32)
    user[5:15, 5:15] = 1
    labels.data_setitem(np.nonzero(user), 1)
    pred = np.zeros(data.shape, np.uint16)
    pred[10:20, 10:20] = 1  # overlaps the user's cell
    pred[30:40, 50:60] = 2  # right half of the image
    pred[30:40, 5:15] = 3
    viewer.add_labels(pred, name="prediction")
    # Only the left half of the image is marked as annotated.
    region.data = [np.array([[0, 0], [0, 31], [47, 31], [47, 0]])]
    widget._prediction_combo.reset_choices()
    widget._prediction_combo.value = viewer.layers["prediction"]
    _accept(qtbot, widget)
    out = np.asarray(labels.data)
    assert (out[5:15, 5:15] == 1).all()  # the user's strokes win
    new = out[17, 17]
    assert new not in (0, 1) and (out[10:20, 10:20][out[10:20, 10:20] != 1] == new).all()
    assert out[35, 55] == 0  # outside the annotated region
    assert out[35, 10] not in (0, 1, new)
    assert labels.selected_label == out.max() + 1
    assert "Accepted 2 predicted cells" in widget._status.value
    labels.undo()  # one step of napari's own undo reverts the whole acceptance
    np.testing.assert_array_equal(labels.data, user)


def test_a_large_accept_is_written_in_parts_and_undone_in_one(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    """napari froze for 4.5-7 s while 55 million accepted pixels were written at once."""
    from napari_unet.widgets import _annotate_work

    monkeypatch.setattr(_annotate_work, "PART_PIXELS", 150)  # 400 px: three parts
    path, data = _image_file(tmp_path)
    viewer = make_napari_viewer()
    widget, _ = _widget(viewer, qtbot, path)
    labels = widget._annotations
    pred = np.zeros(data.shape, np.uint16)
    pred[2:12, 2:12], pred[20:30, 30:40], pred[35:45, 5:15], pred[5:15, 40:50] = 1, 2, 3, 4
    viewer.add_labels(pred, name="prediction")
    widget._prediction_combo.reset_choices()
    widget._prediction_combo.value = viewer.layers["prediction"]
    seen, shown = [], type(widget)._set_status

    def status(dock, text):
        seen.append(text)
        shown(dock, text)

    monkeypatch.setattr(type(widget), "_set_status", status)
    _accept(qtbot, widget)
    out = np.asarray(labels.data)
    assert ((out > 0) == (pred > 0)).all() and len(np.unique(out[out > 0])) == 4
    assert any(text.startswith("Accepting the prediction... ") for text in seen)
    assert "Accepted 4 predicted cells" in widget._status.value
    assert len(labels._undo_history) == 1  # one item of napari's undo history
    labels.undo()  # one step reverts every part
    assert not np.asarray(labels.data).any()


def test_strokes_before_an_accept_stay_undoable_after_it(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    """The accept made the layer read-only, and napari then dropped its whole undo history:
    the strokes painted before Accept could no longer be undone."""
    from napari_unet.widgets import _annotate_work

    monkeypatch.setattr(_annotate_work, "PART_PIXELS", 40)  # written in parts, still one item
    path, data = _image_file(tmp_path)
    widget, _ = _widget(make_napari_viewer(), qtbot, path)
    labels = widget._annotations
    labels.brush_size = 3
    labels.paint((40, 5), 1)  # stroke A
    labels.paint((40, 20), 2)  # stroke B
    strokes = np.asarray(labels.data).copy()
    pred = np.zeros(data.shape, np.uint16)
    pred[2:12, 30:40] = 1
    widget._viewer.add_labels(pred, name="prediction")
    widget._prediction_combo.reset_choices()
    widget._prediction_combo.value = widget._viewer.layers["prediction"]
    _accept(qtbot, widget)
    assert "Accepted 1 predicted cells" in widget._status.value
    assert len(labels._undo_history) == 3  # stroke A, stroke B, the accept (one item)
    labels.undo()  # the accept
    np.testing.assert_array_equal(labels.data, strokes)
    labels.undo()  # stroke B
    assert (np.asarray(labels.data) == 1).any() and not (np.asarray(labels.data) == 2).any()
    labels.undo()  # stroke A
    assert not np.asarray(labels.data).any()
    labels.redo()
    assert (np.asarray(labels.data) == 1).any()


def test_accepted_message_stays_when_autosave_writes(make_napari_viewer, qtbot, tmp_path):
    """Issue 16, point 8: autosave's "Saved" used to replace "Accepted N cells" within 3 s."""
    path, data = _image_file(tmp_path)
    annotations = project_folder_for(path) / ANNOTATIONS_FILE
    viewer = make_napari_viewer()
    widget, _ = _widget(viewer, qtbot, path)
    pred = np.zeros(data.shape, np.uint16)
    pred[5:15, 5:15], pred[30:40, 40:50] = 1, 2
    viewer.add_labels(pred, name="cells segmentation")
    widget._prediction_combo.value = viewer.layers["cells segmentation"]
    _accept(qtbot, widget)
    accepted = widget._status.value
    assert accepted.startswith("Accepted 2 predicted cells") and "Ctrl+Z" in accepted
    _wait_saved(qtbot, widget, annotations)  # the acceptance is autosaved...
    qtbot.wait(50)
    assert widget._status.value == accepted
    qtbot.waitUntil(lambda: "Saved to" in widget._saved.value)  # ...said on its own line
    widget._annotations.paint((25, 25), 3)  # a stroke: saved again, the message still stands
    qtbot.waitUntil(lambda: tifffile.imread(annotations)[25, 25] == 3, timeout=WORKER_MS)
    _wait_saved(qtbot, widget, annotations)
    assert widget._status.value == accepted and "Saved to" in widget._saved.value
    widget._tiff_path.value = tmp_path / "export.tif"
    widget._export_btn.native.click()  # the next action with a message replaces it
    qtbot.waitUntil(lambda: "Exported" in widget._status.value, timeout=WORKER_MS)


def test_accept_prediction_of_another_shape_is_refused(
    make_napari_viewer, qtbot, tmp_path, messages
):
    path, _ = _image_file(tmp_path)
    viewer = make_napari_viewer()
    widget, _ = _widget(viewer, qtbot, path)
    viewer.add_labels(np.ones((10, 10), np.uint8), name="other")
    widget._prediction_combo.reset_choices()
    widget._prediction_combo.value = viewer.layers["other"]
    _accept(qtbot, widget)
    assert any("does not match" in m for m in messages)
    assert not np.asarray(widget._annotations.data).any()
    assert widget._status.value.startswith("Accept prediction failed: ")  # not "Accepting..."


def test_a_prediction_per_channel_is_refused_with_why(make_napari_viewer, qtbot, messages):
    """The Predict dock predicts each channel of a (3, H, W) image with a grey model; the
    Annotate dock's annotations of it mark all three channels at once."""
    viewer = make_napari_viewer()
    layer = viewer.add_image(np.random.default_rng(0).random((3, 48, 48)), name="three")
    widget, _ = _widget(viewer, qtbot, layer=layer)
    assert widget._plan.kind == "channels"
    viewer.add_labels(np.ones((3, 48, 48), np.uint8), name="three segmentation")
    widget._prediction_combo.reset_choices()
    widget._prediction_combo.value = viewer.layers["three segmentation"]
    _accept(qtbot, widget, refused=True)
    assert any("one plane per channel" in m and "leading axis" in m for m in messages)


def test_autosave_then_restore_in_a_new_viewer(make_napari_viewer, qtbot, tmp_path):
    path, data = _image_file(tmp_path)
    folder = project_folder_for(path)
    viewer = make_napari_viewer()
    widget, _ = _widget(viewer, qtbot, path)
    widget._annotations.paint((20, 20), 7)
    rect = np.array([[0, 0], [0, 20], [20, 20], [20, 0]], float)
    widget._region.data = [rect]
    _wait_saved(qtbot, widget, folder / ANNOTATIONS_FILE)
    qtbot.waitUntil(lambda: "Saved to" in widget._saved.value)
    saved = np.asarray(widget._annotations.data).copy()
    assert (folder / REGION_FILE).exists()
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]
    viewer.close()

    viewer2 = make_napari_viewer()
    widget2, _ = _widget(viewer2, qtbot, path)
    np.testing.assert_array_equal(widget2._annotations.data, saved)
    np.testing.assert_allclose(widget2._region.data[0], rect)
    assert widget2._annotations.selected_label == 8


def test_stack_annotates_the_current_plane(make_napari_viewer, qtbot, tmp_path):
    path, data = _image_file(tmp_path, shape=(6, 32, 40), name="stack.tif")
    viewer = make_napari_viewer()
    viewer.open(path)
    viewer.dims.set_current_step(0, 2)
    widget, _ = _widget(viewer, qtbot, layer=viewer.layers["stack"])
    labels, region = widget._annotations, widget._region
    assert labels.data.shape == data.shape
    mask = region_mask(region.data, region.shape_type, data.shape)
    assert not mask.any()  # a stack starts with no region: planes are marked as painted
    pred = np.zeros((32, 40), np.int32)
    pred[5:15, 5:15] = 1
    viewer.add_labels(pred, name="plane prediction")
    widget._prediction_combo.reset_choices()
    widget._prediction_combo.value = viewer.layers["plane prediction"]
    _accept(qtbot, widget)
    out = np.asarray(labels.data)
    assert (out[2, 5:15, 5:15] == 1).all() and out[[0, 1, 3, 4, 5]].sum() == 0
    mask = region_mask(region.data, region.shape_type, data.shape)
    assert mask[2].all() and not mask[[0, 1, 3, 4, 5]].any()  # the accept marked its plane
    qtbot.waitUntil(lambda: widget._counts.value.startswith("plane 2: 1 cells, 100 px"))
    # The whole stack is counted in a worker (0.8 s per stroke on 60 x 2048 x 2048).
    qtbot.waitUntil(lambda: widget._counts.value.endswith("stack: 1 cells, 100 px"))



def test_a_z_scaled_stack_accepts_on_its_own_plane_with_ids_above_the_stack(
    make_napari_viewer, qtbot, messages
):
    """The plane came from the viewer's slider step (plane 10 of a z-scale-2 stack beside
    a scale-1 one, clipped to 9), new cells reused ids of other planes, and a view past
    the stack's end wrote into its last plane."""
    rng = np.random.default_rng(0)
    viewer = make_napari_viewer()
    stack = viewer.add_image(rng.random((10, 32, 32)), name="stack", scale=(2, 1, 1))
    viewer.add_image(rng.random((30, 32, 32)), name="deeper")
    viewer.dims.set_point(0, 10.0)  # world z 10: plane 5 of the stack
    widget, _ = _widget(viewer, qtbot, layer=stack, axes="stack")
    labels = widget._annotations
    mask = region_mask(widget._region.data, widget._region.shape_type, labels.data.shape)
    assert not mask.any()  # no region yet: each plane is marked at its first edit
    labels.data_setitem((np.zeros(3, int), np.arange(3), np.zeros(3, int)), 7)  # plane 0
    pred = np.zeros((32, 32), np.int32)
    pred[5:15, 5:15] = 1
    viewer.add_labels(pred, name="plane prediction")
    widget._prediction_combo.value = viewer.layers["plane prediction"]
    _accept(qtbot, widget)
    out = np.asarray(labels.data)
    assert np.unique(out[5]).tolist() == [0, 8] and out[6:].max() == 0  # above plane 0's 7
    mask = region_mask(widget._region.data, widget._region.shape_type, labels.data.shape)
    assert np.nonzero(mask.any(axis=(1, 2)))[0].tolist() == [0, 5]  # the planes edited
    viewer.dims.set_point(0, 25.0)  # past the stack's end
    _accept(qtbot, widget, refused=True)
    assert any("move the slider" in m for m in messages)
    np.testing.assert_array_equal(labels.data, out)  # nothing written


def test_the_chosen_prediction_stays_and_a_multiscale_one_is_read_whole(
    make_napari_viewer, qtbot
):
    """Any layer change (a Points layer added) switched the picker to the image's newest
    segmentation, so Accept merged another prediction; a multiscale prediction (OME-Zarr
    labels) was read at its smallest level and refused."""
    viewer = make_napari_viewer()
    image = viewer.add_image(np.random.default_rng(0).random((64, 64)), name="cells")
    widget, _ = _widget(viewer, qtbot, layer=image)
    older = np.zeros((64, 64), np.int32)
    older[2:10, 2:10] = 1
    viewer.add_labels(older, name="cells segmentation")  # the image's own, offered first
    assert widget._prediction_combo.value.name == "cells segmentation"
    chosen = np.zeros((64, 64), np.int32)
    chosen[20:40, 20:40] = 1
    viewer.add_labels([chosen, chosen[::2, ::2]], name="stardist result", multiscale=True)
    widget._prediction_combo.value = viewer.layers["stardist result"]
    viewer.add_points(name="notes")
    viewer.layers.move(0, 3)
    assert widget._prediction_combo.value.name == "stardist result"
    _accept(qtbot, widget)
    out = np.asarray(widget._annotations.data)
    assert (out[20:40, 20:40] > 0).all() and out[2:10, 2:10].max() == 0

@pytest.mark.parametrize(
    ("shape", "rgb", "labels_shape"),
    [((3, 32, 40), False, (32, 40)), ((32, 40, 3), True, (32, 40))],
)
def test_multichannel_and_rgb_get_2d_labels(make_napari_viewer, qtbot, shape, rgb, labels_shape):
    viewer = make_napari_viewer()
    layer = viewer.add_image(np.zeros(shape, np.uint8), rgb=rgb, name="multi")
    widget, _ = _widget(viewer, qtbot, layer=layer)
    assert widget._annotations.data.shape == labels_shape


@pytest.mark.parametrize(
    ("shape", "rgb", "message"),
    [
        ((2, 3, 16, 16), False, "cannot annotate"),
        ((2, 16, 16, 3), True, "Stacks of RGB images are not supported"),
        ((16, 20, 2), False, "channels last"),
    ],
)
def test_unsupported_image_gets_a_clear_message(
    make_napari_viewer, qtbot, messages, shape, rgb, message
):
    viewer = make_napari_viewer()
    layer = viewer.add_image(np.zeros(shape, np.uint8), rgb=rgb, name="odd")
    widget, _ = _widget(viewer, qtbot, layer=layer)
    assert widget._annotations is None and message in messages[-1]
    assert [ly.name for ly in viewer.layers] == ["odd"]  # nothing half-made is left behind
    assert not widget._new_cell_btn.enabled


def test_read_only_project_folder_loads_but_never_writes(
    make_napari_viewer, qtbot, tmp_path, messages, monkeypatch
):
    from napari_unet.core.annotation import project as project_mod

    path, data = _image_file(tmp_path)
    folder = project_folder_for(path)
    saved = np.zeros(data.shape, np.uint16)
    saved[5:10, 5:10] = 4
    project_mod.save_project(
        folder, saved, [np.array([[0, 0], [0, 9], [9, 9], [9, 0]])], ["rectangle"]
    )
    before = (folder / ANNOTATIONS_FILE).read_bytes()
    if os.geteuid() == 0:  # root writes through permission bits: make the check say no
        real = os.access
        monkeypatch.setattr(
            project_mod.os,
            "access",
            lambda p, mode: False if Path(p) == folder and mode == os.W_OK else real(p, mode),
        )
    else:
        folder.chmod(0o500)
    try:
        viewer = make_napari_viewer()
        widget, _ = _widget(viewer, qtbot, path)
        assert any("read-only" in m for m in messages)
        np.testing.assert_array_equal(widget._annotations.data, saved)  # still loaded
        assert "Autosave is OFF" in widget._saved.value
        widget._annotations.paint((30, 30), 5)
        widget._save_btn.native.click()
        qtbot.wait(100)
        assert any("Autosave is OFF" in m for m in messages)  # Save now says why not
        assert (folder / ANNOTATIONS_FILE).read_bytes() == before
        assert np.asarray(widget._annotations.data)[30, 30] == 5  # nothing the user made is lost
    finally:
        folder.chmod(0o700)


def test_unwritable_folder_turns_autosave_off_and_keeps_annotations(
    make_napari_viewer, qtbot, tmp_path, messages
):
    path, _ = _image_file(tmp_path)
    if os.geteuid() == 0:
        # root writes through permission bits: block the folder with a regular file.
        blocked = tmp_path / "a_file" / "project"
        (tmp_path / "a_file").write_text("")
    else:
        (tmp_path / "ro").mkdir()
        (tmp_path / "ro").chmod(0o500)
        blocked = tmp_path / "ro" / "project"
    viewer = make_napari_viewer()
    widget, _ = _widget(viewer, qtbot, path)
    widget._folder.value = blocked
    assert any("not writable" in m for m in messages)
    assert "Autosave is OFF" in widget._saved.value
    widget._annotations.paint((10, 10), 3)
    widget._save_btn.native.click()
    assert not blocked.exists() and np.asarray(widget._annotations.data).max() == 3
    # A writable folder turns autosave back on and writes what is in memory.
    good = tmp_path / "good"
    widget._folder.value = good
    _wait_saved(qtbot, widget, good / ANNOTATIONS_FILE)
    assert tifffile.imread(good / ANNOTATIONS_FILE).max() == 3
    if os.geteuid() != 0:
        (tmp_path / "ro").chmod(0o700)


def _one_cell_saved(make_napari_viewer, qtbot, tmp_path):
    """A session on a new image with one painted cell, autosaved: ``(widget, saved file)``."""
    path, _ = _image_file(tmp_path)
    saved = project_folder_for(path) / ANNOTATIONS_FILE
    widget, _ = _widget(make_napari_viewer(), qtbot, path)
    widget._annotations.paint((5, 5), 1)
    _wait_saved(qtbot, widget, saved)
    return widget, saved


def test_a_save_that_fails_once_is_retried_and_the_work_reaches_the_folder(
    make_napari_viewer, qtbot, tmp_path, messages, monkeypatch
):
    """One failed save (a full disk for a moment) turned autosave off for the session: the
    strokes after it were never saved, not even by Save now or at close."""
    from napari_unet.widgets import _autosave

    widget, saved = _one_cell_saved(make_napari_viewer, qtbot, tmp_path)
    real = _autosave.save_project

    def disk_full(*args, **kwargs):
        monkeypatch.setattr(_autosave, "save_project", real)  # room again after this one
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_autosave, "save_project", disk_full)
    widget._annotations.paint((20, 20), 2)
    qtbot.waitUntil(lambda: "NOT SAVED" in widget._saved.value, timeout=WORKER_MS)
    assert sum("Autosave failed" in m for m in messages) == 1
    widget._annotations.paint((30, 30), 3)  # the next change saves everything
    qtbot.waitUntil(lambda: widget._saved.value.startswith("Saved"), timeout=WORKER_MS)
    assert np.unique(tifffile.imread(saved)).tolist() == [0, 1, 2, 3]


def test_autosave_compares_and_copies_the_annotations_off_the_gui_thread(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    """At every pause in painting the whole array was compared with the last save and
    copied on the GUI thread: 0.9 s of frozen napari on an 8192 x 8192 image."""
    import threading

    widget, saved = _one_cell_saved(make_napari_viewer, qtbot, tmp_path)
    on_gui, real = [], np.array_equal

    def watched(a, b, *args, **kwargs):
        if a is widget._annotations.data and threading.current_thread() is threading.main_thread():
            on_gui.append(a.shape)
        return real(a, b, *args, **kwargs)

    monkeypatch.setattr(np, "array_equal", watched)
    widget._annotations.paint((20, 20), 2)
    qtbot.waitUntil(lambda: tifffile.imread(saved)[20, 20] == 2, timeout=WORKER_MS)
    _wait_saved(qtbot, widget, saved)
    assert on_gui == []


def test_saved_annotations_of_another_shape_are_not_loaded_nor_overwritten(
    make_napari_viewer, qtbot, tmp_path, messages
):
    path, _ = _image_file(tmp_path)
    folder = project_folder_for(path)
    folder.mkdir()
    tifffile.imwrite(folder / ANNOTATIONS_FILE, np.ones((10, 10), np.uint16))
    before = (folder / ANNOTATIONS_FILE).read_bytes()
    viewer = make_napari_viewer()
    widget, _ = _widget(viewer, qtbot, path)
    assert any("another image" in m and "left untouched" in m for m in messages)
    assert not np.asarray(widget._annotations.data).any()
    widget._annotations.paint((5, 5), 1)
    qtbot.wait(150)
    assert (folder / ANNOTATIONS_FILE).read_bytes() == before


def test_export_import_tiff_roundtrip_and_wrong_shape(
    make_napari_viewer, qtbot, tmp_path, messages
):
    path, data = _image_file(tmp_path)
    viewer = make_napari_viewer()
    widget, _ = _widget(viewer, qtbot, path)
    widget._annotations.paint((10, 10), 2)
    out = tmp_path / "export.tif"
    widget._tiff_path.value = out
    widget._export_btn.native.click()
    qtbot.waitUntil(lambda: "Exported" in widget._status.value, timeout=WORKER_MS)
    exported = tifffile.imread(out)
    assert exported.dtype == np.uint16
    np.testing.assert_array_equal(exported, widget._annotations.data)
    # Import replaces the annotations as one undoable step.
    other = np.zeros(data.shape, np.uint16)
    other[:5, :5] = 9
    tifffile.imwrite(tmp_path / "in.tif", other)
    widget._tiff_path.value = tmp_path / "in.tif"
    widget._import_btn.native.click()
    qtbot.waitUntil(lambda: "Imported 1 cells" in widget._status.value, timeout=WORKER_MS)
    np.testing.assert_array_equal(widget._annotations.data, other)
    widget._annotations.undo()
    np.testing.assert_array_equal(widget._annotations.data, exported)
    tifffile.imwrite(tmp_path / "bad.tif", np.zeros((5, 5), np.uint16))
    widget._tiff_path.value = tmp_path / "bad.tif"
    widget._import_btn.native.click()
    qtbot.waitUntil(lambda: any("Import refused" in m for m in messages), timeout=WORKER_MS)
    assert "shape (5, 5)" in messages[-1]
    np.testing.assert_array_equal(widget._annotations.data, exported)


def test_closing_the_viewer_flushes_unsaved_strokes(make_napari_viewer, qtbot, tmp_path):
    path, _ = _image_file(tmp_path)
    viewer = make_napari_viewer()
    widget, _ = _widget(viewer, qtbot, path)
    widget._saver.timer.setInterval(60_000)  # the debounce has not fired when the window closes
    widget._annotations.paint((20, 20), 3)
    assert not (project_folder_for(path) / ANNOTATIONS_FILE).exists()
    viewer.close()
    saved = tifffile.imread(project_folder_for(path) / ANNOTATIONS_FILE)
    assert saved[20, 20] == 3


def test_reopening_a_changed_image_warns_but_restores(
    make_napari_viewer, qtbot, tmp_path, messages
):
    path, data = _image_file(tmp_path)
    viewer = make_napari_viewer()
    widget, _ = _widget(viewer, qtbot, path)
    widget._annotations.paint((20, 20), 2)
    widget._save_btn.native.click()
    _wait_saved(qtbot, widget, project_folder_for(path) / ANNOTATIONS_FILE)
    tifffile.imwrite(path, 255 - data)  # same name and shape, other pixels
    viewer.close()  # a live session in another window would refuse the second Start
    viewer2 = make_napari_viewer()
    widget2, _ = _widget(viewer2, qtbot, path)
    assert any("pixels" in m for m in messages)
    assert widget2._annotations.data[20, 20] == 2


def test_closing_the_window_flushes_before_layers_go(make_napari_viewer, qtbot, tmp_path):
    path, _ = _image_file(tmp_path)
    viewer = make_napari_viewer()
    widget, _ = _widget(viewer, qtbot, path)
    widget._saver.timer.setInterval(60_000)
    widget._annotations.paint((30, 30), 4)
    viewer.window._qt_window.close()  # the window's close button, layers still present
    assert tifffile.imread(project_folder_for(path) / ANNOTATIONS_FILE)[30, 30] == 4


def _saved_project(folder, shape, value=4):
    from napari_unet.core.annotation.project import save_project

    saved = np.zeros(shape, np.uint16)
    saved[5:10, 5:10] = value
    polygon = np.array([[0, 0], [0, 20], [20, 20], [20, 0]], float)
    save_project(folder, saved, [polygon], ["polygon"])
    return saved, (folder / ANNOTATIONS_FILE).read_bytes()


def test_choosing_a_folder_with_saved_work_continues_it(
    make_napari_viewer, qtbot, tmp_path, messages
):
    # A sample image has no file: autosave is off until a folder is chosen. Choosing
    # yesterday's folder loads its annotations; before, autosave wrote the empty layer over.
    _, data = _image_file(tmp_path)
    viewer = make_napari_viewer()
    layer = viewer.add_image(data, name="sample")
    widget, _ = _widget(viewer, qtbot, layer=layer)
    assert "Autosave is off" in widget._saved.value
    folder = tmp_path / "yesterday"
    saved, before = _saved_project(folder, data.shape)
    widget._folder.value = folder
    np.testing.assert_array_equal(widget._annotations.data, saved)
    assert widget._region.shape_type == ["polygon"]
    assert "Autosave to yesterday" in widget._saved.value
    widget._annotations.paint((30, 30), 7)
    _wait_saved(qtbot, widget, folder / ANNOTATIONS_FILE)
    qtbot.waitUntil(lambda: (folder / ANNOTATIONS_FILE).read_bytes() != before, timeout=WORKER_MS)
    written = tifffile.imread(folder / ANNOTATIONS_FILE)
    assert written[7, 7] == 4 and written[30, 30] == 7  # yesterday's cells and today's


def test_choosing_a_folder_with_other_work_overwrites_neither(
    make_napari_viewer, qtbot, tmp_path, messages
):
    _, data = _image_file(tmp_path)
    viewer = make_napari_viewer()
    widget, _ = _widget(viewer, qtbot, layer=viewer.add_image(data, name="sample"))
    widget._annotations.paint((30, 30), 3)  # painted before a folder was chosen
    same = tmp_path / "same_shape"
    _, same_bytes = _saved_project(same, data.shape)
    widget._folder.value = same
    assert any("differ from the layer" in m for m in messages)
    other = tmp_path / "other_image"
    _, other_bytes = _saved_project(other, (10, 12))
    widget._folder.value = other
    assert any("another image" in m for m in messages)
    widget._annotations.paint((40, 40), 5)
    widget._save_btn.native.click()
    qtbot.wait(300)
    assert "Autosave is OFF" in widget._saved.value
    assert (same / ANNOTATIONS_FILE).read_bytes() == same_bytes
    assert (other / ANNOTATIONS_FILE).read_bytes() == other_bytes
    assert np.asarray(widget._annotations.data)[30, 30] == 3  # the layer's work is kept too


def test_images_differing_only_in_extension_keep_their_own_projects(
    make_napari_viewer, qtbot, tmp_path, messages
):
    """cells.tif and cells.png shared cells.napari-unet: annotating cells.png loaded
    cells.tif's cells, and its autosave wrote over them."""
    from PIL import Image as PILImage

    tif, _ = _image_file(tmp_path)
    png = tmp_path / "cells.png"
    PILImage.fromarray(np.full((48, 64), 7, np.uint8)).save(png)
    widget, _ = _widget(make_napari_viewer(), qtbot, tif)
    widget._annotations.paint((10, 10), 1)
    first = project_folder_for(tif) / ANNOTATIONS_FILE
    _wait_saved(qtbot, widget, first)
    before = first.read_bytes()
    widget2, _ = _widget(make_napari_viewer(), qtbot, png)
    assert widget2._saver.folder == tmp_path / "cells.png.napari-unet"
    assert not np.asarray(widget2._annotations.data).any()  # not cells.tif's cells
    widget2._annotations.paint((30, 30), 5)
    _wait_saved(qtbot, widget2, widget2._saver.folder / ANNOTATIONS_FILE)
    assert first.read_bytes() == before
    # Choosing cells.tif's folder for cells.png by hand: neither read nor written.
    widget2._folder.value = project_folder_for(tif)
    assert any("holds the annotations of cells.tif" in m for m in messages)
    assert "Autosave is OFF" in widget2._saved.value
    widget2._annotations.paint((40, 40), 6)
    widget2._save_btn.native.click()
    qtbot.wait(200)
    assert first.read_bytes() == before


def test_a_project_folder_whose_annotations_file_is_the_image_never_touches_it(
    make_napari_viewer, qtbot, tmp_path, messages
):
    """An image named annotations.tif with its own folder as project folder: the image was
    loaded as saved annotations, and autosave wrote the mask over it."""
    path, _ = _image_file(tmp_path, name=ANNOTATIONS_FILE)
    before = path.read_bytes()
    widget, _ = _widget(make_napari_viewer(), qtbot, path)
    widget._folder.value = tmp_path
    assert any("image file itself" in m for m in messages)
    assert not np.asarray(widget._annotations.data).any()  # the image is no annotations
    assert "Autosave is OFF" in widget._saved.value
    widget._annotations.paint((20, 20), 3)
    widget._save_btn.native.click()
    qtbot.wait(200)
    widget._saver.flush()
    assert path.read_bytes() == before
