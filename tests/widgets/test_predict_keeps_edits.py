"""Predicting again never overwrites corrections painted into a result layer.

Before, a second Predict with the same model wrote over the layer in place: corrections
painted into it (the documented workflow: correct, then Save segmentation...) were lost
silently, and napari's undo could not bring them back. Now a result that would replace
edited pixels goes to a new layer ``"<name> 2"`` and the edited layer is kept; a plane or
a region predicted beside the edits still updates the layer in place.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

import napari_unet as nu  # noqa: E402
from napari_unet.widgets._layers import camera  # noqa: E402
from napari_unet.widgets.predict import VIEW, WHOLE, PredictWidget, result_name  # noqa: E402

FIX = 999  # the label of the "corrections" painted in the tests


def _dock(viewer, tiny, layer):
    widget = PredictWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.set_model(*tiny, name="A")
    widget._image.value = layer
    return widget


def _paint(layer, where) -> np.ndarray:
    """Paint ``FIX`` at ``where`` as napari's brush does (undoable); the layer's new data."""
    mask = np.zeros(layer.data.shape, bool)
    mask[where] = True
    layer.data_setitem(np.nonzero(mask), FIX)
    return np.array(layer.data)


def _sample(make_napari_viewer, tiny):
    from napari_unet.sample_data import touching_cells_data

    viewer = make_napari_viewer()
    pixels = touching_cells_data()[0]  # the sample (384 x 384)
    image = viewer.add_image(pixels, name="touching cells", scale=(0.5, 0.5), translate=(10, 20))
    return viewer, _dock(viewer, tiny, image)


def _labels_names(viewer) -> list[str]:
    return [ly.name for ly in viewer.layers if type(ly).__name__ == "Labels" and "(A)" in ly.name]


def test_predicting_again_keeps_the_corrections_in_their_layer(
    run_predict, make_napari_viewer, qtbot, tiny
):
    viewer, widget = _sample(make_napari_viewer, tiny)
    name = result_name("touching cells", "A")
    run_predict(widget)
    seg = viewer.layers[name]
    run_predict(widget)  # nothing edited: updated in place, no second layer
    assert viewer.layers[name] is seg and _labels_names(viewer) == [name]
    corrected = _paint(seg, np.s_[:20, :20])
    widget._threshold.value = 0.8  # another threshold: a different result
    run_predict(widget)
    np.testing.assert_array_equal(seg.data, corrected)  # the corrections are all there
    assert viewer.layers[name] is seg
    new = viewer.layers[f"{name} 2"]
    assert new is not seg and not (new.data == FIX).any() and new.data.max() > 0
    assert tuple(new.scale) == (0.5, 0.5) and tuple(new.translate) == (10, 20)
    assert "Kept your edits" in widget._status.value and f"{name} 2" in widget._status.value
    assert widget._last[0] is new  # Save segmentation... saves the new result
    seg.undo()  # napari's undo still undoes the painting in the kept layer
    assert not (seg.data == FIX).any()
    first = np.array(new.data)
    widget._threshold.value = 0.5
    run_predict(widget)  # the new layer is not edited: it is updated in place
    assert _labels_names(viewer) == [name, f"{name} 2"]
    assert viewer.layers[f"{name} 2"] is new and not np.array_equal(new.data, first)
    assert "Kept your edits" not in widget._status.value


def test_a_region_beside_the_edits_goes_in_place_and_one_over_them_not(
    run_predict, make_napari_viewer, qtbot, tiny
):
    viewer, widget = _sample(make_napari_viewer, tiny)
    name = result_name("touching cells", "A")
    widget._threshold.value = 0.8
    run_predict(widget)
    seg = viewer.layers[name]
    corrected = _paint(seg, np.s_[360:, 360:])  # a corner, far from the view below
    widget._scope.value = VIEW
    widget._threshold.value = 0.5
    camera(viewer).center = (10 + 0.5 * 100, 20 + 0.5 * 100)  # world of pixel (100, 100)
    camera(viewer).zoom = 3 * camera(viewer).zoom
    (y0, y1), (x0, x1) = widget._form.request()["region"]
    assert y1 < 360 and x1 < 360
    run_predict(widget)
    assert viewer.layers[name] is seg and _labels_names(viewer) == [name]  # in place
    np.testing.assert_array_equal(seg.data[360:, 360:], corrected[360:, 360:])  # kept
    assert not np.array_equal(seg.data[y0:y1, x0:x1], corrected[y0:y1, x0:x1])  # updated
    corrected = _paint(seg, np.s_[y0 + 5 : y0 + 15, x0 + 5 : x0 + 15])  # inside the view
    widget._threshold.value = 0.7
    run_predict(widget)
    np.testing.assert_array_equal(seg.data, corrected)  # nothing of the edited layer lost
    new = viewer.layers[f"{name} 2"]
    assert not (new.data[y0:y1, x0:x1] == FIX).any()  # the new result in the view,
    np.testing.assert_array_equal(new.data[360:, 360:], corrected[360:, 360:])  # the rest kept
    assert "Kept your edits" in widget._status.value


def test_a_plane_beside_the_edits_goes_in_place_and_one_over_them_not(
    run_predict, make_napari_viewer, qtbot, tiny
):
    viewer = make_napari_viewer()
    planes = [nu.touching_cells((96, 96), n_cells=8, seed=s)[0] for s in (1, 2, 3)]
    stack = viewer.add_image(np.stack(planes), name="stack", scale=(2, 1, 1))
    widget = _dock(viewer, tiny, stack)
    name = result_name("stack", "A")
    run_predict(widget)
    seg = viewer.layers[name]
    corrected = _paint(seg, np.s_[0, 10:30, 10:30])  # plane 0 corrected
    widget._scope.value = VIEW
    widget._threshold.value = 0.8
    viewer.dims.set_point(0, 2 * 2)  # plane 2
    run_predict(widget)
    assert viewer.layers[name] is seg and _labels_names(viewer) == [name]
    np.testing.assert_array_equal(seg.data[:2], corrected[:2])  # plane 0's correction kept
    assert not np.array_equal(seg.data[2], corrected[2])  # plane 2 predicted again
    corrected = np.array(seg.data)
    viewer.dims.set_point(0, 0)  # the corrected plane itself
    run_predict(widget)
    np.testing.assert_array_equal(seg.data, corrected)
    new = viewer.layers[f"{name} 2"]
    assert not (new.data[0] == FIX).any() and new.data[0].max() > 0
    np.testing.assert_array_equal(new.data[1:], corrected[1:])  # the other planes as they were
    assert tuple(new.scale) == (2, 1, 1)
    widget._scope.value = WHOLE
    run_predict(widget)  # into the new layer, in place; the corrected one untouched
    assert _labels_names(viewer) == [name, f"{name} 2"]
    np.testing.assert_array_equal(seg.data, corrected)


def test_a_layer_the_dock_did_not_write_is_never_written_over(
    run_predict, make_napari_viewer, qtbot, tiny
):
    viewer, widget = _sample(make_napari_viewer, tiny)
    name = result_name("touching cells", "A")
    mine = viewer.add_labels(np.full((384, 384), 7, np.int32), name=name)  # e.g. opened
    run_predict(widget)
    assert (mine.data == 7).all() and viewer.layers[name] is mine
    ours = viewer.layers[f"{name} 2"]
    assert ours.data.max() > 0 and widget._last[0] is ours
    ours.name = "touching cells corrected"  # the user renames the result: it is theirs
    before = np.array(ours.data)
    widget._threshold.value = 0.8
    run_predict(widget)
    np.testing.assert_array_equal(ours.data, before)
    assert viewer.layers[f"{name} 2"] is not ours and widget._last[0].name == f"{name} 2"
