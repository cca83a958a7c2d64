"""The view's pixels on screen: rotated layers, 3D display, deep zooms, resized canvases.

- *Accept all* in the view of a rotated image accepted the view's whole bounding box:
  objects wholly off screen were written into the training annotations.
- The Train preview predicted the whole plane, uncapped, when the view had no box (zoomed
  in very far, panned beside the image, 3D display).
- A 2D image in 3D display, camera turned: Predict's "current view" took the box as if
  looked at from above (docs/predict.md: in 3D display the whole plane).
- The Live dock's view and the Train preview's box went stale when the canvas changed size
  (window resized, a dock closed) or grid mode was toggled, with no pan or zoom.
- Live Start on a stack in 3D display or seen from its side trained a plane not shown.
- The Train dock said "Ready" for the Review dock's labels of another image, which it refuses.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")

from napari_unet.widgets._layers import camera, visible_box  # noqa: E402


def _world_rect(viewer):
    """The view's half sides and centre in world units (down, across)."""
    cam = camera(viewer)
    half = np.asarray(viewer.canvas.viewbox_size(viewer.layers), float) / cam.zoom / 2
    return np.asarray(cam.center[-2:], float), half


def _touching(layer, n: int, viewer) -> np.ndarray:
    """Pixels of ``layer``'s n x n plane a sample point of which (11 x 11) is on screen."""
    centre, half = _world_rect(viewer)
    steps = np.linspace(-0.5, 0.5, 11)[1:-1]
    yy, xx = np.mgrid[:n, :n]
    on = np.zeros((n, n), bool)
    affine = layer._data_to_world  # linear: map the samples in one go
    for dy in steps:
        for dx in steps:
            pts = np.stack([yy.ravel() + dy, xx.ravel() + dx], 1)
            world = pts @ affine.linear_matrix.T + affine.translate
            inside = np.all(np.abs(world - centre) < half, axis=1)
            on |= inside.reshape(n, n)
    return on


def _centres_on(layer, n: int, viewer) -> np.ndarray:
    centre, half = _world_rect(viewer)
    yy, xx = np.mgrid[:n, :n]
    affine = layer._data_to_world
    world = np.stack([yy.ravel(), xx.ravel()], 1) @ affine.linear_matrix.T + affine.translate
    return np.all(np.abs(world - centre) <= half, axis=1).reshape(n, n)


