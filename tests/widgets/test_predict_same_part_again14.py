"""Predicting the same plane or view again: an identical result changes nothing.

Before, the new part's ids went past every id of the layer, its own old ones included: the
same six cells became 7-12, then 13-18..., every pixel of the part changed, and each press
added a step of napari's undo (30 MB for a 1000 x 1000 plane). Now the ids start past
those outside the part being replaced: still unique over the layer, and the same each time.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet import touching_cells
from napari_unet.widgets._history import history_deques
from napari_unet.widgets._predict_place import Results
from napari_unet.widgets.predict import VIEW, PredictWidget

NAME = "st segmentation (tiny)"


def _undo_steps(layer) -> int:
    return len(history_deques(layer)[0])


def test_the_same_plane_predicted_again_adds_no_undo_step_nor_new_ids(
    make_napari_viewer, run_predict, tiny
):
    pytest.importorskip("torch")
    stack = np.stack([touching_cells((96, 96), n_cells=8, seed=s)[0] for s in range(3)])
    viewer = make_napari_viewer()
    layer = viewer.add_image(stack, name="st")
    dock = PredictWidget(viewer)
    viewer.window.add_dock_widget(dock)
    dock.set_model(*tiny, name="tiny")
    dock._image.value = layer
    dock._scope.value = VIEW
    viewer.dims.set_current_step(0, 1)
    run_predict(dock)
    seg = viewer.layers[NAME]
    first = np.array(seg.data)
    assert first[1].max() > 0 and not first[[0, 2]].any()
    run_predict(dock)  # the same plane again
    assert viewer.layers[NAME] is seg
    np.testing.assert_array_equal(seg.data, first)  # the same ids, not past its own old ones
    assert _undo_steps(seg) == 0  # nothing changed: no step of napari's undo


def _cells(shape, boxes) -> np.ndarray:
    out = np.zeros(shape, np.int32)
    for k, (y, x) in enumerate(boxes, start=1):
        out[y : y + 4, x : x + 4] = k
    return out


def test_a_plane_again_keeps_ids_unique_over_the_stack_and_then_stays_the_same(
    make_napari_viewer,
):
    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros((3, 32, 32), np.float32), name="st")
    results = Results(viewer)
    plane0 = _cells((32, 32), [(2, 2), (10, 10), (20, 20)])  # ids 1-3
    plane1 = _cells((32, 32), [(5, 5), (15, 15)])  # ids 1-2
    seg = results.put(NAME, plane0, (3, 32, 32), [0], "labels", image)
    results.put(NAME, plane1, (3, 32, 32), [1], "labels", image)
    assert set(np.unique(seg.data[1])) == {0, 4, 5}  # past plane 0's ids
    results.put(NAME, plane0, (3, 32, 32), [0], "labels", image)  # plane 0 again
    again = np.array(seg.data)
    assert set(np.unique(again[0])) == {0, 6, 7, 8}  # past plane 1's: unique over the stack
    steps = _undo_steps(seg)
    results.put(NAME, plane0, (3, 32, 32), [0], "labels", image)  # and once more
    np.testing.assert_array_equal(seg.data, again)  # before: 9-11, then 12-14...
    assert _undo_steps(seg) == steps


def test_the_same_view_again_changes_nothing_and_another_view_gets_new_ids(
    make_napari_viewer,
):
    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros((64, 64), np.float32), name="st")
    results = Results(viewer)
    view = [slice(0, 32), slice(0, 32)]
    part = _cells((32, 32), [(2, 2), (20, 20)])
    seg = results.put(NAME, part, (64, 64), view, "labels", image)
    results.put(NAME, part, (64, 64), [slice(32, 64), slice(32, 64)], "labels", image)
    assert set(np.unique(seg.data[32:, 32:])) == {0, 3, 4}  # another view: past the first's
    results.put(NAME, part, (64, 64), view, "labels", image)  # the first view again
    assert set(np.unique(seg.data[:32, :32])) == {0, 5, 6}  # past the other view's ids
    before, steps = np.array(seg.data), _undo_steps(seg)
    results.put(NAME, part, (64, 64), view, "labels", image)  # and once more: the same
    np.testing.assert_array_equal(seg.data, before)  # before: 7-8, then 9-10...
    assert _undo_steps(seg) == steps
