"""A script that chooses, in the Train or Weight map dock, the labels the dock picked itself.

``dock._labels_box.value = B`` then ``= A``, A being the layer the dock first picked: before,
the second choice went unheard (it was the dock's own pick), so the next layer added put the
picker back on B and Compute (or Train) worked on B, silently.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet.widgets.weightmap import WeightMapWidget


def _labels(viewer, name, offset=0):
    data = np.zeros((32, 32), np.int32)
    data[4 + offset : 14 + offset, 4:14] = 1
    return viewer.add_labels(data, name=name)


def _check_pick_back(viewer, dock):
    a = viewer.layers["A"]
    assert dock._labels_box.value is a  # the dock's own pick
    b = _labels(viewer, "B", offset=10)
    dock._labels_box.value = b
    dock._labels_box.value = a  # a script's choice, back to the dock's pick
    viewer.add_shapes(name="roi")
    assert dock._labels_box.value is a  # before: B
    viewer.add_labels(np.zeros((32, 32), np.int32), name="C")
    assert dock._labels_box.value is a
    viewer.layers.remove(b)
    assert dock._labels_box.value is a


def test_weight_map_keeps_the_dock_pick_a_script_chose_again(make_napari_viewer):
    viewer = make_napari_viewer()
    _labels(viewer, "A")
    dock = WeightMapWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Weight map")
    _check_pick_back(viewer, dock)


def test_train_keeps_the_dock_pick_a_script_chose_again(make_napari_viewer):
    pytest.importorskip("torch")
    from napari_unet.widgets.train import TrainWidget

    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((32, 32), np.float32), name="img")
    _labels(viewer, "A")
    dock = TrainWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Train")
    _check_pick_back(viewer, dock)


def test_the_picks_are_automatic_again_after_the_chosen_layer_left(make_napari_viewer):
    """A change the dock makes itself (its chosen layer gone) is still not the user's."""
    pytest.importorskip("torch")
    from napari_unet.widgets.train import TrainWidget

    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((32, 32), np.float32), name="nuclei")
    prediction = _labels(viewer, "nuclei segmentation (nuclei)")
    dock = TrainWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Train")
    assert dock._labels_box.value is prediction
    b = _labels(viewer, "B")
    dock._labels_box.value = b
    dock._labels_box.value = prediction  # the script's choice: kept over the annotations
    annotations = _labels(viewer, "nuclei annotations")
    assert dock._labels_box.value is prediction
    dock._labels_box.value = b
    viewer.layers.remove(b)  # gone: the picks are the dock's again
    assert dock._labels_box.value is annotations