# -- 1: Accept all in a rotated view ------------------------------------------------------
def test_accept_all_in_a_rotated_view_accepts_only_what_is_on_screen(
    make_napari_viewer, qtbot, model_file
):
    pytest.importorskip("torch")
    from test_live_hunt_fixes2 import _dock, _started

    viewer, n = make_napari_viewer(), 400
    img = (np.random.default_rng(0).random((n, n)) * 50).astype(np.uint8)
    image = viewer.add_image(img, name="cells", rotate=45)
    labels = viewer.add_labels(np.zeros((n, n), np.int32), name="cells annotations", rotate=45)
    widget = _dock(viewer, image, labels, model_file)
    _started(qtbot, widget)
    camera(viewer).zoom = 6
    camera(viewer).center = tuple(np.asarray(image.data_to_world((200, 200))))
    pred = np.zeros((n, n), np.int32)
    for k, (y, x) in enumerate(np.ndindex(n // 12, n // 12), 1):  # a 7 x 7 object every 12 px
        pred[12 * y + 3 : 12 * y + 10, 12 * x + 3 : 12 * x + 10] = k
    widget._live.data[...] = pred
    assert widget.accept_in_region() > 0, widget._status.value
    accepted = labels.data > 0
    touching = _touching(image, n, viewer)
    taken = set(np.unique(pred[accepted])) - {0}
    # the objects with a pixel (partly) on screen, each whole (an object cut by the view's
    # edge is copied whole, as a click copies it)
    assert taken == set(np.unique(pred[touching])) - {0}
    np.testing.assert_array_equal(accepted, np.isin(pred, sorted(taken)))
    shown = set(np.unique(pred[_centres_on(image, n, viewer)])) - {0}
    assert taken <= shown  # no object wholly off screen (before: 87 of 196)
    widget.stop()


def test_the_pixels_on_screen_of_a_rotated_and_of_a_plain_layer(make_napari_viewer):
    from napari_unet.widgets._view_box import view_pixels

    viewer, n = make_napari_viewer(), 300
    plain = viewer.add_image(np.zeros((n, n), np.uint8), name="plain")
    camera(viewer).zoom, camera(viewer).center = 5, (150, 150)
    box, mask = view_pixels(viewer, plain, (n, n))
    assert mask is None and box == visible_box(viewer, plain, (n, n))  # exact, no mask
    turned = viewer.add_image(np.zeros((n, n), np.uint8), name="turned", rotate=30)
    camera(viewer).center = tuple(np.asarray(turned.data_to_world((150, 150))))
    (y0, y1, x0, x1), mask = view_pixels(viewer, turned, (n, n))
    full = np.zeros((n, n), bool)
    full[y0:y1, x0:x1] = mask
    assert np.all(full[_touching(turned, n, viewer)])  # all pixels partly on screen
    centres = _centres_on(turned, n, viewer)
    near = np.zeros_like(centres)  # every pixel taken is next to one whose centre shows
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            near |= np.roll(np.roll(centres, dy, 0), dx, 1)
    assert np.all(near[full]) and full.sum() < 0.8 * (y1 - y0) * (x1 - x0)


# -- 2: the Train preview's box ------------------------------------------------------------
def test_the_train_preview_never_predicts_the_whole_plane(make_napari_viewer):
    from napari_unet.widgets._train_helpers import PREVIEW_HALF_SIDE, in_view
    from napari_unet.widgets._workers import ViewSource

    viewer, n = make_napari_viewer(), 3000
    img = np.random.default_rng(0).integers(0, 255, (n, n), dtype=np.uint8)
    layer = viewer.add_image(img)
    source = ViewSource(img, (n, n))  # (its default half side is the Train dock's)
    assert source()[0].shape == (2 * PREVIEW_HALF_SIDE,) * 2  # no view yet: the centre
    camera(viewer).zoom, camera(viewer).center = 100, (1000, 2000)  # a view of 8 x 6 px
    source.update(*in_view(viewer, layer, (n, n), 1))
    pixels, (y0, x0, _) = source()
    assert pixels.shape == (128, 128) and abs(y0 + 64 - 1000) <= 1 and abs(x0 + 64 - 2000) <= 1
    camera(viewer).zoom, camera(viewer).center = 1, (1500, 9000)  # beside the image
    source.update(*in_view(viewer, layer, (n, n), 1))
    assert source()[0].shape == (128, 128)  # the last box stays


def test_the_train_preview_follows_a_resized_canvas(make_napari_viewer):
    from napari_unet.widgets._workers import ViewSource
    from napari_unet.widgets.train import TrainWidget

    viewer = make_napari_viewer()
    img = np.zeros((2000, 2000), np.uint8)
    layer = viewer.add_image(img, name="cells")
    dock = TrainWidget(viewer)
    viewer.canvas.size = (400, 300)
    camera(viewer).zoom, camera(viewer).center = 1, (1000, 1000)
    dock._image_layer, dock._view_shape, dock._planes = layer, (2000, 2000), 1
    dock._view = ViewSource(img, (2000, 2000))
    dock._update_view()
    assert dock._view._box == visible_box(viewer, layer, (2000, 2000), limit=512)
    viewer.canvas.size = (600, 500)  # the window resized: no pan, no zoom
    assert dock._view._box == visible_box(viewer, layer, (2000, 2000), limit=512)
    assert dock._view._box[1] - dock._view._box[0] > 550


# -- 3: a 2D image in 3D display -----------------------------------------------------------
def test_current_view_in_3d_display_is_the_whole_plane(make_napari_viewer):
    from napari_unet.widgets._view_region import view_region

    viewer = make_napari_viewer()
    layer = viewer.add_image(np.zeros((2000, 2000), np.float32))
    viewer.dims.ndisplay = 3
    camera(viewer).angles = (90, 0, 0)
    camera(viewer).zoom, camera(viewer).center = 3, (0, 1000, 1000)
    assert visible_box(viewer, layer, (2000, 2000)) is None
    assert view_region(viewer, layer, (2000, 2000)) is None  # docs: the whole plane


# -- 4: the Live view follows the canvas ---------------------------------------------------
def test_the_live_view_follows_a_resized_window_and_grid_mode(
    make_napari_viewer, qtbot, model_file
):
    pytest.importorskip("torch")
    from test_live_hunt_fixes2 import _dock

    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(900, 700)
    img = (np.random.default_rng(0).random((600, 600)) * 255).astype(np.uint8)
    image = viewer.add_image(img, name="cells")
    labels = viewer.add_labels(np.zeros(img.shape, np.int32), name="cells annotations")
    viewer.add_image(img, name="other")
    viewer.canvas.grid.enabled = True
    camera(viewer).zoom, camera(viewer).center = 4, (300, 300)
    widget = _dock(viewer, image, labels, model_file)
    assert widget.start(), widget._status.value
    widget.trainer.pause()
    qtbot.waitUntil(lambda: widget._views >= 1, timeout=30_000)

    def covered() -> bool:
        y0, y1, x0, x1 = widget.trainer._view
        now = visible_box(viewer, image, img.shape)
        return y0 <= now[0] and y1 >= now[1] and x0 <= now[2] and x1 >= now[3]

    for change in (lambda: setattr(viewer.canvas.grid, "enabled", False),
                   lambda: viewer.window._qt_window.resize(1500, 1000)):  # fmt: skip
        change()  # the view grows, with no pan or zoom: a new box is predicted
        qtbot.waitUntil(covered, timeout=5_000)
    widget.stop()


# -- 5: Live Start with no plane of the stack shown ------------------------------------
@pytest.mark.parametrize("how", ["3d", "side"])
def test_live_start_refuses_a_stack_whose_planes_are_not_shown(make_napari_viewer, model_file, how):
    pytest.importorskip("torch")
    from test_live_hunt_fixes2 import _dock

    viewer = make_napari_viewer()
    img = (np.random.default_rng(0).random((5, 96, 96)) * 255).astype(np.uint8)
    image = viewer.add_image(img, name="cells")
    labels = viewer.add_labels(np.zeros((96, 96), np.int32), name="cells annotations")
    viewer.dims.set_point(0, 3)
    if how == "3d":
        viewer.dims.ndisplay = 3
    else:
        viewer.dims.order = (1, 0, 2)  # z shown down: a side section
    widget = _dock(viewer, image, labels, model_file)
    assert not widget.start()
    assert "shows no plane" in widget._status.value


# -- also: the Train dock's idle line for the Review dock's labels of another image ------
def test_train_is_not_ready_for_the_review_labels_of_another_image(make_napari_viewer):
    from napari_unet.widgets._review_shown import mark_shown
    from napari_unet.widgets.train import TrainWidget

    viewer = make_napari_viewer()
    a = viewer.add_image(np.zeros((64, 64), np.uint8), name="a")
    b = viewer.add_image(np.zeros((64, 64), np.uint8), name="b")
    labels = viewer.add_labels(np.zeros((64, 64), np.int32), name="b labels")
    mark_shown(labels, b, "annotations")
    dock = TrainWidget(viewer)
    dock._form._image.value, dock._form._labels_box.value = a, labels
    text = dock._form.idle_text()
    assert not text.startswith("Ready") and "Review dock" in text, text
    dock._form._image.value = b
    assert dock._form.idle_text().startswith("Ready")
