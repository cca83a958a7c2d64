"""The Train and Weight map docks pick the image's annotations, not its prediction.

After Predict (``"<image> segmentation (nuclei)"``) and Annotate > Start (``"<image>
annotations"``), both docks' labels pickers stayed on the prediction, the first Labels
layer: the Train dock fine-tuned the model on its own output and the corrections were never
trained on. Now, while the user has not picked labels there, they prefer the chosen image's
annotations, then its ground truth, its predictions last; a layer the user picked stays
until it is removed. The Train dock's idle status line names the labels it trains on.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet.widgets.annotate import AnnotateWidget
from napari_unet.widgets.weightmap import WeightMapWidget

pytest.importorskip("torch")

from napari_unet.widgets.train import TrainWidget  # noqa: E402


def _image(viewer, name="nuclei"):
    """An image and its prediction (as the Predict dock names it)."""
    image = viewer.add_image(np.zeros((64, 64), np.float32), name=name)
    truth = np.zeros((64, 64), np.int32)
    truth[10:20, 10:20] = 1
    prediction = viewer.add_labels(truth, name=f"{name} segmentation (nuclei)")
    return image, prediction


def _annotate(viewer, image):
    """Annotate > Start on ``image``: its ``"<image> annotations"`` layer."""
    dock = AnnotateWidget(viewer)
    viewer.window.add_dock_widget(dock, name=f"Annotate {image.name}")
    dock._image_combo.value = image
    dock._axes.value = "auto"
    dock._start_btn.native.click()
    return viewer.layers[f"{image.name} annotations"]


def _docks(viewer):
    train, weights = TrainWidget(viewer), WeightMapWidget(viewer)
    viewer.window.add_dock_widget(train, name="Train")
    viewer.window.add_dock_widget(weights, name="Weight map")
    return train, weights


def test_docks_switch_to_the_annotations_when_they_come(make_napari_viewer):
    viewer = make_napari_viewer()
    image, prediction = _image(viewer)
    train, weights = _docks(viewer)
    assert train._labels_box.value is prediction and weights._labels_box.value is prediction
    annotations = _annotate(viewer, image)
    assert train._labels_box.value is annotations  # before: the prediction
    assert weights._labels_box.value is annotations  # before: the prediction
    region = viewer.layers["nuclei annotated region"]
    assert weights._mask.value is region
    assert train._form.pairs() == [(image, annotations, region)]
    assert train._status.value.startswith(
        "Ready: press Train on 'nuclei annotations' inside 'nuclei annotated region'"
    )


def test_a_renamed_layer_is_followed(make_napari_viewer):
    viewer = make_napari_viewer()
    image, prediction = _image(viewer)
    train, weights = _docks(viewer)
    mine = viewer.add_labels(np.zeros((64, 64), np.int32), name="corrected")
    assert train._labels_box.value is prediction
    mine.name = "nuclei annotations"  # renamed: now the image's annotations
    assert train._labels_box.value is mine and weights._labels_box.value is mine
    assert "'nuclei annotations'" in train._status.value


def test_docks_opened_after_annotating_pick_the_annotations(make_napari_viewer):
    viewer = make_napari_viewer()
    image, prediction = _image(viewer)
    annotations = _annotate(viewer, image)
    train, weights = _docks(viewer)
    assert train._labels_box.value is annotations  # before: the prediction (first)
    assert weights._labels_box.value is annotations
    assert "'nuclei annotations'" in train._status.value
    later = viewer.add_labels(prediction.data, name="nuclei segmentation (nuclei) [2]")
    assert train._labels_box.value is annotations and weights._labels_box.value is annotations
    assert later is not annotations


def test_a_labels_layer_the_user_picked_stays_until_removed(make_napari_viewer):
    viewer = make_napari_viewer()
    image, prediction = _image(viewer)
    annotations = _annotate(viewer, image)
    train, weights = _docks(viewer)
    train._labels_box.value = prediction  # the user's pick, in each dock
    weights._labels_box.value = prediction
    viewer.add_labels(np.zeros((64, 64), np.int32), name="nuclei ground truth")
    other, _ = _image(viewer, name="other")
    other_annotations = _annotate(viewer, other)
    train._image.value = image
    assert train._labels_box.value is prediction and weights._labels_box.value is prediction
    assert "'nuclei segmentation (nuclei)'" in train._status.value  # the mix-up is visible
    train._image.value = other  # the Train dock's pick was for the first image
    assert train._labels_box.value is other_annotations
    assert weights._labels_box.value is prediction  # no image picker: the user's pick stays
    viewer.layers.remove(prediction)  # its layer gone: automatic again
    assert weights._labels_box.value is annotations


def test_the_layer_shown_chosen_in_the_list_stays(make_napari_viewer):
    viewer = make_napari_viewer()
    image, prediction = _image(viewer)
    train, weights = _docks(viewer)
    for dock in (train, weights):  # the prediction picked in the list, as it is shown
        box = dock._labels_box.native
        box.activated.emit(box.currentIndex())
    _annotate(viewer, image)
    assert train._labels_box.value is prediction and weights._labels_box.value is prediction


def test_each_image_gets_its_own_annotations(make_napari_viewer):
    viewer = make_napari_viewer()
    first, first_prediction = _image(viewer)
    second, second_prediction = _image(viewer, name="other")
    train, weights = _docks(viewer)
    train._image.value = first
    second_annotations = _annotate(viewer, second)
    assert train._labels_box.value is first_prediction  # never the other image's
    assert weights._labels_box.value is first_prediction
    first_annotations = _annotate(viewer, first)
    assert train._labels_box.value is first_annotations
    assert weights._labels_box.value is first_annotations
    train._image.value = second
    assert train._labels_box.value is second_annotations
    assert train._region.value is viewer.layers["other annotated region"]
    train._image.value = first
    assert train._labels_box.value is first_annotations
    assert second_prediction is not first_prediction
