"""The Train and Weight map docks use the region the Annotate dock makes (not Live).

After Annotate > Start (layers ``"<image> annotations"`` and ``"<image> annotated region"``)
each dock's annotated-region picker chooses that region for the chosen image, keeps a region
the user chose, and follows another image. The idle status lines say what the picks mean,
and the Train dock's "val annotations" is enabled only when it is read (a validation image).
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet import touching_cells
from napari_unet.widgets.annotate import AnnotateWidget
from napari_unet.widgets.live import LiveWidget
from napari_unet.widgets.weightmap import WeightMapWidget

pytest.importorskip("torch")

from napari_unet.widgets.train import HOLDOUT, TrainWidget  # noqa: E402


def _annotated(viewer, name="cells", seed=0, image=None):
    """An image annotated with the Annotate dock: two cells painted; (image, labels, region)."""
    image_data, truth = touching_cells((96, 96), n_cells=8, seed=seed)
    image = viewer.add_image(image_data, name=name) if image is None else image
    annotate = AnnotateWidget(viewer)
    viewer.window.add_dock_widget(annotate, name=f"Annotate {name}")
    annotate._image_combo.value = image
    annotate._axes.value = "auto"
    annotate._start_btn.native.click()
    labels = viewer.layers[f"{name} annotations"]
    region = viewer.layers[f"{name} annotated region"]
    for cell in (1, 2):  # two cells painted
        labels.data_setitem(np.nonzero(truth == cell), cell)
    return image, labels, region


def _train_dock(viewer):
    dock = TrainWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Train")
    return dock


# -- finding 1: the Annotate dock's region is the default region --------------------------
def test_train_dock_opened_after_annotate_picks_its_region(make_napari_viewer):
    viewer = make_napari_viewer()
    image, labels, region = _annotated(viewer)
    dock = _train_dock(viewer)
    assert dock._image.value is image and dock._labels_box.value is labels
    assert dock._region.value is region  # before: "(whole image)"
    assert dock._form.pairs() == [(image, labels, region)]


def test_train_dock_opened_before_annotate_picks_its_region(make_napari_viewer):
    viewer = make_napari_viewer()
    dock = _train_dock(viewer)
    assert dock._region.value is None
    image, labels, region = _annotated(viewer)
    assert dock._labels_box.value is labels and dock._region.value is region


def test_train_dock_keeps_a_region_the_user_chose(make_napari_viewer):
    viewer = make_napari_viewer()
    image, _, region = _annotated(viewer)
    dock = _train_dock(viewer)
    assert dock._region.value is region
    dock._region.value = None  # the user: "(whole image)"
    other = viewer.add_shapes([np.array([[0, 0], [0, 40], [40, 40], [40, 0]])], name="mine")
    assert dock._region.value is None  # a layer added changes nothing
    dock._region.value = other
    _annotated(viewer, name="more", seed=1)  # another image annotated meanwhile
    assert dock._region.value is other  # the user's choice stays while the image does
    dock._image.value = viewer.layers["more"]  # another image: its own region (per image)
    assert dock._region.value is viewer.layers["more annotated region"]
    dock._image.value = image
    assert dock._region.value is region


def test_train_dock_follows_the_image_it_trains_on(make_napari_viewer):
    viewer = make_napari_viewer()
    first, _, first_region = _annotated(viewer)
    second, second_labels, second_region = _annotated(viewer, name="more", seed=1)
    plain = viewer.add_image(np.zeros((96, 96), np.float32), name="plain")
    dock = _train_dock(viewer)
    dock._image.value = first
    assert dock._region.value is first_region
    dock._image.value = second
    assert dock._labels_box.value is second_labels and dock._region.value is second_region
    dock._image.value = plain  # no region of its own: not another image's
    assert dock._region.value is None
    viewer.layers.remove(second_region)
    dock._image.value = first
    assert dock._region.value is first_region


def test_weight_map_dock_picks_the_region_of_the_labels_image(make_napari_viewer):
    viewer = make_napari_viewer()
    dock = WeightMapWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Weight map")
    _, labels, region = _annotated(viewer)
    dock._labels_box.value = labels
    assert dock._mask.value is region  # before: "(whole image)"
    _, other_labels, other_region = _annotated(viewer, name="more", seed=1)
    dock._labels_box.value = other_labels
    assert dock._mask.value is other_region
    truth = viewer.add_labels(np.zeros((96, 96), np.int32), name="ground truth")
    dock._labels_box.value = truth  # no image of its own: the whole image
    assert dock._mask.value is None
    dock._labels_box.value = labels
    dock._mask.value = None  # the user's choice stays
    viewer.add_shapes([np.array([[0, 0], [0, 40], [40, 40], [40, 0]])], name="mine")
    assert dock._mask.value is None


def test_live_dock_keeps_painted_cells_only(make_napari_viewer):
    """Not the Live dock: the Annotate dock's rectangle covers the whole image at first, and
    live training would then teach every pixel not yet painted as background."""
    viewer = make_napari_viewer()
    image, labels, _ = _annotated(viewer)
    dock = LiveWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Live")
    dock._image_box.value, dock._labels_box.value = image, labels
    assert dock._annotated_box.value is None and dock._region_box.value is None


# -- findings 1 and 7: idle status lines said from the picks ------------------------------
def test_train_idle_status_follows_the_picks(make_napari_viewer):
    viewer = make_napari_viewer()
    dock = _train_dock(viewer)
    assert "Choose an image" in dock._status.value  # nothing to train on yet
    image_data, truth = touching_cells((96, 96), n_cells=8, seed=0)
    image = viewer.add_image(image_data, name="nuclei")
    truth_layer = viewer.add_labels(truth, name="nuclei ground truth")
    assert dock._image.value is image and dock._labels_box.value is truth_layer
    status = dock._status.value
    assert "Paint a few cells" not in status and status.startswith("Ready")  # labels chosen
    assert "annotated region" in status and "background" in status  # what none means
    _, _, region = _annotated(viewer, name="nuclei", image=image)
    assert dock._region.value is region
    assert "'nuclei annotated region'" in dock._status.value
    dock._status.value = "finished at step 3"  # a run's message is not replaced
    dock._region.value = None
    assert dock._status.value == "finished at step 3"


@pytest.mark.parametrize("planes", [0, 3])
def test_train_idle_status_says_slider_planes_are_read_as_channels(make_napari_viewer, planes):
    """Before, a short time series with one frame's labels trained a 3-channel model, unsaid."""
    viewer = make_napari_viewer()
    dock = _train_dock(viewer)
    image_data, truth = touching_cells((96, 96), n_cells=8, seed=0)
    if planes:
        image_data = np.stack([image_data] * planes)  # napari shows it with a slider
    viewer.add_image(image_data, name="frames")
    viewer.add_labels(truth, name="frames ground truth")
    said = "the 3 planes of 'frames' on napari's slider are read as its channels"
    assert (said in dock._status.value) == bool(planes)
    assert dock._status.value.startswith("Ready")


