"""A plane marked at its first stroke is unmarked by an undo after Start is pressed again.

Start again (same image, same layers) keeps the annotations layer's undo history, but the
dock forgot which planes it had marked: an undo reaching a stroke painted before that Start
left its whole-plane rectangle on a plane with no labels, trained as all background.
"""

from __future__ import annotations

import numpy as np

from napari_unet.core.annotation.regions import region_mask
from napari_unet.widgets.annotate import AnnotateWidget

SHAPE = (5, 64, 64)
USER_RECT = np.array([[1, 0, 0], [1, 0, 30], [1, 30, 30], [1, 30, 0]], float)


def _dock(viewer):
    widget = AnnotateWidget(viewer)
    viewer.window.add_dock_widget(widget)
    return widget


def _start(widget, image, axes="stack"):
    widget._image_combo.value = image
    widget._axes.value = axes
    widget._start_btn.native.click()


def _marked(region, shape=SHAPE):
    """The planes the region covers."""
    mask = region_mask(region.data, region.shape_type, shape)
    return np.nonzero(mask.any(axis=(1, 2)))[0].tolist()


def _stack(viewer, name):
    data = np.random.default_rng(0).random(SHAPE).astype(np.float32)
    return viewer.add_image(data, name=name)


def test_an_undo_after_start_again_unmarks_the_plane_and_redo_marks_it(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    image, widget = _stack(viewer, "stack"), _dock(viewer)
    _start(widget, image)
    labels, region = widget._annotations, widget._region
    region.add(USER_RECT, shape_type="rectangle")  # the user's own region on plane 1
    labels.paint((1, 10, 10), 4)  # plane 1 has a region: nothing is added
    labels.paint((3, 40, 40), 5)  # plane 3 gets the marker's rectangle
    assert _marked(region) == [1, 3] and len(region.data) == 2
    _start(widget, image)  # Start again: the same layers, their undo history kept
    assert widget._annotations is labels and widget._region is region
    labels.undo()  # the stroke on plane 3, painted before this Start
    qtbot.waitUntil(lambda: _marked(region) == [1], timeout=2000)  # before: [1, 3]
    assert not labels.data[3].any() and len(region.data) == 1
    labels.redo()
    qtbot.waitUntil(lambda: _marked(region) == [1, 3], timeout=2000)
    labels.undo()
    qtbot.waitUntil(lambda: _marked(region) == [1], timeout=2000)
    labels.undo()  # the stroke on plane 1 too: the user's rectangle stays
    qtbot.wait(300)  # the dock's timer has looked
    assert not labels.data.any() and _marked(region) == [1] and len(region.data) == 1
    np.testing.assert_allclose(region.data[0], USER_RECT)


def test_marks_are_kept_per_layer_across_another_images_session(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    first, second, widget = _stack(viewer, "first"), _stack(viewer, "second"), _dock(viewer)
    _start(widget, first)
    labels, region = widget._annotations, widget._region
    labels.paint((2, 30, 30), 7)
    assert _marked(region) == [2]
    _start(widget, second)
    widget._annotations.paint((0, 30, 30), 1)  # another layer's own mark
    assert _marked(widget._region) == [0]
    _start(widget, first)  # back: its undo history and its marks
    labels.undo()
    qtbot.waitUntil(lambda: _marked(region) == [], timeout=2000)
    labels.redo()
    qtbot.waitUntil(lambda: _marked(region) == [2], timeout=2000)


def test_a_2d_image_keeps_its_rectangle_through_start_again_and_undo(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    image = viewer.add_image(np.random.default_rng(1).random((48, 48)), name="flat")
    widget = _dock(viewer)
    _start(widget, image, axes="auto")
    labels, region = widget._annotations, widget._region
    labels.paint((20, 20), 3)
    _start(widget, image, axes="auto")
    labels.undo()
    qtbot.wait(300)
    assert not labels.data.any() and len(region.data) == 1
    assert region_mask(region.data, region.shape_type, (48, 48)).all()
