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


def test_a_plane_predicted_into_a_stack_result_keeps_ids_unique(run_predict, make_napari_viewer):
    """Ids 1..N written into one plane collided with the other planes' (and, for a view,
    with the same plane's cells outside it): measured, two cells of one id are one object."""
    from napari_unet import touching_cells
    from napari_unet.widgets.predict import VIEW, WHOLE

    img, _ = touching_cells((96, 96), n_cells=10, seed=3)
    viewer = make_napari_viewer()
    viewer.add_image(np.stack([img, img[::-1], img]), name="stack")
    widget = PredictWidget(viewer)
    widget._source.value = BUILTIN
    widget._image.value = viewer.layers["stack"]
    widget._scope.value = WHOLE
    run_predict(widget)
    seg = viewer.layers["stack segmentation (nuclei)"]
    viewer.dims.set_current_step(0, 1)
    widget._scope.value = VIEW
    run_predict(widget)  # plane 1 again, into the same layer (not edited)
    assert viewer.layers["stack segmentation (nuclei)"] is seg
    ids = [set(np.unique(seg.data[k])) - {0} for k in range(3)]
    assert ids[1] and not ids[1] & (ids[0] | ids[2])


def test_few_photons_are_blurred_and_the_status_says_so(run_predict, make_napari_viewer):
    """The "few photons" choice: a photon-limited image is blurred by default, said; off
    predicts it as it is (its nuclei broken into fragments)."""
    image, truth = nuclei_data()
    lo, hi = np.percentile(image, (0.5, 99.5))
    scaled = np.clip(image - lo, 0, None) / (hi - lo) * 5 + 0.5
    dim = np.random.default_rng(0).poisson(scaled).astype(np.uint16)  # 5 photons at most
    viewer = make_napari_viewer()
    layer = viewer.add_image(dim, name="dim")
    widget = PredictWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget._source.value = BUILTIN
    widget._image.value = layer
    assert widget._denoise.value == "auto"
    assert "few photons" in widget._denoise.tooltip
    run_predict(widget)
    status = widget._status.value
    assert "caught few photons" in status and "few photons: off" in status, status
    blurred = evaluate(truth, viewer.layers["dim segmentation (nuclei)"].data)
    widget._denoise.value = "off"
    run_predict(widget)
    assert "few photons" not in widget._status.value
    kept = evaluate(truth, viewer.layers["dim segmentation (nuclei)"].data)
    assert blurred["per_threshold"][0]["ap"] > kept["per_threshold"][0]["ap"] + 0.05
