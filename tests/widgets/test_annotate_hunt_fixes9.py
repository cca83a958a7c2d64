"""The Annotate dock: a sample's project beside a file, a rotated image, an undone stroke,
the largest label id, two docks on one image, and a file where the project folder goes.

Each test fails on the dock before its fix: a file beside a sample's project folder took it
over (its cells loaded, its project written over); the annotations and region lay unrotated
on a rotated image; an undone stroke still wrote an "annotated, all background" project;
New cell after id 2**32 - 1 made a traceback (and Start a half-started session); Start on
another image in one dock made the layer another dock annotates read-only; a file in the
way of the project folder was called a read-only folder.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from test_annotate_hunt5 import _settle, _widget  # same-folder helpers

from napari_unet import touching_cells
from napari_unet.core.annotation.identity import image_identity
from napari_unet.core.annotation.project import ANNOTATIONS_FILE, PROJECT_FILE
from napari_unet.core.errors import InputError

TOP = 2**32 - 1  # the largest uint32 label id


def _image(seed=1, shape=(96, 96)):
    return touching_cells(shape, n_cells=8, seed=seed)[0]


# --- 1. a sample's project folder beside another image's file ----------------------------


def test_fileless_project_beside_another_file_is_not_taken_by_it(
    make_napari_viewer, qtbot, tmp_path, errors
):
    """Before, b.tif loaded the sample's cells (a mere "pixels differ" warning) and its
    autosave wrote B's work over the sample's project."""
    image = _image(1)
    tifffile.imwrite(tmp_path / "b.tif", _image(2))
    viewer = make_napari_viewer()
    a = viewer.add_image(image, name="sample")  # no file
    b = viewer.open(str(tmp_path / "b.tif"))[0]
    folder = tmp_path / "proj"
    widget = _widget(viewer, a, folder)
    widget._annotations.paint((50, 50), 1)
    _settle(qtbot, widget)
    saved = tifffile.imread(folder / ANNOTATIONS_FILE)
    assert saved[50, 50] == 1
    widget._image_combo.value = b
    widget._folder.value = folder  # chosen for b too (the box follows the picked image)
    widget._start_btn.native.click()
    assert any("not of b.tif" in m for m in errors), errors
    assert not widget._saver.enabled
    assert not np.any(widget._annotations.data)  # the sample's cells are not b's
    widget._annotations.paint((80, 80), 7)
    _settle(qtbot, widget)
    assert json.loads((folder / PROJECT_FILE).read_text())["name"] == "sample"
    np.testing.assert_array_equal(tifffile.imread(folder / ANNOTATIONS_FILE), saved)


def test_fileless_project_beside_a_file_is_checked_by_name_and_pixels(tmp_path):
    """The folder check itself: refused only when both name and pixels differ."""
    from napari_unet.core.annotation.folders import check_project_folder

    folder = tmp_path / "proj"
    folder.mkdir()
    shape = (96, 96)
    sample = image_identity(_image(1), "sample", shape, [1, 1], [0, 0], None)
    (folder / PROJECT_FILE).write_text(json.dumps(sample))
    (tmp_path / "b.tif").write_bytes(b"")
    other = image_identity(_image(2), "b", shape, [1, 1], [0, 0], tmp_path / "b.tif")
    with pytest.raises(InputError, match="not of b.tif"):
        check_project_folder(folder, tmp_path / "b.tif", identity=other)
    renamed = image_identity(_image(1), "b", shape, [1, 1], [0, 0], tmp_path / "b.tif")
    check_project_folder(folder, tmp_path / "b.tif", identity=renamed)  # its pixels: kept


# --- 2. a rotated, sheared image ---------------------------------------------------------


def test_rotated_image_gets_aligned_annotations(make_napari_viewer, qtbot, tmp_path):
    """Before, the layers had only the image's scale and translate: strokes landed on other
    pixels of a rotated image."""
    viewer = make_napari_viewer()
    a = viewer.add_image(_image(), name="rot", rotate=30, translate=(10, 20), scale=(2, 2))
    widget = _widget(viewer, a, tmp_path / "proj")
    for layer in (widget._annotations, widget._region):
        for point in ((10, 80), (60, 5)):
            np.testing.assert_allclose(layer.data_to_world(point), a.data_to_world(point))
    a.rotate, a.shear = 75, [0.3]  # moved since: Start again follows it
    widget._start_btn.native.click()
    for layer in (widget._annotations, widget._region):
        np.testing.assert_allclose(layer.data_to_world((10, 80)), a.data_to_world((10, 80)))


def test_channels_first_rotated_image_gets_aligned_annotations(make_napari_viewer, qtbot):
    """Labels of a channels-first image lie on its last two axes, rotated as it is."""
    viewer = make_napari_viewer()
    data = np.stack([_image(1), _image(2)])
    a = viewer.add_image(data, name="chan", rotate=40, translate=(0, 5, 7))
    widget = _widget(viewer, a, axes="channels")
    assert widget._annotations.data.shape == (96, 96)
    world = widget._annotations.data_to_world((30, 70))
    np.testing.assert_allclose(world, a.data_to_world((0, 30, 70))[-2:])


# --- 3. a stroke undone writes nothing ---------------------------------------------------


def test_stroke_undone_writes_no_project_and_other_axis_keeps_autosave(
    make_napari_viewer, qtbot, tmp_path, messages
):
    """Before, the undone stroke wrote an empty annotations.tif and a whole-image region:
    Start with 'stack' then found a project of another shape, and autosave went off."""
    path = tmp_path / "z3.tif"
    tifffile.imwrite(path, np.stack([_image(s) for s in (1, 2, 3)]), photometric="minisblack")
    viewer = make_napari_viewer()
    a = viewer.open(str(path))[0]
    widget = _widget(viewer, a)  # auto: 3 channels
    assert widget._plan.kind == "channels"
    widget._annotations.paint((20, 20), 1)
    widget._annotations.undo()
    _settle(qtbot, widget, 500)
    folder = tmp_path / "z3.napari-unet"
    assert not (folder / ANNOTATIONS_FILE).exists()
    assert not (folder / PROJECT_FILE).exists()
    widget._axes.value = "stack"
    widget._start_btn.native.click()
    assert widget._saver.enabled, messages
    widget._annotations.paint((1, 20, 20), 4)
    _settle(qtbot, widget)
    assert tifffile.imread(folder / ANNOTATIONS_FILE)[1, 20, 20] == 4


def test_undone_stroke_then_save_now_or_a_region_still_saves(make_napari_viewer, qtbot, tmp_path):
    """Save now writes an untouched session on purpose; a region drawn is work, saved."""
    path = tmp_path / "a.tif"
    tifffile.imwrite(path, _image())
    viewer = make_napari_viewer()
    widget = _widget(viewer, viewer.open(str(path))[0])
    folder = tmp_path / "a.napari-unet"
    widget._annotations.paint((20, 20), 1)
    widget._annotations.undo()
    _settle(qtbot, widget, 500)
    assert not (folder / ANNOTATIONS_FILE).exists()
    widget._region.data = [np.array([[0, 0], [0, 40], [40, 40], [40, 0]], float)]  # a region
    _settle(qtbot, widget, 500)
    assert (folder / ANNOTATIONS_FILE).exists()
    assert not np.any(tifffile.imread(folder / ANNOTATIONS_FILE))


# --- 4. the largest uint32 label id ------------------------------------------------------


def test_new_cell_after_the_largest_uint32_id_has_no_traceback(
    make_napari_viewer, qtbot, tmp_path, errors
):
    """Before, New cell (and the n key) raised "no free label id left in uint32"."""
    path = tmp_path / "a.tif"
    tifffile.imwrite(path, _image())
    viewer = make_napari_viewer()
    widget = _widget(viewer, viewer.open(str(path))[0])
    labels = widget._annotations
    labels.paint((20, 20), TOP)
    labels.selected_label = 5
    widget._new_cell()  # the button
    widget._new_cell_key(labels)  # the n key
    assert labels.selected_label == 5  # kept as it was
    assert errors and all("no free label id left in uint32" in m for m in errors), errors
    assert "no free label id" in widget._status.value


def test_start_on_a_layer_holding_the_largest_id_starts_whole(
    make_napari_viewer, qtbot, tmp_path, errors
):
    """Before, Start raised after detaching: no edits watched, no buttons, no autosave."""
    path = tmp_path / "a.tif"
    tifffile.imwrite(path, _image())
    viewer = make_napari_viewer()
    image = viewer.open(str(path))[0]
    held = np.zeros((96, 96), np.uint32)
    held[20, 20] = TOP
    labels = viewer.add_labels(held, name="a annotations")  # the user's, before Start
    widget = _widget(viewer, image)
    assert widget._annotations is labels and widget._image is image
    assert widget._edits.layer is labels and widget._new_cell_btn.enabled
    assert widget._saver.enabled and labels.editable
    assert any("no free label id" in m for m in errors), errors
    assert "no free label id" in widget._status.value
    labels.paint((60, 60), 3)
    _settle(qtbot, widget)
    saved = tifffile.imread(tmp_path / "a.napari-unet" / ANNOTATIONS_FILE)
    assert saved[60, 60] == 3 and saved[20, 20] == TOP


# --- 5. two Annotate docks on one image --------------------------------------------------


def test_second_dock_session_stays_editable(make_napari_viewer, qtbot, tmp_path):
    """Before, Start on B in dock 1 made A's annotations read-only under dock 2."""
    tifffile.imwrite(tmp_path / "a.tif", _image(1))
    tifffile.imwrite(tmp_path / "b.tif", _image(2))
    viewer = make_napari_viewer()
    a = viewer.open(str(tmp_path / "a.tif"))[0]
    b = viewer.open(str(tmp_path / "b.tif"))[0]
    first, second = _widget(viewer, a), _widget(viewer, a)
    labels = second._annotations
    first._image_combo.value = b
    first._start_btn.native.click()
    assert second._image is a and second._annotations is labels and labels.editable
    labels.paint((30, 30), 2)
    _settle(qtbot, second)
    assert tifffile.imread(tmp_path / "a.napari-unet" / ANNOTATIONS_FILE)[30, 30] == 2
    second._image_combo.value = b  # the last session on A ends: A's layer is locked
    second._start_btn.native.click()
    assert not labels.editable


