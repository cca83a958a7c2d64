"""The Annotate dock never loses strokes, and writes only what the user did.

Each test fails on the dock before its fix: removing the region layer ended the session
while the annotations stayed editable (strokes never saved); a plane slider move wrote an
empty project; a re-Start kept the old scale; a typed folder path made projects in
half-typed folders; an image without a file took another file's project; an empty TIFF
field ended in a traceback; an undo on a hidden layer was not saved.
"""

from __future__ import annotations

import json

import numpy as np
import tifffile
from qtpy.QtCore import Qt

from napari_unet.core.annotation.project import (
    ANNOTATIONS_FILE,
    PROJECT_FILE,
    load_project,
    project_folder_for,
)
from napari_unet.widgets.annotate import AnnotateWidget

WORKER_MS = 30_000


def _image_file(tmp_path, shape=(40, 50), name="cells.tif"):
    rng = np.random.default_rng(0)
    path = tmp_path / name
    tifffile.imwrite(path, (rng.random(shape) * 200).astype(np.uint8))
    return path


def _widget(viewer, path=None, axes="auto", layer=None, interval=30):
    layer = viewer.open(path)[0] if layer is None else layer
    widget = AnnotateWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget._saver.timer.setInterval(interval)  # the 2 s quiet period, shortened
    widget._image_combo.value = layer
    widget._axes.value = axes
    widget._start_btn.native.click()
    return widget, layer


def _settle(qtbot, widget, ms=200):
    qtbot.wait(ms)
    idle = lambda: not widget._saver.timer.isActive() and not widget._saver.busy  # noqa: E731
    qtbot.waitUntil(idle, timeout=WORKER_MS)


def _on_disk(folder):
    """The annotations saved in ``folder`` (none yet while the first save is written)."""
    project = load_project(folder)
    if project is None or project.annotations is None:
        return np.zeros(0, np.uint32)
    return project.annotations


def _saved_without(folder, cell: int) -> bool:
    """Whether ``folder`` holds saved annotations (read whole) without ``cell``."""
    saved = _on_disk(folder)
    return saved.size > 0 and cell not in saved


def _saved_equal(qtbot, widget, folder):
    same = lambda: np.array_equal(_on_disk(folder), widget._annotations.data)  # noqa: E731
    qtbot.waitUntil(lambda: (folder / ANNOTATIONS_FILE).exists() and same(), timeout=WORKER_MS)


def test_removing_the_region_layer_keeps_saving_strokes(
    make_napari_viewer, qtbot, tmp_path, errors
):
    path = _image_file(tmp_path)
    folder = project_folder_for(path)
    viewer = make_napari_viewer()
    widget, _ = _widget(viewer, path)
    labels = widget._annotations
    labels.paint((10, 10), 1)
    _settle(qtbot, widget)
    viewer.layers.remove(widget._region)
    assert widget._annotations is labels and widget._saver.enabled and labels.editable
    labels.paint((30, 30), 2)  # painted after the region layer went
    qtbot.waitUntil(lambda: 2 in _on_disk(folder), timeout=WORKER_MS)
    widget._start_btn.native.click()  # the region layer comes back, autosave stays on
    assert "cells annotated region" in viewer.layers
    assert widget._saver.enabled and not errors
    labels.paint((20, 40), 3)
    qtbot.waitUntil(lambda: 3 in _on_disk(folder), timeout=WORKER_MS)


def test_a_layer_no_session_saves_is_read_only_until_its_image_starts_again(
    make_napari_viewer, qtbot, tmp_path, errors
):
    a, b = _image_file(tmp_path, name="a.tif"), _image_file(tmp_path, name="b.tif")
    viewer = make_napari_viewer()
    widget, image_a = _widget(viewer, a)
    labels_a = widget._annotations
    labels_a.paint((10, 10), 1)
    _settle(qtbot, widget)
    widget._image_combo.value = viewer.open(b)[0]
    widget._start_btn.native.click()
    assert not labels_a.editable  # before, painted on and never saved
    widget._image_combo.value = image_a
    widget._start_btn.native.click()
    assert widget._annotations is labels_a and labels_a.editable and widget._saver.enabled
    labels_a.paint((30, 30), 2)
    qtbot.waitUntil(lambda: 2 in _on_disk(project_folder_for(a)), timeout=WORKER_MS)
    assert not errors


