"""The Annotate dock never gives one image's project to another, nor loses a region or strokes.

Each test of a fix fails on the dock before it: a project folder chosen away from the
images was taken over by the next image (its annotations loaded and written over, its
project.json renamed), and so was one shared by two images without files; an annotations
layer left while Accept ran became editable with no session saving it; choosing a folder
whose saved region is empty kept Start's whole-image rectangle (and saved it); a removed
region layer came back as a whole-image rectangle on an image without a project folder;
a folder holding the user's own annotations.tif was loaded and overwritten as a project.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import tifffile
from test_annotate_hunt_fixes import WORKER_MS, _settle, _widget  # the first hunt's helpers

from napari_unet.core.annotation.project import (
    ANNOTATIONS_FILE,
    PROJECT_FILE,
    REGION_FILE,
    check_project_folder,
    image_identity,
    load_project,
    project_folder_for,
    save_project,
)
from napari_unet.core.errors import InputError


def _image_file(folder, shape=(40, 50), name="cells.tif", seed=0):
    rng = np.random.default_rng(seed)
    path = folder / name
    tifffile.imwrite(path, (rng.random(shape) * 200).astype(np.uint8))
    return path


def _start_on(widget, layer, folder=None):
    widget._image_combo.value = layer
    if folder is not None:  # the box follows the picked image: chosen for it again
        widget._folder.value = folder
    widget._start_btn.native.click()


def _annotated_in(qtbot, widget, folder):
    """Paint cell 1 into the dock's session, saved to the chosen ``folder``."""
    widget._folder.value = folder
    widget._annotations.paint((10, 10), 1)
    _settle(qtbot, widget)
    assert 1 in load_project(folder).annotations


def test_a_chosen_project_folder_is_never_taken_by_another_image_file(
    make_napari_viewer, qtbot, tmp_path, errors
):
    data = tmp_path / "data"
    data.mkdir()
    a_path, b_path = _image_file(data, name="a.tif"), _image_file(data, name="b.tif", seed=5)
    folder = tmp_path / "projects" / "p1"
    folder.parent.mkdir()
    viewer = make_napari_viewer()
    widget, _ = _widget(viewer, a_path)
    _annotated_in(qtbot, widget, folder)
    before = (folder / ANNOTATIONS_FILE).read_bytes()
    errors.clear()
    _start_on(widget, viewer.open(b_path)[0], folder)  # the same folder chosen for b
    b_labels = widget._annotations
    assert b_labels.name == "b annotations" and not np.any(b_labels.data)
    assert not widget._saver.enabled
    assert any("a.tif" in e and "b.tif" in e for e in errors)
    b_labels.paint((30, 30), 7)
    _settle(qtbot, widget)
    widget._saver.flush()
    assert (folder / ANNOTATIONS_FILE).read_bytes() == before
    assert json.loads((folder / PROJECT_FILE).read_text())["file_name"] == "a.tif"


def test_two_images_without_files_never_share_a_chosen_folder(
    make_napari_viewer, qtbot, tmp_path, errors
):
    rng = np.random.default_rng(1)
    viewer = make_napari_viewer()
    a = viewer.add_image(rng.random((40, 50)), name="A")
    b = viewer.add_image(rng.random((40, 50)), name="B")
    folder = tmp_path / "proj"
    widget, _ = _widget(viewer, layer=a)
    _annotated_in(qtbot, widget, folder)
    before = (folder / ANNOTATIONS_FILE).read_bytes()
    errors.clear()
    _start_on(widget, b, folder)
    assert not np.any(viewer.layers["B annotations"].data)
    assert not widget._saver.enabled and any("'A'" in e and "'B'" in e for e in errors)
    viewer.layers["B annotations"].paint((30, 30), 5)
    _settle(qtbot, widget)
    assert (folder / ANNOTATIONS_FILE).read_bytes() == before
    assert json.loads((folder / PROJECT_FILE).read_text())["name"] == "A"


def test_the_same_file_opened_from_another_path_keeps_its_chosen_project(
    make_napari_viewer, qtbot, tmp_path, messages
):
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    path = _image_file(tmp_path / "one", name="a.tif")
    copy = tmp_path / "two" / "a.tif"
    shutil.copy(path, copy)
    folder = tmp_path / "projects" / "p1"
    folder.parent.mkdir()
    viewer = make_napari_viewer()
    widget, _ = _widget(viewer, path)
    _annotated_in(qtbot, widget, folder)
    viewer.layers.remove(widget._annotations)
    _start_on(widget, viewer.open(copy)[0], folder)
    assert widget._saver.enabled and widget._annotations.data[10, 10] == 1


