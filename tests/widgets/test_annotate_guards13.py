"""The Annotate dock: files Export and Import refuse, a removed project folder, a script's edit.

Each test fails on the dock before its fix: Export TIFF wrote over another open image and
into another image's project folder (its saved cells replaced); Import TIFF read the
annotated image itself as a mask; after the project folder was removed, autosave and Save
now wrote only what differed from their last save (the next Start opened no cells, or no
region) while the status said "Saved"; a script's in-place edit was not autosaved; a
project folder typed as ``~/projA`` was refused ("inside ~, which does not exist").
"""

from __future__ import annotations

import shutil

import numpy as np
import tifffile
from test_annotate_hunt5 import _saved, _settle, _widget

from napari_unet.core.annotation.project import (
    REGION_FILE,
    load_project,
    project_folder_for,
    save_project,
)


def _image(tmp_path, name="cells.tif", shift=0):
    path = tmp_path / name
    tifffile.imwrite(path, (np.random.default_rng(shift).random((40, 50)) * 200).astype(np.uint8))
    return path


def _export(qtbot, widget, path):
    widget._tiff_path.value = path
    widget._export_btn.native.click()
    qtbot.wait(300)  # an export (not refused) runs in a worker


def test_export_never_writes_over_an_open_image_nor_into_a_project(
    make_napari_viewer, qtbot, tmp_path, errors
):
    a, b = _image(tmp_path, "a.tif"), _image(tmp_path, "b.tif", shift=1)
    b_pixels, b_folder = tifffile.imread(b), project_folder_for(b)
    b_cells = np.zeros((40, 50), np.uint16)
    b_cells[30:35, 30:35] = 7
    save_project(b_folder, b_cells, [], [], {"name": "b"}, image=b)  # b's saved work
    viewer = make_napari_viewer()
    image_a = viewer.open(a)[0]
    viewer.open(b)
    widget = _widget(viewer, image_a)
    widget._annotations.paint((10, 10), 3)
    _settle(qtbot, widget)
    _export(qtbot, widget, b)  # before: b.tif's pixels replaced by a's mask
    assert np.array_equal(tifffile.imread(b), b_pixels)
    assert "Export refused" in widget._status.value and "open layer 'b'" in errors[-1]
    _export(qtbot, widget, b_folder / "annotations.tif")  # before: b's cells replaced by a's
    assert np.array_equal(_saved(b_folder), b_cells)
    assert "project folder b.napari-unet" in errors[-1]
    _export(qtbot, widget, tmp_path / "a_cells.tif")  # elsewhere: written
    qtbot.waitUntil(lambda: (tmp_path / "a_cells.tif").exists(), timeout=10_000)


def test_import_refuses_the_annotated_image_itself(make_napari_viewer, qtbot, tmp_path, errors):
    path = _image(tmp_path)
    viewer = make_napari_viewer()
    widget = _widget(viewer, viewer.open(path)[0])
    widget._annotations.paint((10, 10), 3)
    widget._tiff_path.value = path
    widget._import_btn.native.click()  # before: "Imported 199 cells" (grey levels as ids)
    qtbot.wait(300)
    assert set(np.unique(widget._annotations.data)) == {0, 3}
    assert "Import refused" in widget._status.value and "being annotated" in errors[-1]


def _restarted(make_napari_viewer, path):
    viewer = make_napari_viewer()
    return _widget(viewer, viewer.open(path)[0])


def test_a_removed_project_folder_gets_everything_again(make_napari_viewer, qtbot, tmp_path):
    path = _image(tmp_path)
    viewer = make_napari_viewer()
    widget = _widget(viewer, viewer.open(path)[0])
    region = [np.array([[0, 0], [0, 25], [20, 25], [20, 0]], float)]
    widget._region.data = region
    widget._annotations.paint((10, 10), 3)
    _settle(qtbot, widget)
    folder = project_folder_for(path)
    shutil.rmtree(folder)  # the data folder tidied, a sync tool
    widget._annotations.paint((30, 30), 4)  # before: only annotations.tif written again
    _settle(qtbot, widget)
    project = load_project(folder, (40, 50))
    assert {3, 4} <= set(np.unique(project.annotations).tolist())
    assert len(project.region_data) == 1 and np.allclose(project.region_data[0], region[0])
    shutil.rmtree(folder)
    widget._save_btn.native.click()  # before: wrote nothing, the status said "Saved"
    _settle(qtbot, widget)
    assert {3, 4} <= set(np.unique(_saved(folder)).tolist()) and (folder / REGION_FILE).exists()
    assert widget._saved.value.startswith("Saved to")
    viewer.close()
    again = _restarted(make_napari_viewer, path)
    assert {3, 4} <= set(np.unique(again._annotations.data).tolist())


def test_a_scripts_in_place_edit_is_autosaved(make_napari_viewer, qtbot, tmp_path):
    path = _image(tmp_path)
    viewer = make_napari_viewer()
    widget = _widget(viewer, viewer.open(path)[0])
    labels = widget._annotations
    labels.paint((10, 10), 3)
    _settle(qtbot, widget)
    labels.data[20:30, 20:30] = 9  # napari's documented in-place edit, by a script
    labels.refresh()  # before: seen as a redraw, saved at the next stroke or close only
    _settle(qtbot, widget)
    assert 9 in _saved(project_folder_for(path))


def test_a_redraw_of_an_untouched_session_writes_nothing(make_napari_viewer, qtbot, tmp_path):
    path = _image(tmp_path)
    viewer = make_napari_viewer()
    widget = _widget(viewer, viewer.open(path)[0])
    widget._annotations.refresh()
    _settle(qtbot, widget)
    assert not project_folder_for(path).exists()


def test_a_typed_home_folder_is_the_users(make_napari_viewer, qtbot, tmp_path, errors, monkeypatch):
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir(), cwd.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(cwd)
    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros((40, 50), np.uint8), name="A")  # no file
    widget = _widget(viewer, image)
    widget._folder.line_edit.value = "~/projA"
    widget._folder.line_edit.native.setModified(True)
    widget._folder.line_edit.native.editingFinished.emit()  # typed, Return
    widget._annotations.paint((10, 10), 3)
    _settle(qtbot, widget)
    assert errors == []  # before: "the project folder ~/projA is inside ~, which does not exist"
    assert 3 in _saved(home / "projA") and not list(cwd.iterdir())
