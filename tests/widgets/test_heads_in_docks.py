"""Heads in the docks: train a distance-head model in the Train dock, predict with it."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_unet import touching_cells  # noqa: E402
from napari_unet.core.models.heads import head_of  # noqa: E402
from napari_unet.widgets._train_form import BUILTIN, SCRATCH  # noqa: E402
from napari_unet.widgets.predict import PredictWidget, result_name  # noqa: E402
from napari_unet.widgets.train import TrainWidget  # noqa: E402


def test_train_a_head_then_predict_with_its_seeds(
    make_napari_viewer, qtbot, tmp_path, run_predict, errors
):
    img, lab = touching_cells((96, 96), n_cells=10, seed=0)
    viewer = make_napari_viewer()
    viewer.add_image(img, name="cells")
    viewer.add_labels(lab, name="cells labels")
    train = TrainWidget(viewer)
    predict = PredictWidget(viewer)
    viewer.window.add_dock_widget(train, name="Train")
    viewer.window.add_dock_widget(predict, name="Predict")
    assert train._start_from.value == BUILTIN
    train._head.value = "distance"
    assert train._start_from.value == SCRATCH  # a head is a network trained from scratch
    train._preset.value = "tiny"
    for name, value in (("_steps", 4), ("_batch", 2), ("_crop", 48), ("_val_every", 2)):
        getattr(train, name).value = value
    train._device.value = "cpu"
    train._save_path.value = tmp_path / "d.safetensors"
    train._start.native.click()
    qtbot.waitUntil(lambda: train._result is not None and train._start.enabled, timeout=120000)
    assert not errors
    assert head_of(train._result.model) == "distance"
    # The Train dock hands the model to the Predict dock: seeds, not the split, apply.
    assert head_of(predict._form.model) == "distance"
    assert predict._seed_level.enabled and not predict._split.enabled
    predict._image.value = viewer.layers["cells"]
    predict._threshold.value = 0.05  # an untrained network: keep some foreground
    predict._flips.value = True  # test-time flips reach the worker's Predictor
    assert predict._form.request()["options"]["flips"] is True
    run_predict(predict)
    assert not errors
    layer = viewer.layers[result_name("cells", predict._form.model_name)]
    assert layer.data.shape == (96, 96) and layer.data.dtype == np.int32
    # The built-in model has the paper's head: the split applies again.
    predict._source.value = "nuclei (built-in)"
    assert predict._split.enabled and not predict._seed_level.enabled