def test_weight_map_idle_status_says_ready_when_labels_are_chosen(make_napari_viewer):
    viewer = make_napari_viewer()
    dock = WeightMapWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Weight map")
    assert dock._status.value == "Choose a Labels layer."
    _, truth = touching_cells((64, 64), n_cells=5, seed=0)
    labels = viewer.add_labels(truth, name="cells")
    assert dock._labels_box.value is labels
    assert dock._status.value == "Ready: press Compute weight map."  # before: "Choose a ..."
    viewer.layers.remove(labels)
    assert dock._status.value == "Choose a Labels layer."


def test_weight_map_idle_status_names_the_region(make_napari_viewer):
    viewer = make_napari_viewer()
    _, labels, region = _annotated(viewer)
    dock = WeightMapWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Weight map")
    dock._labels_box.value = labels
    assert dock._mask.value is region
    assert dock._status.value == (
        "Ready: press Compute weight map (weights inside 'cells annotated region' only)."
    )


# -- finding 10: "val annotations" is enabled only when it is read -----------------------------
def test_val_labels_is_enabled_only_with_a_validation_image(make_napari_viewer):
    viewer = make_napari_viewer()
    image, _, _ = _annotated(viewer)
    dock = _train_dock(viewer)
    assert dock._val_image.value is None and str(dock._val_image.native.currentText()) == HOLDOUT
    assert not dock._val_labels.enabled  # hold out: not read
    dock._val_image.value = "none"
    assert not dock._val_labels.enabled
    dock._val_image.value = image
    assert dock._val_labels.enabled
    viewer.layers.remove(image)  # the validation image left: back to the hold-out
    assert dock._val_image.value is None and not dock._val_labels.enabled