def test_start_again_continues_a_layer_whose_last_save_failed(
    make_napari_viewer, qtbot, tmp_path, errors, monkeypatch
):
    from napari_unet.widgets import _autosave

    path = _image_file(tmp_path)
    folder = project_folder_for(path)
    viewer = make_napari_viewer()
    widget, _ = _widget(viewer, path)
    widget._annotations.paint((10, 10), 1)
    _settle(qtbot, widget)
    real = _autosave.save_project

    def disk_away(*args, **kwargs):
        raise OSError("the disk is away")

    monkeypatch.setattr(_autosave, "save_project", disk_away)
    widget._saver.timer.setInterval(60_000)
    widget._annotations.paint((30, 30), 2)
    widget._start_btn.native.click()  # its flush fails: the folder holds the older save
    assert any("disk is away" in e for e in errors)
    monkeypatch.setattr(_autosave, "save_project", real)
    assert widget._saver.enabled  # before: "differ from the layer", autosave off
    widget._save_btn.native.click()
    qtbot.waitUntil(lambda: 2 in _on_disk(folder), timeout=WORKER_MS)


def test_moving_the_slider_or_hiding_the_layer_writes_nothing(make_napari_viewer, qtbot, tmp_path):
    path = _image_file(tmp_path, shape=(8, 40, 50))
    folder = project_folder_for(path)
    viewer = make_napari_viewer()
    widget, _ = _widget(viewer, path)
    viewer.dims.set_current_step(0, 5)
    widget._annotations.visible = False
    widget._annotations.visible = True
    _settle(qtbot, widget, 400)
    assert not folder.exists()  # before, an empty project was written
    widget._annotations.paint((5, 10, 10), 4)  # an edit is still saved
    qtbot.waitUntil(lambda: folder.exists() and 4 in _on_disk(folder), timeout=WORKER_MS)


def test_hiding_the_layer_then_starting_with_another_axis_keeps_autosave(
    make_napari_viewer, qtbot, tmp_path, errors
):
    path = _image_file(tmp_path, shape=(4, 40, 50))
    viewer = make_napari_viewer()
    widget, _ = _widget(viewer, path)  # four planes read as channels
    widget._annotations.visible = False
    widget._annotations.visible = True
    _settle(qtbot, widget, 400)
    widget._axes.value = "stack"
    widget._start_btn.native.click()
    assert widget._saver.enabled and not errors


def test_undo_and_redo_are_saved_on_a_hidden_layer_too(make_napari_viewer, qtbot, tmp_path):
    path = _image_file(tmp_path)
    folder = project_folder_for(path)
    viewer = make_napari_viewer()
    widget, _ = _widget(viewer, path)
    labels = widget._annotations
    labels.paint((10, 10), 1)
    _settle(qtbot, widget)
    labels.paint((30, 30), 2)
    _saved_equal(qtbot, widget, folder)
    labels.undo()  # on screen: napari's redraw only
    qtbot.waitUntil(lambda: _saved_without(folder, 2), timeout=WORKER_MS)
    labels.visible = False
    labels.redo()  # hidden: napari sends no event at all
    qtbot.waitUntil(lambda: 2 in _on_disk(folder), timeout=WORKER_MS)
    labels.undo()
    qtbot.waitUntil(lambda: _saved_without(folder, 2), timeout=WORKER_MS)
    # The count follows its own debounce timer, not the save (a loaded CI machine saved first)
    qtbot.waitUntil(lambda: "1 cells" in widget._counts.value, timeout=WORKER_MS)


