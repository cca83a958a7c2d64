"""The Predict dock's result layers: whose image they hold, how much of it, and where saved.

Before:
- a later prediction of another image of the same name (day 2's ``cells.tif`` after day
  1's, the first image removed) wrote over the first image's unsaved segmentation, or
  removed it when the images' shapes differed;
- "current view/plane only" on a big image made a result layer of the whole image (a
  32768 x 32768 slide: 4 GiB, 17 s of a frozen window);
- "Save segmentation..." suggested, and wrote over, the file an open ground-truth layer was
  read from (``cells_labels.tif`` beside ``cells.tif``).
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

pytest.importorskip("torch")

from napari_unet import touching_cells  # noqa: E402
from napari_unet.widgets import _saving  # noqa: E402
from napari_unet.widgets._layers import camera  # noqa: E402
from napari_unet.widgets.predict import VIEW, PredictWidget  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

BIG = 4160  # a plane over the 4096 x 4096 the reader opens lazily


def _dock(viewer, layer, tiny, scope=None):
    widget = PredictWidget(viewer)
    widget.set_model(*tiny, name="tiny")
    widget._image.value = layer
    if scope is not None:
        widget._scope.value = scope
    return widget


def _open(viewer, path):
    return viewer.open(str(path), plugin="napari")[0]


def test_same_name_other_image_gets_its_own_layer(make_napari_viewer, run_predict, tiny, tmp_path):
    cells = touching_cells((64, 64))[0]
    for day, pixels in (("day1", cells), ("day2", cells[::-1]), ("day3", np.tile(cells, 2))):
        (tmp_path / day).mkdir()
        tifffile.imwrite(tmp_path / day / "cells.tif", pixels)
    viewer = make_napari_viewer()
    first = _open(viewer, tmp_path / "day1" / "cells.tif")
    widget = _dock(viewer, first, tiny)
    run_predict(widget)
    seg1 = widget._last[0]
    kept = np.array(seg1.data)
    assert kept.any()
    viewer.layers.remove(first)  # done with it; its segmentation stays, not saved yet
    second = _open(viewer, tmp_path / "day2" / "cells.tif")
    widget._image.value = second
    run_predict(widget)
    seg2 = widget._last[0]
    assert seg2 is not seg1 and seg1 in viewer.layers
    assert np.array_equal(np.asarray(seg1.data), kept)  # day 1's, as it was
    assert seg2.name == "cells segmentation (tiny) 2"
    run_predict(widget)  # the same image again: its own layer, in place
    assert widget._last[0] is seg2
    viewer.layers.remove(second)
    third = _open(viewer, tmp_path / "day3" / "cells.tif")  # another shape: nothing removed
    widget._image.value = third
    run_predict(widget)
    assert seg1 in viewer.layers and seg2 in viewer.layers
    assert widget._last[0].data.shape == (64, 128)


def _look_at(viewer, image, y, x, zoom):
    camera(viewer).center = tuple(image.data_to_world((y, x)))
    camera(viewer).zoom = zoom


def test_view_of_a_big_image_gets_a_layer_of_the_view(make_napari_viewer, run_predict, tiny):
    import napari_unet as nu

    viewer = make_napari_viewer()
    pixels = np.zeros((BIG, BIG), np.float32)
    pixels[2000:2256, 3000:3256] = touching_cells((256, 256))[0]
    image = viewer.add_image(pixels, name="slide", scale=(0.5, 2.0), translate=(10.0, -5.0))
    widget = _dock(viewer, image, tiny, VIEW)
    _look_at(viewer, image, 2128, 3128, 6.0)
    run_predict(widget)
    (y0, y1), (x0, x1) = region = widget._req["region"]
    seg = widget._last[0]
    assert seg.data.shape == (y1 - y0, x1 - x0)  # the view's, not the slide's
    # Its pixels lie where the image's are, and hold what segment(region=...) finds there.
    assert np.allclose(seg.data_to_world((0, 0)), image.data_to_world((y0, x0)))
    assert np.allclose(seg.data_to_world((7, 9)), image.data_to_world((y0 + 7, x0 + 9)))
    ref = nu.segment(tiny[0], pixels, metadata=tiny[1], region=region)
    assert np.asarray(seg.data).any()
    assert np.array_equal(np.asarray(seg.data) > 0, np.asarray(ref) > 0)


def test_views_grow_the_layer_up_to_the_cap(make_napari_viewer, run_predict, tiny, monkeypatch):
    monkeypatch.setattr("napari_unet.widgets._predict_region.FULL_PIXELS", 160 * 160)
    viewer = make_napari_viewer()
    image = viewer.add_image(touching_cells((256, 256))[0], name="img", scale=(2.0, 3.0))
    widget = _dock(viewer, image, tiny, VIEW)
    widget._form._probabilities.value = True
    _look_at(viewer, image, 60, 60, 12.0)
    run_predict(widget)
    (y0, y1), (x0, x1) = widget._req["region"]
    probs = viewer.layers["img probabilities (tiny)"]
    seg = widget._last[0]
    assert seg.data.shape == (y1 - y0, x1 - x0)
    first = np.array(seg.data)
    assert first.any()

    # A view beside it: the same layer, grown to hold both, the first view's pixels kept.
    _look_at(viewer, image, 70, 75, 12.0)
    run_predict(widget)
    (v0, v1), (u0, u1) = widget._req["region"]
    assert widget._last[0] is seg
    b0, b1, a0, a1 = min(y0, v0), max(y1, v1), min(x0, u0), max(x1, u1)
    assert seg.data.shape == (b1 - b0, a1 - a0)
    assert np.allclose(seg.data_to_world((0, 0)), image.data_to_world((b0, a0)))
    outside = np.ones(first.shape, bool)  # the first view's pixels the second does not cover
    outside[max(v0 - y0, 0) : v1 - y0, max(u0 - x0, 0) : u1 - x0] = False
    shown = np.asarray(seg.data)[y0 - b0 : y1 - b0, x0 - a0 : x1 - a0]
    assert outside.any() and np.array_equal(shown[outside], first[outside])

    # A view far away (the box of both over the cap): a layer of its own, the first kept.
    _look_at(viewer, image, 200, 200, 12.0)
    run_predict(widget)
    far = widget._last[0]
    assert far is not seg and seg in viewer.layers
    assert far.data.shape == tuple(b - a for a, b in widget._req["region"])
    assert "far from" in widget._status.value
    far_probs = viewer.layers["img probabilities (tiny) 2"]

    # Back to the first view, then the far one: each updates its own layer in place (before,
    # the far layer took the first's place in the dock's records: each return added a copy).
    held = {layer.name for layer in viewer.layers}
    _look_at(viewer, image, 70, 75, 12.0)
    run_predict(widget)
    assert widget._last[0] is seg and seg.data.shape == (b1 - b0, a1 - a0)
    _look_at(viewer, image, 200, 200, 12.0)
    run_predict(widget)
    assert widget._last[0] is far
    assert {layer.name for layer in viewer.layers} == held  # no new layer
    assert viewer.layers["img probabilities (tiny)"] is probs
    assert viewer.layers["img probabilities (tiny) 2"] is far_probs
    assert probs.data.shape == seg.data.shape and far_probs.data.shape == far.data.shape


def test_small_image_view_keeps_a_whole_image_layer(make_napari_viewer, run_predict, tiny):
    viewer = make_napari_viewer()
    image = viewer.add_image(touching_cells((300, 300))[0], name="img")
    widget = _dock(viewer, image, tiny, VIEW)
    _look_at(viewer, image, 150, 150, 8.0)
    run_predict(widget)
    assert widget._req["region"] is not None
    assert widget._last[0].data.shape == (300, 300)
    assert np.allclose(widget._last[0].translate, 0)


def test_save_never_suggests_nor_replaces_an_open_layers_file(
    make_napari_viewer, run_predict, tiny, tmp_path
):
    cells, truth = touching_cells((64, 64))
    tifffile.imwrite(tmp_path / "cells.tif", cells)
    tifffile.imwrite(tmp_path / "cells_labels.tif", truth.astype(np.uint16))
    viewer = make_napari_viewer()
    image = _open(viewer, tmp_path / "cells.tif")
    viewer.open(str(tmp_path / "cells_labels.tif"), plugin="napari", layer_type="labels")
    widget = _dock(viewer, image, tiny)
    run_predict(widget)
    asked = []

    def answer(_parent, _title, suggested, _filters):
        asked.append(suggested)
        return suggested

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_saving, "ask_path", answer)
        widget._on_save_labels()
    assert asked == [tmp_path / "cells_masks.tif"]  # not the ground truth's file
    widget._on_save_labels(path=tmp_path / "cells_labels.tif")  # chosen anyway: refused
    assert "'cells_labels' was read from" in widget._status.value
    assert widget._status.value.startswith("Error:")
    assert np.array_equal(tifffile.imread(tmp_path / "cells_labels.tif"), truth)