# --- a file in the way of the project folder ---------------------------------------------


def test_a_file_where_the_project_folder_goes_is_named(make_napari_viewer, qtbot, tmp_path, errors):
    """Before, the message said the folder "is read-only"."""
    path = tmp_path / "a.tif"
    tifffile.imwrite(path, _image())
    (tmp_path / "in_the_way").write_text("")
    viewer = make_napari_viewer()
    widget = _widget(viewer, viewer.open(str(path))[0], tmp_path / "in_the_way")
    assert not widget._saver.enabled
    assert any("a file is in the way" in m for m in errors), errors
    assert not any("read-only" in m for m in errors), errors


def test_start_says_how_it_reads_the_image_in_words(make_napari_viewer):
    """Before: "Annotating cells (2D, annotations (64, 96))." (a Python tuple, rows first)."""
    viewer = make_napari_viewer()
    layer = viewer.add_image(_image(shape=(64, 96)), name="cells")
    widget = _widget(viewer, layer)
    assert "Annotating cells (2D, 96 x 64 px)." in widget._status.value
    stack = viewer.add_image(np.stack([_image(shape=(64, 96))] * 3), name="planes")
    widget = _widget(viewer, stack, axes="stack")
    assert "Annotating planes (stack, 3 planes of 96 x 64 px)." in widget._status.value