def test_start_again_gives_reused_layers_the_images_new_scale(make_napari_viewer, qtbot, tmp_path):
    path = _image_file(tmp_path)
    viewer = make_napari_viewer()
    widget, image = _widget(viewer, path)
    widget._annotations.paint((10, 10), 1)
    _settle(qtbot, widget)
    image.scale, image.translate = (0.5, 0.5), (3.0, 4.0)
    widget._start_btn.native.click()
    for layer in (widget._annotations, widget._region):
        np.testing.assert_allclose(layer.scale, image.scale)
        np.testing.assert_allclose(layer.translate, image.translate)


def test_a_typed_project_folder_is_used_when_typing_ends_and_makes_no_parents(
    make_napari_viewer, qtbot, tmp_path, errors
):
    path = _image_file(tmp_path)
    viewer = make_napari_viewer()
    widget, _ = _widget(viewer, path)
    widget._annotations.paint((10, 10), 1)
    _settle(qtbot, widget)
    edit = widget._folder.line_edit.native
    target = tmp_path / "myproject_final"
    qtbot.keyClicks(edit, str(target)[:-6])  # a pause in the middle of typing
    _settle(qtbot, widget, 300)
    qtbot.keyClicks(edit, str(target)[-6:])
    _settle(qtbot, widget, 300)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["cells.napari-unet"]
    qtbot.keyClick(edit, Qt.Key.Key_Return)  # typing finished
    qtbot.waitUntil(lambda: (target / ANNOTATIONS_FILE).exists(), timeout=WORKER_MS)
    _settle(qtbot, widget)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == [
        "cells.napari-unet",
        "myproject_final",
    ]
    edit.clear()
    qtbot.keyClicks(edit, str(tmp_path / "typo" / "project"))
    qtbot.keyClick(edit, Qt.Key.Key_Return)
    widget._annotations.paint((30, 30), 2)
    _settle(qtbot, widget, 300)
    assert not (tmp_path / "typo").exists() and not widget._saver.enabled
    assert any("does not exist" in e for e in errors)


def test_an_image_without_a_file_never_takes_another_files_project(
    make_napari_viewer, qtbot, tmp_path, errors
):
    path = _image_file(tmp_path)
    folder = project_folder_for(path)
    viewer = make_napari_viewer()
    widget, _ = _widget(viewer, path)
    widget._annotations.paint((10, 10), 1)
    _settle(qtbot, widget)
    before = (folder / ANNOTATIONS_FILE).read_bytes()
    other = viewer.add_image(np.zeros((40, 50), np.uint8), name="unrelated")  # no file
    widget._image_combo.value = other
    widget._folder.value = folder  # chosen for it (the box follows the picked image)
    widget._start_btn.native.click()
    assert any("holds the annotations of cells.tif" in e for e in errors)
    assert not widget._saver.enabled and not np.any(widget._annotations.data)
    widget._annotations.paint((30, 30), 7)
    widget._save_btn.native.click()
    _settle(qtbot, widget)
    assert (folder / ANNOTATIONS_FILE).read_bytes() == before
    assert json.loads((folder / PROJECT_FILE).read_text())["file_name"] == "cells.tif"
    assert _on_disk(folder)[10, 10] == 1  # the Python API still reads it without an image


def test_export_and_import_with_no_file_chosen_say_so(make_napari_viewer, qtbot, tmp_path, errors):
    viewer = make_napari_viewer()
    widget, _ = _widget(viewer, _image_file(tmp_path))
    for value in (None, tmp_path):  # the empty field (its value is then '.'), a folder
        if value is not None:
            widget._tiff_path.value = value
        errors.clear()
        widget._export_btn.native.click()  # before: a ValueError traceback
        widget._import_btn.native.click()  # before: "Import refused: .: no such file"
        qtbot.wait(200)
        assert errors == [
            "Start annotating and enter a TIFF file name first.",
            "Start annotating and choose a TIFF file first.",
        ]
