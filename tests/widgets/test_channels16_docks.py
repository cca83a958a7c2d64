"""The docks read planes and channels as the command line does.

Before, the Predict dock gave a 3-channel model each plane of a layer whose axes are named
z as grey RGB (the docs and ``napari-unet predict`` refuse it); and the Train dock trained
the built-in grey model on the mean of a ``(2, Y, X)`` layer's planes, which the Predict
dock then segmented as two planes.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

pytestmark = pytest.mark.usefixtures("one_thread")


def _model_file(tmp_path, in_channels: int):
    from napari_unet.core.models.modelfile import save_model
    from napari_unet.core.models.registry import build_model

    net = build_model({"arch": "unet", "base_channels": 4, "depth": 2, "in_channels": in_channels})
    return save_model(tmp_path / f"m{in_channels}.unet.safetensors", net)


def _segmentations(viewer, layer):
    return [ly for ly in viewer.layers if ly.name.startswith(f"{layer.name} segmentation")]


@pytest.mark.parametrize(("in_channels", "refused"), [(3, True), (2, True), (1, False)])
def test_predict_refuses_z_named_planes_for_a_model_of_channels(
    run_predict, make_napari_viewer, tmp_path, in_channels, refused
):
    from napari_unet.widgets.predict import PredictWidget

    viewer = make_napari_viewer()
    data = np.random.default_rng(0).integers(0, 255, (3, 48, 48)).astype(np.uint8)
    layer = viewer.add_image(data, name="zs", axis_labels=("z", "y", "x"))
    widget = PredictWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget._model_file.value = _model_file(tmp_path, in_channels)
    widget._image.value = layer
    widget._size.value = 0
    run_predict(widget)
    found = _segmentations(viewer, layer)
    if refused:
        assert not found, [ly.data.shape for ly in found]
        status = widget._status.value
        assert "the layer names its first axis z: 3 z-planes" in status, status
        assert f"the model reads {in_channels} channels" in status
    else:  # a grey model predicts them one by one
        assert found and found[0].data.shape == (3, 48, 48), widget._status.value


def test_train_dock_refuses_planes_first_for_the_built_in_grey_model(
    make_napari_viewer, qtbot, tmp_path
):
    from napari_unet import touching_cells
    from napari_unet.widgets.train import TrainWidget

    img, lab = touching_cells((64, 64), n_cells=6, seed=0)
    other = np.roll(img, 7, axis=1)  # a second stain
    viewer = make_napari_viewer()
    viewer.add_image(np.stack([other, img]), name="two")
    viewer.add_labels(lab.astype(np.int32), name="two annotations")
    widget = TrainWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Train")
    assert "built-in" in str(widget._start_from.value)  # the default start: a grey model
    widget._steps.value = 2
    widget._batch.value = 1
    widget._crop.value = 48
    widget._val_image.value = "none"
    widget._device.value = "cpu"
    widget._save_path.value = tmp_path / "two.unet.safetensors"
    widget._labels_box.value = viewer.layers["two annotations"]
    widget._start.native.click()
    qtbot.waitUntil(lambda: bool(widget._done.is_set() and widget._start.enabled),
                    timeout=60_000)  # fmt: skip
    qtbot.waitUntil(lambda: "model reads one channel" in widget._status.value, timeout=5_000)
    assert widget._result is None, widget._status.value
    assert not (tmp_path / "two.unet.safetensors").exists()
