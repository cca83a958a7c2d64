"""The Live dock's second hunt: drags that accepted, ring cells, grids, erased background,
stack shapes, a Labels region re-read on every brush move.

- With *click to accept* on, every mouse press accepted an object: a pan drag, or placing
  a Shapes corner on another layer.
- *Accept all* wrapped a painted cell in a ring-shaped new cell when the prediction's
  outline was a pixel or two larger than the painted cell.
- Annotations on another pixel grid than the image (a pixel size) were trained on
  misaligned; Start now refuses them.
- Erased background ("not a cell here") was forgotten after Stop then Start.
- On a stack, napari's *New shapes* (3D vertices) was refused as the annotated region and
  as the *accept in* region; its error was hidden by the next status refresh.
- A Labels region was re-read whole on every brush move (``set_data``).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")

SIZE = 96
CENTRES = ((20, 20), (20, 60), (60, 20), (60, 60))


def _discs(r: int = 8):
    yy, xx = np.mgrid[:SIZE, :SIZE]
    img = np.zeros((SIZE, SIZE), np.float32)
    lab = np.zeros((SIZE, SIZE), np.int32)
    for i, (cy, cx) in enumerate(CENTRES, 1):
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        img[disc], lab[disc] = 1, i
    noise = np.random.default_rng(0).normal(0, 5, img.shape)
    return (img * 200 + 20 + noise).clip(0, 255).astype(np.uint8), lab


def _dock(viewer, image, labels, model_file):
    from napari_unet.widgets._live_parts import FILE
    from napari_unet.widgets.live import LiveWidget

    widget = LiveWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Live")
    widget._image_box.value, widget._labels_box.value = image, labels
    widget._model_file.value = model_file
    widget._model.value = FILE
    return widget


def _started(qtbot, widget):
    assert widget.start(), widget._status.value
    widget.trainer.pause()
    qtbot.waitUntil(lambda: widget._views >= 1, timeout=30_000)
    widget._request_view = lambda *a: None  # no more views over the fake prediction


def _applied(qtbot, trainer) -> None:
    n = trainer.last_update
    qtbot.waitUntil(lambda: n in trainer.applied_at or n < 0, timeout=10_000)


def _gesture(viewer, points, zoom_pos=False):
    """A press at the first data point, moves through the rest, a release at the last."""
    from napari.utils._test_utils import read_only_mouse_event
    from napari.utils.interactions import (
        mouse_move_callbacks,
        mouse_press_callbacks,
        mouse_release_callbacks,
    )

    def event(kind, p, dragging):
        return read_only_mouse_event(type=kind, position=p, is_dragging=dragging, modifiers=[],
                                     button=1, pos=np.array([0, 0]), view_direction=None,
                                     dims_displayed=[0, 1])  # fmt: skip

    mouse_press_callbacks(viewer, event("mouse_press", points[0], False))
    for p in points[1:]:
        mouse_move_callbacks(viewer, event("mouse_move", p, True))
    mouse_release_callbacks(viewer, event("mouse_release", points[-1], len(points) > 1))


def test_a_drag_or_a_press_on_another_layer_accepts_nothing_a_click_does(
    make_napari_viewer, qtbot, model_file
):
    img, truth = _discs()
    viewer = make_napari_viewer()
    image = viewer.add_image(img, name="cells")
    labels = viewer.add_labels(np.zeros(img.shape, np.int32), name="cells annotations")
    widget = _dock(viewer, image, labels, model_file)
    widget._click.value = True
    _started(qtbot, widget)
    widget._live.data[...] = truth
    _gesture(viewer, [(20, 20), (25, 30), (30, 50), (40, 80)])  # a pan starting on cell 1
    assert not labels.data.any(), "a pan drag accepted an object"
    shapes = viewer.add_shapes(name="where to accept")
    shapes.mode = "add_rectangle"
    viewer.layers.selection.active = shapes
    _gesture(viewer, [(60, 60)])  # the rectangle's first corner, on cell 4
    assert not labels.data.any(), "placing a Shapes corner accepted an object"
    viewer.layers.selection.active = labels
    _gesture(viewer, [(60, 20)])  # a click on cell 3 accepts it
    assert np.array_equal(labels.data > 0, truth == 3)
    widget.stop()


def test_accept_all_makes_no_ring_cell_around_a_painted_cell(
    make_napari_viewer, qtbot, model_file
):
    img, small = _discs(r=8)
    _, big = _discs(r=10)  # the model's outline of the same nuclei, 2 px wider
    viewer = make_napari_viewer()
    image = viewer.add_image(img, name="cells")
    labels = viewer.add_labels(np.zeros(img.shape, np.int32), name="cells annotations")
    widget = _dock(viewer, image, labels, model_file)
    _started(qtbot, widget)
    labels.data_setitem(np.nonzero(small == 1), 1)  # the biologist painted nucleus 1
    qtbot.wait(50)
    widget._live.data[...] = big
    assert widget.accept_in_region() == 3  # the three unpainted nuclei
    ring = (big == 1) & (small == 0)
    assert (labels.data[ring] == 0).all(), "a ring-shaped cell wraps painted cell 1"
    assert (labels.data[small == 1] == 1).all()
    widget.stop()


def test_annotations_on_another_grid_than_the_image_are_refused(
    make_napari_viewer, qtbot, model_file
):
    img, _ = _discs()
    viewer = make_napari_viewer()
    image = viewer.add_image(np.stack([img] * 3), name="cells", scale=(1, 0.5, 0.5))
    labels = viewer.add_labels(np.zeros(img.shape, np.int32), name="cells annotations")
    widget = _dock(viewer, image, labels, model_file)
    assert not widget.start()
    assert "does not lie on the pixels of 'cells'" in widget._status.value
    assert widget.trainer is None
    # as docs/live.md's recipe makes them: on the image's pixels, accepted
    viewer.layers.remove(labels)
    labels = viewer.add_labels(np.zeros(img.shape, np.int32), name="cells annotations",
                               scale=image.scale[-2:], translate=image.translate[-2:])  # fmt: skip
    widget._labels_box.value = labels
    assert widget.start(), widget._status.value
    widget.stop()


def test_erased_background_survives_stop_then_start(make_napari_viewer, qtbot, model_file):
    img, truth = _discs()
    viewer = make_napari_viewer()
    image = viewer.add_image(img, name="cells")
    labels = viewer.add_labels(np.zeros(img.shape, np.int32), name="cells annotations")
    widget = _dock(viewer, image, labels, model_file)
    _started(qtbot, widget)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    spot = (yy - 80) ** 2 + (xx - 80) ** 2 <= 36
    fake = truth.copy()
    fake[spot] = 9  # a false positive
    widget._live.data[...] = fake
    assert widget.accept_in_region() == 5
    qtbot.wait(100)
    _applied(qtbot, widget.trainer)
    labels.fill((80, 80), 0)  # the biologist erases it: "not a cell here"
    qtbot.wait(100)
    _applied(qtbot, widget.trainer)
    assert widget.trainer.data.mask[spot].all()
    widget.stop()
    assert widget.start(), widget._status.value  # continues the run
    widget.trainer.pause()
    _applied(qtbot, widget.trainer)
    data = widget.trainer.data
    assert widget.trainer.start_step >= 0 and data.mask[spot].all(), "the erase was forgotten"
    assert (data.labels[spot] == 0).all() and (data.target[spot] == 0).all()
    widget.stop()


def test_new_shapes_on_a_stack_mark_the_trained_plane(make_napari_viewer, qtbot, model_file):
    from napari._app_model.actions._file import new_shapes

    img, truth = _discs()
    viewer = make_napari_viewer()
    image = viewer.add_image(np.stack([img] * 3), name="cells")
    viewer.dims.set_point(0, 1)
    labels = viewer.add_labels(np.zeros(img.shape, np.int32), name="cells annotations")
    viewer.layers.selection.active = image
    new_shapes(viewer)  # napari's New shapes button: 3D vertices
    shapes = viewer.layers[-1]
    assert shapes.ndim == 3
    shapes.add_rectangles(np.array([[1, 10, 10], [1, 10, 80], [1, 80, 80], [1, 80, 10]], float))
    shapes.add_rectangles(np.array([[2, 0, 0], [2, 0, 95], [2, 95, 95], [2, 95, 0]], float))
    widget = _dock(viewer, image, labels, model_file)
    widget.reset_choices()
    widget._annotated_box.value = widget._region_box.value = shapes
    _started(qtbot, widget)
    _applied(qtbot, widget.trainer)
    region = widget.trainer.data.region
    assert region[10:81, 10:81].all() and region.sum() == 71 * 71  # plane 1's shape only
    assert widget._link.error is None
    widget._live.data[...] = truth
    assert widget.accept_in_region() == 4
    widget.stop()


def test_a_region_error_stays_in_the_status_line(make_napari_viewer, qtbot, model_file):
    img, _ = _discs()
    viewer = make_napari_viewer()
    image = viewer.add_image(img, name="cells")
    labels = viewer.add_labels(np.zeros(img.shape, np.int32), name="cells annotations")
    region = viewer.add_labels(np.zeros((40, 40), np.int32), name="wrong size")
    widget = _dock(viewer, image, labels, model_file)
    widget._annotated_box.value = region
    _started(qtbot, widget)
    widget._show_status()  # the status timer's refresh
    assert "annotated region not used" in widget._status.value
    assert "wrong size" in widget._status.value
    widget.stop()


def test_a_labels_region_is_read_once_per_stroke(make_napari_viewer, qtbot, model_file):
    from napari_unet.widgets import _live_parts

    img, _ = _discs()
    viewer = make_napari_viewer()
    image = viewer.add_image(img, name="cells")
    labels = viewer.add_labels(np.zeros(img.shape, np.int32), name="cells annotations")
    region = viewer.add_labels(np.zeros(img.shape, np.int32), name="background")
    region.data[:4, :4] = 1
    widget = _dock(viewer, image, labels, model_file)
    widget._annotated_box.value = region
    _started(qtbot, widget)
    reads = []
    real = _live_parts._layers.region_array
    _live_parts._layers.region_array = lambda *a, **k: reads.append(1) or real(*a, **k)
    try:
        region.selected_label = 1
        region.brush_size = 5
        region._begin_stroke()
        for i in range(10):
            region.paint((30 + 3 * i, 30), 1)
        region._commit_stroke()
        qtbot.wait(100)
        _applied(qtbot, widget.trainer)
    finally:
        _live_parts._layers.region_array = real
    assert len(reads) == 1, f"the region was read {len(reads)} times for one stroke"
    assert widget.trainer.data.region[30:55, 30].all()  # the stroke reached the trainer
    widget.stop()
