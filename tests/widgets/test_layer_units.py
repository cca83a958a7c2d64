"""Layers the docks add carry their image's units (an OME-Zarr's micrometres).

A result in pixels beside an image in micrometres made napari warn "Inconsistent units
across layers" and drop the units everywhere (scale bar, status line): the viewer's
extent had no units once Predict, Annotate, Weight map or the Train preview added a layer.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet import touching_cells

pytestmark = pytest.mark.usefixtures("one_thread")

UM = ("micrometer", "micrometer")


def _units(layer) -> tuple[str, ...]:
    return tuple(str(u) for u in layer.units)


@pytest.fixture
def viewer(make_napari_viewer):
    image, labels = touching_cells((96, 96), n_cells=8, seed=0)
    viewer = make_napari_viewer()
    viewer.add_image(image, name="cells", scale=(0.5, 0.5), units=("um", "um"))
    viewer.add_labels(labels, name="cells labels", scale=(0.5, 0.5), units=("um", "um"))
    assert viewer.layers.extent.units is not None
    return viewer


def test_predict_results_are_in_the_images_units(viewer, tiny, run_predict):
    from napari_unet.widgets.predict import PredictWidget

    widget = PredictWidget(viewer)
    widget.set_model(*tiny, name="tiny")
    widget._image.value = viewer.layers["cells"]
    run_predict(widget)
    made = [ly for ly in viewer.layers if ly.name not in ("cells", "cells labels")]
    assert made and all(_units(ly) == UM for ly in made), [(ly.name, ly.units) for ly in made]
    assert viewer.layers.extent.units is not None  # no "Inconsistent units" fallback


def test_annotations_and_weight_maps_are_in_the_images_units(viewer, qtbot):
    from napari_unet.widgets.annotate import AnnotateWidget
    from napari_unet.widgets.weightmap import WeightMapWidget

    annotate = AnnotateWidget(viewer)
    viewer.window.add_dock_widget(annotate)
    annotate._image_combo.value = viewer.layers["cells"]
    annotate._start_btn.native.click()
    for name in ("cells annotations", "cells annotated region"):
        assert _units(viewer.layers[name]) == UM, name
    weights = WeightMapWidget(viewer)
    viewer.window.add_dock_widget(weights)
    weights._labels_box.value = viewer.layers["cells labels"]
    weights._run.native.click()
    qtbot.waitUntil(lambda: "cells labels weights" in viewer.layers, timeout=20_000)
    assert _units(viewer.layers["cells labels weights"]) == UM
    assert viewer.layers.extent.units is not None
    np.testing.assert_allclose(viewer.layers["cells labels weights"].scale, (0.5, 0.5))
