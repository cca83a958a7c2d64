"""The annotated-region picker is per image, as the annotations picker.

Before, a region chosen for one image (``(whole image)``, or a Shapes layer drawn on it)
stayed when another image with its own ``"<image> annotated region"`` was chosen: the
annotations moved to that image's, and Train taught its unannotated part as background.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet.widgets.weightmap import WeightMapWidget

pytest.importorskip("torch")

from test_region_defaults import _annotated, _train_dock  # noqa: E402

SQUARE = np.array([[0, 0], [0, 40], [40, 40], [40, 0]])


def test_whole_image_chosen_for_one_image_is_dropped_for_the_next(make_napari_viewer):
    viewer = make_napari_viewer()
    a, _, a_region = _annotated(viewer, "a", 0)
    b, b_labels, b_region = _annotated(viewer, "b", 1)
    plain = viewer.add_image(np.zeros((96, 96), np.float32), name="plain")
    dock = _train_dock(viewer)
    dock._image.value = a
    assert dock._region.value is a_region
    dock._region.value = None  # the user: "(whole image)" for a
    viewer.add_shapes([SQUARE], name="unrelated")  # the layers change: the choice stays
    assert dock._image.value is a and dock._region.value is None
    dock._image.value = b
    assert dock._labels_box.value is b_labels
    assert dock._region.value is b_region  # before: "(whole image)", b's rest as background
    assert "'b annotated region'" in dock._status.value
    dock._image.value = a  # back to a: its own region again
    assert dock._region.value is a_region
    dock._region.value = None
    dock._image.value = plain  # no region of its own
    assert dock._region.value is None


def test_a_shapes_layer_drawn_for_one_image_is_dropped_for_the_next(make_napari_viewer):
    viewer = make_napari_viewer()
    a, _, a_region = _annotated(viewer, "a", 0)
    b, _, b_region = _annotated(viewer, "b", 1)
    dock = _train_dock(viewer)
    dock._image.value = a
    mine = viewer.add_shapes([SQUARE], name="drawn on a")
    dock._region.value = mine
    _annotated(viewer, "c", 2)  # layers added meanwhile: the choice stays for a
    assert dock._image.value is a and dock._region.value is mine
    dock._image.value = b
    assert dock._region.value is b_region  # before: "drawn on a"
    assert dock._form.pairs() == [(b, viewer.layers["b annotations"], b_region)]


def test_a_region_chosen_and_removed_falls_back_to_the_images_own(make_napari_viewer):
    viewer = make_napari_viewer()
    a, _, a_region = _annotated(viewer, "a", 0)
    dock = _train_dock(viewer)
    mine = viewer.add_shapes([SQUARE], name="mine")
    dock._region.value = mine
    viewer.layers.remove(mine)
    assert dock._region.value is a_region  # before: "(whole image)"


def test_weight_map_region_follows_the_labels_image(make_napari_viewer):
    viewer = make_napari_viewer()
    _, a_labels, a_region = _annotated(viewer, "a", 0)
    _, b_labels, b_region = _annotated(viewer, "b", 1)
    dock = WeightMapWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Weight map")
    dock._labels_box.value = a_labels
    assert dock._mask.value is a_region
    dock._mask.value = None  # the user: the whole image, for a's labels
    viewer.add_shapes([SQUARE], name="unrelated")
    assert dock._mask.value is None  # kept while the labels' image stays
    dock._labels_box.value = b_labels
    assert dock._mask.value is b_region  # before: the whole image
