"""The Train and Predict docks keep what the user trained and chose, across the docks.

* After Annotate > Start on an image and a rename of the image, its prediction
  (``"<new name> segmentation (...)"``) was taken for the labels to train on, since the
  annotations keep their old name: the Train dock fine-tuned the model on its own output.
* The model the Train dock handed over to Predict was lost when Predict's model was set to
  a built-in model and back to "model file / trained model".
* After a hand-over, choosing again the file the Predict dock's file box still showed did
  nothing: Predict kept the handed-over model while the box showed the file.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

from napari_unet.core.models.pretrained import pretrained_path  # noqa: E402
from napari_unet.widgets import predict as predict_dock  # noqa: E402
from napari_unet.widgets.annotate import AnnotateWidget  # noqa: E402
from napari_unet.widgets.train import TrainWidget  # noqa: E402


def test_train_keeps_the_annotations_of_a_renamed_image(make_napari_viewer):
    viewer = make_napari_viewer()
    image = viewer.add_image(np.zeros((64, 64), np.float32), name="nuclei")
    annotate = AnnotateWidget(viewer)
    viewer.window.add_dock_widget(annotate, name="Annotate")
    annotate._image_combo.value = image
    annotate._axes.value = "auto"
    annotate._start_btn.native.click()
    annotations = viewer.layers["nuclei annotations"]
    annotations.data[10:20, 10:20] = 1
    train = TrainWidget(viewer)
    viewer.window.add_dock_widget(train, name="Train")
    assert train._labels_box.value is annotations
    image.name = "cells"  # the annotations keep their name
    prediction = np.zeros((64, 64), np.int32)
    prediction[30:40, 30:40] = 1
    viewer.add_labels(prediction, name="cells segmentation (nuclei)")
    train._image.value = image
    assert train._labels_box.value is annotations  # before: the prediction
    viewer.layers.remove(annotations)  # gone: the image's other labels then
    assert train._labels_box.value is viewer.layers["cells segmentation (nuclei)"]


def _predict(make_napari_viewer):
    viewer = make_napari_viewer()
    widget = predict_dock.PredictWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Predict")
    return widget


def test_a_handed_over_model_is_kept_after_a_builtin_one(make_napari_viewer):
    widget = _predict(make_napari_viewer)
    trained = object()
    widget.set_model(trained, {}, name="trained model")  # not saved
    widget._source.value = predict_dock.BUILTIN  # compared with the built-in model
    assert widget._form.model is None
    widget._source.value = predict_dock.OTHER  # and back
    assert widget._form.model is trained  # before: "model: none"
    assert widget._model_label.value.startswith("model: trained model (not saved")
    assert widget._save_model.enabled


def test_a_file_chosen_after_a_hand_over_is_used(make_napari_viewer, tmp_path):
    widget = _predict(make_napari_viewer)
    tiny = tmp_path / "tiny.safetensors"
    tiny.write_bytes(pretrained_path("nuclei").read_bytes())
    widget._model_file.value = tiny
    assert widget._form.pending == tiny
    trained = object()
    widget.set_model(trained, {}, name="trained model")
    assert str(widget._model_file.value) in ("", ".")  # the box shows no file now
    widget._model_file.value = tiny  # the same file chosen again
    assert widget._form.model is None and widget._form.pending == tiny  # before: trained
    assert widget._form.model_name == "tiny"
    widget._source.value = predict_dock.BUILTIN
    widget._source.value = predict_dock.OTHER  # the file chosen last, not the old model
    assert widget._form.model is None and widget._form.pending == tiny


def test_a_saved_hand_over_shows_its_file(make_napari_viewer, tmp_path):
    widget = _predict(make_napari_viewer)
    saved = tmp_path / "mine.safetensors"
    saved.write_bytes(pretrained_path("nuclei").read_bytes())
    trained = object()
    widget.set_model(trained, {}, name="mine", saved=saved)
    assert widget._model_file.value == saved and widget._form.model is trained
    assert not widget._save_model.enabled
