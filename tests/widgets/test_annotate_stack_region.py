"""On a stack, a plane is annotated when the user paints on it or draws a region on it.

Start put the default whole-image rectangle on the plane on screen, the middle one as
napari opens a stack. A user who moved to plane 3 and painted 15 cells there trained on
plane 2 as all background (or was refused "no annotated cell" with no word of plane 3),
and the Evaluate and Weight map docks read plane 2 too. Now a stack starts with no region,
and the first stroke on a plane no region lies on gives it a whole-plane rectangle.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile

from napari_unet import touching_cells
from napari_unet.core.annotation.project import REGION_FILE, project_folder_for
from napari_unet.core.annotation.regions import region_mask
from napari_unet.core.errors import InputError
from napari_unet.core.training.pairs import make_pairs
from napari_unet.widgets._annotate_edits import POLL_MS
from napari_unet.widgets.annotate import AnnotateWidget

pytest.importorskip("torch")

from napari_unet.widgets import _train_helpers as th  # noqa: E402
from napari_unet.widgets.train import TrainWidget  # noqa: E402

WORKER_MS = 30_000
SHAPE = (5, 96, 96)


def _stack_file(tmp_path):
    image = np.stack([touching_cells(SHAPE[1:], n_cells=8, seed=z)[0] for z in range(5)])
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, image.astype(np.float32))
    return path


def _start(viewer, path):
    """Open the stack (napari shows its middle plane, 2) and start annotating it."""
    image = viewer.open(path)[0]
    assert viewer.dims.current_step[0] == 2
    widget = AnnotateWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget._saver.timer.setInterval(30)  # the 2 s quiet period, shortened for tests
    widget._image_combo.value = image
    widget._axes.value = "stack"
    widget._start_btn.native.click()
    return widget, image


def _paint_cells(labels, z, n=15):
    """``n`` cells of 6 x 6 pixels on plane ``z``, one stroke (napari undo item) each."""
    for i in range(n):
        y, x = divmod(i, 5)
        yy, xx = np.mgrid[10 + 20 * y : 16 + 20 * y, 5 + 18 * x : 11 + 18 * x]
        labels.data_setitem((np.full(yy.size, z), yy.ravel(), xx.ravel()), i + 1)


def _marked(region):
    """The planes the region covers."""
    mask = region_mask(region.data, region.shape_type, SHAPE)
    return np.nonzero(mask.any(axis=(1, 2)))[0].tolist()


def _train_pairs(viewer):
    """The training pairs the Train dock builds from its picks."""
    dock = TrainWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Train")
    data = th.snapshot(dock._form.pairs(), "none", None)
    opts = dock._form.config().pair_options()
    return make_pairs(data["images"], data["labels"], data["regions"], names=data["names"], **opts)


def test_the_plane_painted_after_moving_the_slider_is_the_one_trained(
    make_napari_viewer, qtbot, tmp_path
):
    viewer = make_napari_viewer()
    widget, _ = _start(viewer, _stack_file(tmp_path))
    assert _marked(widget._region) == []  # before: the middle plane, never painted
    viewer.dims.set_current_step(0, 3)
    _paint_cells(widget._annotations, 3)
    assert _marked(widget._region) == [3] and len(widget._region.data) == 1
    mask = region_mask(widget._region.data, widget._region.shape_type, SHAPE)
    assert mask[3].all() and not mask[[0, 1, 2, 4]].any()
    pairs = _train_pairs(viewer)
    assert [p.name for p in pairs] == ["stack [plane 3]"]  # before: plane 2, no cell
    assert len(np.unique(pairs[0].labels)) == 16


def test_a_users_own_region_is_kept_and_undo_adds_nothing(make_napari_viewer, qtbot, tmp_path):
    path = _stack_file(tmp_path)
    folder = project_folder_for(path)
    viewer = make_napari_viewer()
    widget, _ = _start(viewer, path)
    labels, region = widget._annotations, widget._region
    part = np.array([[1, 0, 0], [1, 0, 40], [1, 40, 40], [1, 40, 0]], float)
    region.add(part, shape_type="rectangle")  # drawn before painting plane 1
    labels.paint((1, 20, 20), 5)  # napari's brush
    assert len(region.data) == 1 and _marked(region) == [1]  # never replaced nor widened
    viewer.dims.set_current_step(0, 4)
    labels.paint((4, 50, 50), 6)
    assert _marked(region) == [1, 4] and len(region.data) == 2
    labels.undo()  # the stroke goes, and the rectangle it gave plane 4; nothing is added
    labels.redo()
    labels.undo()
    assert _marked(region) == [1] and len(region.data) == 1
    np.testing.assert_allclose(region.data[0], part)  # the user's own shape stays
    labels.paint((4, 60, 60), 7)
    labels.paint((4, 70, 70), 7)  # a second stroke on a marked plane: nothing new
    assert _marked(region) == [1, 4] and len(region.data) == 2
    qtbot.waitUntil(lambda: (folder / REGION_FILE).exists(), timeout=WORKER_MS)
    qtbot.waitUntil(lambda: not widget._saver.busy and not widget._saver.timer.isActive())
    saved = json.loads((folder / REGION_FILE).read_text())
    assert len(saved["shapes"] if isinstance(saved, dict) else saved) == 2


def test_an_undone_stray_stroke_unmarks_its_plane_and_redo_marks_it_again(
    make_napari_viewer, qtbot, tmp_path
):
    """Before, the rectangle stayed: plane 1 (cells in the image, none painted) was trained
    as all background."""
    viewer = make_napari_viewer()
    widget, _ = _start(viewer, _stack_file(tmp_path))
    labels, region = widget._annotations, widget._region
    viewer.dims.set_current_step(0, 3)
    _paint_cells(labels, 3)
    viewer.dims.set_current_step(0, 1)
    labels.paint((1, 40, 40), 9)  # a stray stroke
    assert _marked(region) == [1, 3]
    labels.undo()  # napari refreshes the layer (its set_data event), nothing more
    qtbot.waitUntil(lambda: _marked(region) == [3], timeout=2000)
    assert not labels.data[1].any() and len(region.data) == 1
    labels.redo()
    qtbot.waitUntil(lambda: _marked(region) == [1, 3], timeout=2000)
    labels.visible = False  # a hidden layer: no event at all, the dock's timer finds it
    labels.undo()
    qtbot.waitUntil(lambda: _marked(region) == [3], timeout=2000)
    labels.visible = True
    labels.undo()  # a cell of plane 3 goes: plane 3 holds the others, it stays marked
    qtbot.wait(2 * POLL_MS)  # the dock's timer has looked
    assert _marked(region) == [3]
    assert [p.name for p in _train_pairs(viewer)] == ["stack [plane 3]"]


def test_accepting_on_an_unmarked_plane_marks_it(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    widget, _ = _start(viewer, _stack_file(tmp_path))
    prediction = np.zeros(SHAPE, np.uint16)
    prediction[:, 10:20, 10:20] = 1
    widget._prediction_combo.value = viewer.add_labels(prediction, name="prediction")
    viewer.dims.set_current_step(0, 1)
    widget._accept_btn.native.click()
    qtbot.waitUntil(lambda: widget._accept_btn.enabled, timeout=WORKER_MS)
    assert widget._annotations.data[1, 15, 15] > 0  # before: no region covered plane 1
    assert not widget._annotations.data[[0, 2, 3, 4]].any()
    assert _marked(widget._region) == [1]


def test_a_region_removed_then_painted_plane_is_kept_marked(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    widget, image = _start(viewer, _stack_file(tmp_path))
    viewer.layers.remove(widget._region)
    widget._annotations.paint((0, 30, 30), 3)
    widget._start_btn.native.click()  # the region layer comes back, plane 0 marked
    assert _marked(widget._region) == [0]


def test_a_saved_region_on_the_start_plane_loads_as_it_is(make_napari_viewer, qtbot, tmp_path):
    """A project of an older version: the region Start put on plane 2, cells there."""
    path = _stack_file(tmp_path)
    folder = project_folder_for(path)
    viewer = make_napari_viewer()
    widget, _ = _start(viewer, path)
    widget._region.add(np.array([[2, 0, 0], [2, 0, 95], [2, 95, 95], [2, 95, 0]], float))
    widget._annotations.paint((2, 40, 40), 1)
    qtbot.waitUntil(lambda: (folder / REGION_FILE).exists(), timeout=WORKER_MS)
    qtbot.waitUntil(lambda: not widget._saver.busy and not widget._saver.timer.isActive())
    region0 = np.array(widget._region.data[0])
    viewer.close()  # a live session in another window would refuse the second Start
    viewer2 = make_napari_viewer()
    widget2, _ = _start(viewer2, path)
    assert len(widget2._region.data) == 1 and _marked(widget2._region) == [2]
    np.testing.assert_allclose(widget2._region.data[0], region0)


def test_a_2d_image_keeps_its_whole_image_rectangle(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    image = viewer.add_image(touching_cells((64, 64), n_cells=4, seed=0)[0], name="cells")
    widget = AnnotateWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget._image_combo.value = image
    widget._start_btn.native.click()
    assert region_mask(widget._region.data, widget._region.shape_type, (64, 64)).all()
    widget._annotations.paint((20, 20), 1)
    assert len(widget._region.data) == 1


def test_refusal_names_the_plane_that_holds_cells_outside_the_region():
    image = np.random.default_rng(0).random(SHAPE).astype(np.float32)
    labels = np.zeros(SHAPE, np.uint16)
    for i in range(15):
        labels[3, 5 * (i // 5) + 40 : 5 * (i // 5) + 43, 5 * (i % 5) : 5 * (i % 5) + 3] = i + 1
    region = np.zeros(SHAPE, np.uint8)
    region[2] = 1
    with pytest.raises(InputError, match=r"plane 3 holds 15 cells but is outside the annotated "
                       r"region \(planes 2\); draw a region on it"):  # fmt: skip
        make_pairs([image], [labels], [region], names=["stack"])