def test_a_layer_left_while_accept_runs_stays_read_only(
    make_napari_viewer, qtbot, tmp_path, errors, monkeypatch
):
    from napari_unet.widgets import _annotate_work

    done, real = [], _annotate_work._done
    monkeypatch.setattr(_annotate_work, "_done", lambda *a: (real(*a), done.append(a[1])))
    a_path, b_path = _image_file(tmp_path, name="a.tif"), _image_file(tmp_path, name="b.tif")
    viewer = make_napari_viewer()
    widget, _ = _widget(viewer, a_path)
    b = viewer.open(b_path)[0]
    prediction = np.zeros((40, 50), np.int32)
    prediction[5:15, 5:15] = 1
    widget._prediction_combo.value = viewer.add_labels(prediction, name="a segmentation")
    a_labels = widget._annotations
    widget._accept_btn.native.click()
    _start_on(widget, b)  # while the accept runs
    qtbot.waitUntil(lambda: a_labels in done, timeout=WORKER_MS)
    assert not a_labels.editable  # no session saves it: strokes there would be lost
    _start_on(widget, viewer.layers["a"])
    assert widget._annotations is a_labels and a_labels.editable


def test_a_saved_empty_region_replaces_the_whole_image_rectangle(
    make_napari_viewer, qtbot, tmp_path, errors
):
    path = _image_file(tmp_path)
    folder = tmp_path / "proj"
    viewer = make_napari_viewer()
    widget, _ = _widget(viewer, path)
    widget._folder.value = folder
    widget._annotations.paint((10, 10), 1)
    widget._region.data = []  # the region is drawn later
    _settle(qtbot, widget)
    assert load_project(folder).region_data == []
    viewer.close()
    viewer = make_napari_viewer()
    widget, _ = _widget(viewer, path)  # the next day: Start, then the project folder
    widget._folder.value = folder
    _settle(qtbot, widget)
    widget._saver.flush()
    assert widget._annotations.data[10, 10] == 1
    assert len(widget._region.data) == 0
    assert load_project(folder).region_data == []


@pytest.mark.parametrize("with_folder", [False, True])
def test_a_removed_region_layer_comes_back_as_it_was(
    make_napari_viewer, qtbot, tmp_path, errors, with_folder
):
    viewer = make_napari_viewer()
    image = viewer.add_image(np.random.default_rng(2).random((40, 50)), name="A")
    widget, _ = _widget(viewer, layer=image)
    if with_folder:  # saved there all along: it comes back from the folder or the dock alike
        widget._folder.value = tmp_path / "proj"
    region = widget._region
    region.data = []
    region.add(np.array([[0, 0], [10, 10]], float), shape_type="rectangle")
    widget._annotations.paint((5, 5), 1)
    viewer.layers.remove(region)
    _start_on(widget, image)
    back = viewer.layers["A annotated region"]
    assert back is widget._region and len(back.data) == 1
    assert np.allclose(np.asarray(back.data[0]).max(0), [10, 10])


def test_a_folder_holding_the_users_own_annotations_tif_is_refused(
    make_napari_viewer, qtbot, tmp_path, errors
):
    path = _image_file(tmp_path)
    truth = np.zeros((40, 50), np.uint16)
    truth[0:10, 0:10], truth[20:30, 20:30] = 1, 2
    tifffile.imwrite(tmp_path / ANNOTATIONS_FILE, truth)  # not napari-unet's: no project.json
    viewer = make_napari_viewer()
    widget, _ = _widget(viewer, path)
    widget._folder.value = tmp_path  # the image's own folder
    assert not np.any(widget._annotations.data) and not widget._saver.enabled
    assert any("overwrite" in e and ANNOTATIONS_FILE in e for e in errors)
    widget._annotations.paint((35, 45), 3)
    _settle(qtbot, widget)
    widget._saver.flush()
    assert np.array_equal(tifffile.imread(tmp_path / ANNOTATIONS_FILE), truth)
    assert not (tmp_path / PROJECT_FILE).exists() and not (tmp_path / REGION_FILE).exists()


def test_a_project_folder_is_told_by_its_files(tmp_path):
    image = _image_file(tmp_path)
    identity = image_identity(tifffile.imread(image), "cells", (40, 50), source=image)
    bare = tmp_path / "bare"
    bare.mkdir()
    tifffile.imwrite(bare / ANNOTATIONS_FILE, np.ones((40, 50), np.uint16))
    with pytest.raises(InputError, match="did not write"):
        check_project_folder(bare, image, identity=identity)
    with pytest.raises(InputError, match="did not write"):
        check_project_folder(bare, None, fileless=True)
    check_project_folder(bare, image)  # the core's own reading stays as it was
    # a project saved with its region (older sessions, or a save cut short) is napari-unet's
    older = save_project(tmp_path / "older", np.ones((40, 50), np.uint16), [], [])
    check_project_folder(older, image, identity=identity)
    # the default folder beside the image keeps the project of its renamed file
    folder = project_folder_for(image)
    save_project(folder, np.ones((40, 50), np.uint16), identity={**identity, "file_name": "x.tif"})
    check_project_folder(folder, image, identity=identity)
