"""Two napari windows (or two Annotate docks) never autosave one project folder at once.

Fails on the dock before the fix: two windows on the same image file both started a
session saving its project folder, and each save wrote its own layer over the other's
cells (window 1 painted 5, window 2 loaded [0 5] and painted 7, window 1 painted 9: the
folder held [0 5 9], cell 7 gone), while both status lines said "Annotating".
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from test_annotate_hunt5 import WORKER_MS, _settle, _widget

from napari_unet import touching_cells
from napari_unet.core.annotation.project import ANNOTATIONS_FILE, project_folder_for

pytest.importorskip("napari")


def _image_file(tmp_path):
    path = tmp_path / "nuclei.tif"
    tifffile.imwrite(path, touching_cells((96, 96), n_cells=8, seed=1)[0])
    return path


def _window(make_napari_viewer, path):
    from napari_unet.widgets.annotate import AnnotateWidget

    viewer = make_napari_viewer()
    image = viewer.open(path)[0]
    dock = AnnotateWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Annotate")
    dock._saver.timer.setInterval(30)  # the 2 s quiet period, shortened for tests
    dock._image_combo.value = image
    dock._start_btn.native.click()
    return dock, viewer


def _saved_ids(qtbot, dock, folder) -> list[int]:
    _settle(qtbot, dock)
    return np.unique(tifffile.imread(folder / ANNOTATIONS_FILE)).tolist()


@pytest.mark.parametrize("end", ["close the window", "start another image"])
def test_a_second_window_on_the_same_file_waits_for_the_first(
    make_napari_viewer, qtbot, tmp_path, errors, end
):
    path = _image_file(tmp_path)
    folder = project_folder_for(path)
    first, viewer1 = _window(make_napari_viewer, path)
    labels1 = viewer1.layers["nuclei annotations"]
    labels1.paint((20, 20), 5)
    assert _saved_ids(qtbot, first, folder) == [0, 5]
    errors.clear()
    second, viewer2 = _window(make_napari_viewer, path)
    assert second._annotations is None and "nuclei annotations" not in viewer2.layers
    assert "'nuclei' is annotated in another window" in second._status.value
    assert "choose another project folder" in second._status.value and len(errors) == 1
    second._folder.value = folder  # the folder chosen by hand: refused too
    second._start_btn.native.click()
    assert second._annotations is None and len(errors) == 2
    labels1.paint((60, 60), 9)  # the first window's saves go on
    assert _saved_ids(qtbot, first, folder) == [0, 5, 9]
    first._start_btn.native.click()  # the first dock restarts on its own folder
    assert first._annotations is labels1 and "Annotating nuclei" in first._status.value
    if end == "close the window":
        viewer1.close()
    else:
        other = viewer1.add_image(np.zeros((32, 32), np.uint8), name="other")
        first._image_combo.value = other
        first._folder.value = tmp_path / "other proj"
        first._start_btn.native.click()
        assert first._image is other
    second._start_btn.native.click()  # the first session ended: the folder is free
    labels2 = second._annotations
    assert labels2 is not None and "Annotating nuclei" in second._status.value
    labels2.paint((40, 80), 7)
    assert _saved_ids(qtbot, second, folder) == [0, 5, 7, 9]


def test_a_folder_another_dock_of_the_window_saves_is_refused(
    make_napari_viewer, qtbot, tmp_path, errors
):
    """Two images without a file, one project folder chosen for both: refused in the second
    dock (before, both saved there); a second dock on the same image still shares it."""
    viewer = make_napari_viewer()
    image = touching_cells((64, 64), n_cells=5, seed=2)[0]
    a = viewer.add_image(image, name="A")
    b = viewer.add_image(image[::-1].copy(), name="B")
    first = _widget(viewer, a, tmp_path / "proj")
    assert first._annotations is not None
    second = _widget(viewer, b, tmp_path / "proj")
    assert second._annotations is None
    assert "'A' is annotated in another Annotate dock of this window" in second._status.value
    second._folder.value = tmp_path / "proj2"
    second._start_btn.native.click()
    assert second._annotations is not None and second._saver.enabled
    errors.clear()
    second._folder.value = tmp_path / "proj"  # holds no project yet: autosave moves there...
    assert not second._saver.enabled and "another Annotate dock" in errors[-1]  # ...refused
    third = _widget(viewer, a, tmp_path / "proj")  # the same layer: no conflict
    assert third._annotations is first._annotations and third._saver.enabled
    first._annotations.paint((10, 10), 3)
    qtbot.waitUntil(
        lambda: bool((tmp_path / "proj" / ANNOTATIONS_FILE).exists()), timeout=WORKER_MS
    )


def test_a_folder_chosen_after_clearing_the_box_is_claimed_too(
    make_napari_viewer, qtbot, tmp_path, errors
):
    """Before, clearing the project folder box of an image without a file dropped the
    session for good: a folder chosen next was saved without a claim, and another dock
    could start there too."""
    viewer = make_napari_viewer()
    image = touching_cells((64, 64), n_cells=5, seed=2)[0]
    a = viewer.add_image(image, name="A")
    b = viewer.add_image(image[::-1].copy(), name="B")
    first = _widget(viewer, a, tmp_path / "proj")
    first._folder.value = None  # cleared: autosave off
    first._folder.value = tmp_path / "proj2"  # then another folder, holding no project yet
    assert first._saver.enabled
    second = _widget(viewer, b, tmp_path / "proj2")
    assert second._annotations is None
    assert "'A' is annotated in another Annotate dock" in second._status.value
