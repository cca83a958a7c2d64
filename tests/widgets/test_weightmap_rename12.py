"""The Weight map dock keeps the annotated region when the image or its labels are renamed.

Before, the dock found the labels' image by name only: after a rename it had none, so the
region picked for it (the Annotate dock's ``"<image> annotated region"``) or chosen by the
user was dropped, and "update on change" recomputed the map over the whole image.
"""

from __future__ import annotations

import numpy as np
from test_weightmap_outputs import settle

from napari_unet import touching_cells
from napari_unet.widgets.weightmap import WeightMapWidget

LEFT = np.array([[0, 0], [0, 31], [63, 31], [63, 0]], float)  # the left half of 64 x 64


def _viewer(make_napari_viewer):
    viewer = make_napari_viewer()
    for name, seed in (("cropA", 1), ("cropB", 2)):
        image, labels = touching_cells((64, 64), n_cells=12, seed=seed)
        viewer.add_image(image, name=name)
        painted = np.where(np.arange(64)[None, :] < 32, labels, 0)  # the left half painted
        viewer.add_labels(painted, name=f"{name} annotations")
        viewer.add_shapes([LEFT], name=f"{name} annotated region")
    widget = WeightMapWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Weight map")
    return viewer, widget


def test_renaming_the_image_keeps_the_picked_region_and_the_map(make_napari_viewer, qtbot):
    viewer, widget = _viewer(make_napari_viewer)
    widget._labels_box.value = viewer.layers["cropB annotations"]
    region = viewer.layers["cropB annotated region"]
    assert widget._mask.value is region
    widget._live.value = True
    settle(qtbot, widget)
    assert viewer.layers["cropB annotations weights"].data[:, 40:].sum() == 0
    viewer.layers["cropB"].name = "sample 2"  # the biologist renames the image
    settle(qtbot, widget)
    assert widget._mask.value is region  # before: (whole image)
    assert viewer.layers["cropB annotations weights"].data[:, 40:].sum() == 0  # before: > 0
    assert "inside" in widget._idle_text()


def test_renaming_the_labels_keeps_the_picked_region(make_napari_viewer):
    viewer, widget = _viewer(make_napari_viewer)
    labels = viewer.layers["cropB annotations"]
    widget._labels_box.value = labels
    region = viewer.layers["cropB annotated region"]
    labels.name = "nuclei I painted"
    assert widget._labels_box.value is labels
    assert widget._mask.value is region  # before: (whole image)


def test_renaming_the_image_keeps_the_region_the_user_chose(make_napari_viewer):
    viewer, widget = _viewer(make_napari_viewer)
    widget._labels_box.value = viewer.layers["cropA annotations"]
    roi = viewer.add_shapes([LEFT / 2], name="my roi")
    widget._mask.value = roi  # the user's own region
    viewer.layers["cropA"].name = "sample 1"
    assert widget._mask.value is roi  # before: reset, then (whole image)
    widget._mask.value = None  # the user: the whole image, also kept
    viewer.layers["sample 1"].name = "sample one"
    assert widget._mask.value is None


def test_labels_of_another_image_still_pick_that_images_region(make_napari_viewer):
    viewer, widget = _viewer(make_napari_viewer)
    widget._labels_box.value = viewer.layers["cropA annotations"]
    roi = viewer.add_shapes([LEFT / 2], name="my roi")
    widget._mask.value = roi
    viewer.layers["cropA"].name = "sample 1"
    widget._labels_box.value = viewer.layers["cropB annotations"]
    assert widget._mask.value is viewer.layers["cropB annotated region"]
