"""The Predict dock reads an image's axes as the command line does, for the model it runs.

A grey (C, H, W) layer with C at most 4 was always read as planes: a model the Train dock
had trained on those channels (the Annotate dock's reading) was refused ("the model
expects 2 channels"), or a 3-channel one was given each plane three times and returned
three results where the annotations have one; an RGB stack, which training accepts, was
refused.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet.core.annotation.axes import prediction_plan

torch = pytest.importorskip("torch")


@pytest.mark.parametrize(
    ("shape", "rgb", "channels", "kind", "labels", "axis"),
    [
        ((64, 64), False, 1, "2D", (64, 64), "none"),
        ((64, 64, 3), True, 1, "rgb", (64, 64), -1),
        ((2, 64, 64, 3), True, 3, "rgb", (2, 64, 64), -1),
        ((3, 64, 64), False, 1, "stack", (3, 64, 64), "none"),
        ((3, 64, 64), False, 3, "channels", (64, 64), 0),
        ((2, 64, 64), False, 2, "channels", (64, 64), 0),
        ((2, 64, 64), False, 3, "stack", (2, 64, 64), "none"),
        ((9, 64, 64), False, 1, "stack", (9, 64, 64), "none"),
    ],
)
def test_prediction_plan(shape, rgb, channels, kind, labels, axis):
    plan, channel_axis = prediction_plan(shape, rgb, channels)
    assert (plan.kind, plan.labels_shape, channel_axis) == (kind, labels, axis)


def _model_file(tmp_path, in_channels: int):
    from napari_unet.core.models import build_model
    from napari_unet.core.models.modelfile import save_model

    net = build_model({"arch": "unet", "base_channels": 4, "depth": 2, "in_channels": in_channels})
    return save_model(tmp_path / f"m{in_channels}.unet.safetensors", net)


@pytest.mark.parametrize(
    ("data_shape", "rgb", "in_channels", "result"),
    [
        ((2, 48, 48), False, 2, (48, 48)),  # refused before
        ((3, 48, 48), False, 3, (48, 48)),  # (3, 48, 48) before: each plane as grey RGB
        ((3, 48, 48), False, 1, (3, 48, 48)),  # a grey model: one prediction per plane
        ((2, 48, 48, 3), True, 3, (2, 48, 48)),  # an RGB stack: refused before
    ],
)
def test_the_dock_predicts_as_the_model_reads(
    run_predict, make_napari_viewer, tmp_path, data_shape, rgb, in_channels, result
):
    from napari_unet.widgets.predict import PredictWidget

    viewer = make_napari_viewer()
    rng = np.random.default_rng(0)
    layer = viewer.add_image(rng.integers(0, 255, data_shape).astype(np.uint8), rgb=rgb)
    widget = PredictWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget._model_file.value = _model_file(tmp_path, in_channels)
    widget._image.value = layer
    widget._size.value = 0  # auto: a random model records no object size
    run_predict(widget)
    seg = [ly for ly in viewer.layers if ly.name.startswith(f"{layer.name} segmentation")]
    assert seg and seg[0].data.shape == result, widget._status.value


def test_refusals_speak_of_predicting_and_offer_no_annotate_control():
    from napari_unet.core.errors import InputError

    with pytest.raises(InputError) as refused:
        prediction_plan((64, 64, 2), False, 1)  # channels last, shown as 64 narrow planes
    assert "one layer per channel" in str(refused.value) and "'stack'" not in str(refused.value)
    with pytest.raises(InputError, match="cannot predict a 4D layer of shape"):
        prediction_plan((2, 3, 64, 64), False, 1)


def test_a_package_not_yet_opened_tells_its_channels(tmp_path):
    """The first Predict with a 2-channel package read a (2, H, W) layer as planes."""
    pytest.importorskip("bioimageio.spec")
    from napari_unet.core.exchange.export import export_bioimageio
    from napari_unet.widgets._exporting import model_channels

    image = np.random.default_rng(0).random((2, 64, 64)).astype(np.float32)
    package = export_bioimageio(_model_file(tmp_path, 2), tmp_path / "two.zip", image=image)
    assert model_channels(None, package) == 2
    assert model_channels(None, tmp_path / "missing.zip") == 1
