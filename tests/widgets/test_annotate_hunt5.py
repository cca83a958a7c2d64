"""The Annotate dock: a folder chosen for the next image, a failed save, a side view of a stack.

Each test fails on the dock before its fix: a project folder chosen for the next image (before
its Start) took the running session's project, and that image was then refused its own new
folder; a disk-full save left a region.json newer than annotations.tif (its new area read as
annotated background); Accept on a stack shown from the side filled a Z plane not on screen.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from napari_unet import touching_cells
from napari_unet.core.annotation.project import ANNOTATIONS_FILE, PROJECT_FILE, REGION_FILE
from napari_unet.widgets.annotate import AnnotateWidget

WORKER_MS = 30_000


def _widget(viewer, layer, folder=None, axes="auto"):
    widget = AnnotateWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget._saver.timer.setInterval(30)  # the 2 s quiet period, shortened for tests
    widget._image_combo.value = layer
    widget._axes.value = axes
    if folder is not None:
        widget._folder.value = folder
    widget._start_btn.native.click()
    return widget


def _settle(qtbot, widget, ms=200):
    qtbot.wait(ms)
    idle = lambda: not widget._saver.timer.isActive() and not widget._saver.busy  # noqa: E731
    qtbot.waitUntil(idle, timeout=WORKER_MS)


def _saved(folder):
    import tifffile

    return tifffile.imread(folder / ANNOTATIONS_FILE)


def test_a_folder_chosen_for_the_next_image_is_its_own(make_napari_viewer, qtbot, tmp_path, errors):
    """Before, the folder went to the running session: A's project was written into projB,
    B was refused it ("holds the annotations of the image 'A'") and B's strokes not saved."""
    image, _ = touching_cells((96, 96), n_cells=8, seed=1)
    viewer = make_napari_viewer()
    a = viewer.add_image(image, name="A")  # no file, as a sample
    b = viewer.add_image(np.roll(image, 30, axis=1), name="B")
    proj_a, proj_b = tmp_path / "projA", tmp_path / "projB"
    widget = _widget(viewer, a, proj_a)
    labels_a = widget._annotations
    labels_a.paint((10, 10), 1)
    _settle(qtbot, widget)
    labels_a.paint((60, 60), 2)  # A's last cell: the user moves on at once
    widget._image_combo.value = b  # B, its own folder (Browse, or typed), then Start
    widget._folder.value = proj_b
    assert widget._saver.folder == proj_a and "for B" in widget._status.value
    widget._image_combo.value = a  # a change of mind: the box shows A's folder again
    assert Path(widget._folder.value) == proj_a == widget._saver.folder
    widget._image_combo.value = b
    widget._folder.value = proj_b
    widget._start_btn.native.click()
    assert not errors and widget._saver.enabled and widget._saver.folder == proj_b
    widget._annotations.paint((40, 40), 1)
    qtbot.waitUntil(lambda: bool((proj_b / ANNOTATIONS_FILE).exists()), timeout=WORKER_MS)
    _settle(qtbot, widget)
    assert json.loads((proj_b / PROJECT_FILE).read_text())["name"] == "B"
    assert _saved(proj_b)[40, 40] == 1 and not np.any(_saved(proj_b)[60, 60])
    assert json.loads((proj_a / PROJECT_FILE).read_text())["name"] == "A"
    np.testing.assert_array_equal(_saved(proj_a), labels_a.data)  # A's work whole, both cells
    assert _saved(proj_a)[60, 60] == 2
    # The folder changed while the box shows the running image still moves its autosave.
    widget._folder.value = tmp_path / "projB2"
    assert widget._saver.folder == tmp_path / "projB2"
    qtbot.waitUntil(
        lambda: bool((tmp_path / "projB2" / ANNOTATIONS_FILE).exists()), timeout=WORKER_MS
    )
    _settle(qtbot, widget)
    assert _saved(tmp_path / "projB2")[40, 40] == 1 and not errors


def test_a_failed_annotations_write_leaves_the_saved_region_as_it_was(
    make_napari_viewer, qtbot, tmp_path, errors, monkeypatch
):
    """Before, region.json was written before annotations.tif: on a full disk the region on
    disk claimed area whose cells were never saved."""
    from napari_unet.core.annotation import project

    image, _ = touching_cells((80, 80), n_cells=6, seed=2)
    viewer = make_napari_viewer()
    folder = tmp_path / "proj"
    widget = _widget(viewer, viewer.add_image(image, name="cells"), folder)
    widget._annotations.paint((10, 10), 1)
    qtbot.waitUntil(lambda: bool((folder / ANNOTATIONS_FILE).exists()), timeout=WORKER_MS)
    _settle(qtbot, widget)
    region_before = (folder / REGION_FILE).read_text()
    ann_before = _saved(folder)

    def full(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    write = project.write_annotations
    monkeypatch.setattr(project, "write_annotations", full)
    widget._region.add_rectangles(np.array([[50.0, 50.0], [70.0, 70.0]]))  # a new region
    widget._annotations.paint((40, 40), 2)
    qtbot.waitUntil(lambda: widget._saver.failure is not None, timeout=WORKER_MS)
    _settle(qtbot, widget)
    assert any("No space left" in e for e in errors)
    assert (folder / REGION_FILE).read_text() == region_before  # consistent with the cells
    np.testing.assert_array_equal(_saved(folder), ann_before)
    monkeypatch.setattr(project, "write_annotations", write)  # space again: both written
    widget._save_btn.native.click()
    qtbot.waitUntil(lambda: widget._saver.failure is None, timeout=WORKER_MS)
    _settle(qtbot, widget)
    assert (folder / REGION_FILE).read_text() != region_before and _saved(folder)[40, 40] == 2


def test_accept_is_refused_while_the_stack_is_shown_from_the_side(
    make_napari_viewer, qtbot, errors
):
    """Before, with Z and X on screen (the slider on Y), Accept filled hidden Z plane 3."""
    planes = [touching_cells((64, 64), n_cells=6, seed=s) for s in range(5)]
    stack = np.stack([p[0] for p in planes])
    truth = np.stack([p[1] for p in planes]).astype(np.int32)
    viewer = make_napari_viewer()
    widget = _widget(viewer, viewer.add_image(stack, name="stack"), axes="stack")
    labels = widget._annotations
    prediction = viewer.add_labels(truth, name="stack segmentation")
    widget._prediction_combo.value = prediction
    viewer.dims.set_current_step(0, 3)
    viewer.dims.order = (1, 0, 2)  # napari's roll/transpose: the ZX section on screen
    viewer.dims.set_current_step(1, 30)
    widget._accept_btn.native.click()
    qtbot.waitUntil(lambda: bool(labels.editable and widget._accept_btn.enabled), timeout=WORKER_MS)
    qtbot.wait(100)
    assert not np.any(labels.data) and len(widget._region.data) == 0
    assert any("no plane of" in e and "transpose" in e for e in errors)
    viewer.dims.order = (0, 1, 2)  # the planes again: Accept fills the plane on screen
    widget._accept_btn.native.click()
    qtbot.waitUntil(lambda: bool(np.any(labels.data)), timeout=WORKER_MS)
    filled = np.nonzero(labels.data.reshape(len(stack), -1).any(1))[0]
    assert filled.tolist() == [3]
