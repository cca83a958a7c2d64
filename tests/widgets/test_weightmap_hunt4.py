"""The Weight map dock: a (Y, X, 1) labels layer gets maps on it, a result that cannot be shown
is an error (never "Computing..." for good), a saved 0/255 mask is refused as the Train dock
refuses it, and sigma stops where the weights stop taking seconds."""

from __future__ import annotations

import numpy as np
import pytest
from test_weightmap_outputs import settle

from napari_unet import target_and_weights, touching_cells
from napari_unet.widgets import _weightmap_work
from napari_unet.widgets import weightmap as weightmap_module
from napari_unet.widgets.weightmap import WeightMapWidget


def _dock(viewer, labels, name="cells"):
    viewer.add_labels(labels, name=name)
    widget = WeightMapWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Weight map")
    return widget


def test_a_labels_layer_with_a_samples_axis_gets_its_maps_on_it(make_napari_viewer, qtbot):
    _, labels = touching_cells((48, 48), n_cells=6, seed=2)
    viewer = make_napari_viewer()
    widget = _dock(viewer, labels[..., None])  # a (Y, X, 1) label file opened as it is
    viewer.layers["cells"].scale = (2.0, 2.0, 1.0)
    widget._run.native.click()
    settle(qtbot, widget)
    assert widget._status.value.startswith("cells weights:"), widget._status.value
    target, weights = target_and_weights(labels)
    shown = viewer.layers["cells weights"]
    np.testing.assert_array_equal(shown.data, weights[..., None])  # on the labels' pixels
    np.testing.assert_array_equal(viewer.layers["cells target"].data, target[..., None])
    np.testing.assert_allclose(shown.scale, (2.0, 2.0, 1.0))


def test_a_result_that_cannot_be_shown_is_an_error_not_computing_for_good(
    make_napari_viewer, qtbot, monkeypatch, errors
):
    _, labels = touching_cells((32, 32), n_cells=4, seed=1)
    widget = _dock(make_napari_viewer(), labels)

    def refused(_layer):
        raise ValueError("could not broadcast input array from shape (3,) into shape (2,)")

    monkeypatch.setattr(_weightmap_work, "geometry", refused)
    widget._run.native.click()
    settle(qtbot, widget)
    status = widget._status.value
    assert status.startswith("Error: Weight map: the result cannot be shown"), status
    assert "could not broadcast" in status and len(errors) == 1


@pytest.mark.parametrize("mask_id", [255, 65535])
def test_a_saved_mask_layer_is_refused_as_the_train_dock_refuses_it(
    make_napari_viewer, qtbot, errors, mask_id
):
    mask = np.zeros((32, 32), np.uint16 if mask_id > 255 else np.uint8)
    for y, x in ((2, 2), (2, 20), (20, 2), (20, 20)):
        mask[y : y + 8, x : x + 8] = mask_id  # four nuclei of one id, as Fiji saves a mask
    viewer = make_napari_viewer()
    widget = _dock(viewer, mask, name="mask")
    widget._run.native.click()
    settle(qtbot, widget)
    status = widget._status.value
    assert "'mask': a mask (the one id" in status and "label the mask first" in status, status
    assert "mask weights" not in viewer.layers and len(errors) == 1


def test_one_id_painted_over_several_cells_is_still_the_users_choice(make_napari_viewer, qtbot):
    painted = np.zeros((32, 32), np.uint8)
    for y, x in ((2, 2), (2, 20), (20, 2)):
        painted[y : y + 8, x : x + 8] = 1  # one id over three cells, painted in napari
    viewer = make_napari_viewer()
    widget = _dock(viewer, painted)
    widget._run.native.click()
    settle(qtbot, widget)
    shown = viewer.layers["cells weights"].data
    np.testing.assert_array_equal(shown, target_and_weights(painted)[1])


def test_sigma_stops_at_a_bound_the_tooltip_explains(make_napari_viewer):
    widget = WeightMapWidget(make_napari_viewer())
    assert widget._sigma.max == weightmap_module.SIGMA_MAX == 50.0  # before: 200
    widget._sigma.native.setValue(120.0)  # typed in the box: kept at the bound
    assert widget._sigma.value == 50.0
    assert "50" in widget._sigma.tooltip and "minutes" in widget._sigma.tooltip
