"""Regions drawn with napari's New shapes over channel-first images, and on other scales.

New shapes over a channel-first (C, Y, X) image makes shapes with 3D vertices (the leading
one the channel slider's); before, the Train dock refused them as the region of the 2D
labels ("a rectangle with vertices of shape (4, 3) does not fit an image of shape (96,
96)"). A rotated ellipse on a Shapes layer of another scale than the labels' marked the
wrong pixels (:mod:`tests.core.test_region_shapes_hunt` has the rasterising itself).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari._app_model.actions._file import new_shapes  # noqa: E402

from napari_unet import touching_cells  # noqa: E402
from napari_unet.core.errors import InputError  # noqa: E402
from napari_unet.widgets import _train_helpers  # noqa: E402
from napari_unet.widgets._layers import region_array  # noqa: E402
from napari_unet.widgets.train import TrainWidget  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")
RECT = [[0, 0], [0, 60], [95, 60], [95, 0]]  # rows 0..95, columns 0..60


def _channel_first(make_napari_viewer, select: str | None):
    """A (2, 96, 96) image, its 2D labels and a New shapes layer, as napari makes it."""
    img, lab = touching_cells((96, 96), n_cells=10, seed=0)
    viewer = make_napari_viewer()
    viewer.add_image(np.stack([img, img[::-1]]), name="cells")
    viewer.add_labels(lab, name="cells labels")
    viewer.layers.selection.active = None if select is None else viewer.layers[select]
    new_shapes(viewer)  # napari's New shapes button
    shapes = viewer.layers[-1]
    assert shapes.ndim == (2 if select == "cells labels" else 3)  # 3D: the image's axes
    return viewer, shapes


def _rectangle(shapes, viewer, rect=RECT):
    """A rectangle drawn on the plane in view (napari puts the slider's position first)."""
    lead = list(viewer.dims.current_step[: shapes.ndim - 2])
    shapes.add_rectangles(np.array([[*lead, *corner] for corner in rect], float))
    return shapes


def _train_dock(viewer, tmp_path, shapes, monkeypatch):
    """The Train dock set to train a tiny model 2 steps, and the snapshots Start takes."""
    widget = TrainWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Train")
    widget._preset.value = "tiny"
    widget._steps.value = 2
    widget._batch.value = 1
    widget._crop.value = 48
    widget._val_every.value = 100
    widget._device.value = "cpu"
    widget._save_path.value = tmp_path / "m.safetensors"
    widget._region.value = shapes
    taken, real = [], _train_helpers.snapshot
    monkeypatch.setattr(_train_helpers, "snapshot", lambda *a: taken.append(real(*a)) or taken[-1])
    return widget, taken


def test_train_takes_a_new_shapes_region_on_a_channel_first_image(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    viewer, shapes = _channel_first(make_napari_viewer, "cells")
    widget, taken = _train_dock(viewer, tmp_path, _rectangle(shapes, viewer), monkeypatch)
    widget._start.native.click()
    qtbot.waitUntil(lambda: widget._done.is_set() and widget._start.enabled, timeout=120_000)
    assert widget._result is not None, widget._status.value
    want = np.zeros((96, 96), bool)
    want[0:96, 0:61] = True
    assert len(taken) == 1 and np.array_equal(taken[0]["regions"][0], want)


@pytest.mark.parametrize("select", [None, "cells labels"])
def test_a_new_shapes_region_marks_the_drawn_rectangle_whatever_was_selected(
    make_napari_viewer, select
):
    viewer, shapes = _channel_first(make_napari_viewer, select)
    labels = viewer.layers["cells labels"]
    _rectangle(shapes, viewer, [[10, 20], [10, 50], [40, 50], [40, 20]])
    mask = region_array(shapes, labels.data.shape, like=labels)
    rows, cols = np.nonzero(mask)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (10, 40, 20, 50)
    assert mask.sum() == 31 * 31


def test_a_region_that_does_not_fit_the_labels_is_still_refused(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    viewer, shapes = _channel_first(make_napari_viewer, "cells")
    _rectangle(shapes, viewer, [[0, 200], [0, 260], [95, 260], [95, 200]])  # right of them
    widget, _ = _train_dock(viewer, tmp_path, shapes, monkeypatch)
    widget._start.native.click()
    assert widget._start.enabled and widget._result is None
    assert "is empty" in widget._status.value
    with pytest.raises(InputError, match=r"vertices of shape \(4, 3\) does not fit"):
        region_array(shapes, (96, 96))  # no labels layer to read its axes from


def test_a_stacks_3d_shapes_keep_their_plane(make_napari_viewer):
    viewer = make_napari_viewer()
    labels = viewer.add_labels(np.zeros((4, 64, 64), np.int32), scale=(1, 0.5, 0.5))
    shapes = viewer.add_shapes(ndim=3, name="region")
    shapes.add_rectangles(np.array([[2, 0, 0], [2, 0, 10], [2, 10, 10], [2, 10, 0]], float))
    mask = region_array(shapes, labels.data.shape, like=labels)
    assert mask[2].sum() == 21 * 21 and not mask[[0, 1, 3]].any()


def test_a_turned_ellipse_on_another_scale_marks_the_ellipse_drawn(make_napari_viewer):
    """Labels of scale (1, 0.5), a Shapes layer of scale 1, an ellipse turned by 45 degrees."""
    viewer = make_napari_viewer()
    labels = viewer.add_labels(np.zeros((120, 120), np.int32), scale=(1.0, 0.5))
    t = np.deg2rad(45)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    box = np.array([[-25, -10], [-25, 10], [25, 10], [25, -10]], float) @ rot.T + (60, 30)
    shapes = viewer.add_shapes([box], shape_type="ellipse", name="region")
    got = region_array(shapes, (120, 120), like=labels)
    rr, cc = np.mgrid[0:120, 0:120]
    centres = np.stack([rr.ravel() * 1.0, cc.ravel() * 0.5], axis=1)  # in the shapes' data
    drawn = shapes.to_masks((120, 60))  # napari's own mask, on the shapes' unit grid ...
    off = centres @ rot - np.array([60, 30]) @ rot  # ... and the formula at pixel centres
    want = ((off[:, 0] / 25) ** 2 + (off[:, 1] / 10) ** 2 < 1).reshape(120, 120)
    assert drawn.sum() > 0 and int((got != want).sum()) <= 3
    napari_on_labels = drawn[0][rr, np.minimum(np.round(cc * 0.5).astype(int), 59)]
    assert int((got != napari_on_labels).sum()) < 0.05 * want.sum()
