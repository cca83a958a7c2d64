"""The Predict dock's "uneven light" choice: flattened by default, kept when asked, said."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_unet import evaluate  # noqa: E402
from napari_unet.sample_data import nuclei_data  # noqa: E402
from napari_unet.widgets.predict import BUILTIN, PredictWidget  # noqa: E402


def test_uneven_light_is_flattened_and_the_status_says_so(run_predict, make_napari_viewer):
    image, truth = nuclei_data()
    h, w = image.shape
    ramp = 0.75 * np.add.outer(np.linspace(0, 1, h), np.linspace(0, 1, w)) * float(np.ptp(image))
    viewer = make_napari_viewer()
    layer = viewer.add_image((image + ramp).astype(np.float32), name="shaded")
    widget = PredictWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget._source.value = BUILTIN  # nuclei: auto would read the lit half as brightfield
    widget._image.value = layer
    assert widget._background.value == "auto"
    assert "uneven light" in widget._background.tooltip
    run_predict(widget)
    status = widget._status.value
    assert "The background was uneven" in status and "uneven light: keep" in status, status
    seg = viewer.layers["shaded segmentation (nuclei)"].data
    assert evaluate(truth, seg)["per_threshold"][0]["ap"] > 0.55
    widget._background.value = "keep"
    run_predict(widget)
    assert "uneven" not in widget._status.value.split("Warning")[0]
    kept = viewer.layers["shaded segmentation (nuclei)"].data
    assert evaluate(truth, kept)["per_threshold"][0]["ap"] < 0.3
