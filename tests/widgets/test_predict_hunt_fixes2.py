"""The Predict dock: the view zoomed in very far, each image's own size, odd result layers.

Before: "current view/plane only" predicted the whole image when fewer than 16 x 16 pixels
were in view, or the view was beside the image; the object size given for one image was
used for the next image chosen; a non-Labels layer of the result's name left a traceback
and the status on "Predicting..."; and every result write redrew the whole result layer
six times on the GUI thread.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from napari_unet import touching_cells  # noqa: E402
from napari_unet.widgets import _predict_place  # noqa: E402
from napari_unet.widgets._layers import camera  # noqa: E402
from napari_unet.widgets._made_layers import geometry, place  # noqa: E402
from napari_unet.widgets.predict import BUILTIN, VIEW, PredictWidget, result_name  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def _dock(viewer, layer, tiny=None):
    widget = PredictWidget(viewer)
    viewer.window.add_dock_widget(widget)
    if tiny is None:
        widget._source.value = BUILTIN
    else:
        widget.set_model(*tiny, name="tiny")
    widget._image.value = layer
    return widget


def _refreshes(monkeypatch, layer) -> list:
    calls: list = []
    real = type(layer).refresh

    def counting(self, *args, **kwargs):
        if self is layer:
            calls.append(self)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(type(layer), "refresh", counting)
    return calls


def test_view_zoomed_in_very_far_predicts_a_box_around_its_centre(
    make_napari_viewer, run_predict, tiny
):
    viewer = make_napari_viewer()
    image = viewer.add_image(touching_cells((320, 320))[0], name="img")
    widget = _dock(viewer, image, tiny)
    widget._scope.value = VIEW
    widget._tile.value = 64
    camera(viewer).center = (200, 100)
    camera(viewer).zoom = 200  # a few pixels on screen
    run_predict(widget)
    assert widget._req["region"] == ((168, 232), (68, 132))  # one tile around the centre
    seg = viewer.layers[result_name("img", "tiny")].data
    assert not seg[:168].any() and not seg[232:].any() and not seg[:, 132:].any()
    assert seg[168:232, 68:132].any()
    camera(viewer).center = (2, 318)  # at a corner: the box moves onto the image
    run_predict(widget)
    assert widget._req["region"] == ((0, 64), (256, 320))


def test_view_beside_the_image_is_refused(make_napari_viewer, run_predict, tiny, errors):
    viewer = make_napari_viewer()
    image = viewer.add_image(touching_cells((96, 96))[0], name="img")
    widget = _dock(viewer, image, tiny)
    widget._scope.value = VIEW
    camera(viewer).zoom = camera(viewer).zoom * 4
    camera(viewer).center = (2000, 2000)
    run_predict(widget)
    message = "no part of 'img' is in view: pan onto it or zoom out"
    assert message in widget._status.value and message in errors[-1]
    assert result_name("img", "tiny") not in viewer.layers
    camera(viewer).center = (48, 48)  # back on the image: its part in view is predicted
    run_predict(widget)
    assert widget._req["region"] is not None and result_name("img", "tiny") in viewer.layers


def test_object_size_belongs_to_its_image(make_napari_viewer, run_predict):
    viewer = make_napari_viewer()
    a = viewer.add_image(touching_cells((96, 96), seed=1)[0], name="A")
    b = viewer.add_image(touching_cells((96, 96), seed=2)[0], name="B")
    widget = _dock(viewer, a)
    assert widget._size.enabled  # the built-in model records the size it learnt
    widget._size.value = 30.0  # A's cells
    run_predict(widget)
    assert "image scaled by" in widget._size_note.value  # this run's note
    widget._image.value = b
    assert widget._size.value == 0.0  # auto for B, not A's 30
    assert widget._size_note.value.startswith("the model learnt objects of about")
    widget._size.value = 12.0
    widget._image.value = a
    assert widget._size.value == 30.0
    widget._image.value = b
    assert widget._size.value == 12.0


def test_image_layer_of_the_result_name_is_kept(make_napari_viewer, run_predict, tiny):
    viewer = make_napari_viewer()
    image = viewer.add_image(touching_cells((96, 96))[0], name="img")
    name = result_name("img", "tiny")
    viewer.add_image(np.random.default_rng(0).random((96, 96), np.float32), name=name)
    widget = _dock(viewer, image, tiny)
    widget._scope.value = VIEW
    camera(viewer).center = (48, 48)
    camera(viewer).zoom = camera(viewer).zoom * 3
    run_predict(widget)
    seg = viewer.layers[f"{name} 2"]
    (y0, y1), (x0, x1) = widget._req["region"]
    assert seg.data.dtype.kind in "iu" and seg.data[y0:y1, x0:x1].any()
    assert not seg.data[:y0].any() and not seg.data[y1:].any()  # zeros outside the view
    assert f"objects in '{name} 2'" in widget._status.value


def test_failure_showing_a_result_is_said(
    make_napari_viewer, run_predict, tiny, monkeypatch, errors
):
    viewer = make_napari_viewer()
    image = viewer.add_image(touching_cells((64, 64))[0], name="img")
    widget = _dock(viewer, image, tiny)

    def broken(*_args, **_kwargs):
        raise RuntimeError("no room")

    monkeypatch.setattr(_predict_place.Results, "put", broken)
    run_predict(widget)
    assert widget._status.value == "Error: Could not show the segmentation: no room"
    assert errors == ["Could not show the segmentation: no room"]


def test_result_written_in_place_redraws_once(make_napari_viewer, monkeypatch):
    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros((64, 64), np.uint8), name="img", scale=(2, 2))
    results = _predict_place.Results(viewer)
    labels = np.arange(64 * 64, dtype=np.int32).reshape(64, 64) // 50
    seg = results.put("seg", labels, (64, 64), [], "labels", image)
    calls = _refreshes(monkeypatch, seg)
    part = [slice(0, 16), slice(0, 16)]
    assert results.put("seg", labels[:16, :16], (64, 64), part, "labels", image) is seg
    assert len(calls) == 1
    image.translate = (5, 7)  # the image moved: the result follows
    results.put("seg", labels[:16, :16], (64, 64), part, "labels", image)
    assert np.allclose(seg.translate, (5, 7)) and np.allclose(seg.scale, (2, 2))


def test_unchanged_placement_is_not_set_again(make_napari_viewer, monkeypatch):
    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros((32, 32)), rotate=30, shear=[0.2], scale=(2, 3))
    weights = viewer.add_image(np.zeros((32, 32)), **geometry(image))
    calls = _refreshes(monkeypatch, weights)
    place(weights, geometry(image))
    assert calls == []
    image.rotate = 45
    place(weights, geometry(image))
    assert len(calls) == 1 and np.allclose(weights.rotate, image.rotate)
