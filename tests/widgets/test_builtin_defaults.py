"""The built-in models are the default of the Predict dock and the Train dock.

The default is auto: the built-in model chosen by the image (nuclei for this fluorescence
sample); tests/widgets/test_auto_builtin_docks.py has the bright-background images.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from napari_unet import (  # noqa: E402
    InputError,
    evaluate,
    read_metadata,
)
from napari_unet.core.models.pretrained import pretrained_path  # noqa: E402
from napari_unet.widgets import predict as predict_dock  # noqa: E402
from napari_unet.widgets import train as train_dock  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def test_predict_dock_segments_the_sample_with_the_builtin_model(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-unet", "nuclei")
    widget = predict_dock.PredictWidget(viewer)
    viewer.window.add_dock_widget(widget)
    assert widget._source.value == predict_dock.AUTO_CHOICE
    assert widget._form.pending == pretrained_path("nuclei")  # chosen for the fluorescence
    assert "nuclei" in widget._model_label.value
    post = read_metadata(pretrained_path("nuclei"))["postprocess"]
    assert widget._threshold.value == pytest.approx(post["threshold"])
    assert widget._min_size.value == post["min_size"]
    assert widget._split.value == pytest.approx(post.get("split", 0.0))
    widget._image.value = viewer.layers["nuclei"]
    widget._run.clicked.emit()
    qtbot.waitUntil(lambda: widget._worker is None and widget._run.enabled, timeout=120_000)
    seg = viewer.layers["nuclei segmentation (nuclei)"]
    assert seg.data.shape == viewer.layers["nuclei"].data.shape
    truth = viewer.layers["nuclei ground truth"].data  # the sample's ground truth (125 nuclei)
    assert evaluate(truth, seg.data)["per_threshold"][0]["ap"] > 0.58  # documented floor
    assert widget._model_label.value == (
        "model: auto chose nuclei: bright objects on a dark background"
    )


def test_predict_dock_switches_to_a_trained_model_or_file(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    widget = predict_dock.PredictWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.set_model(object(), {}, name="just trained")
    assert widget._source.value == predict_dock.OTHER
    assert widget._form.model is not None and "model: just trained" in widget._model_label.value
    assert widget._save_model.enabled  # an unsaved model can be saved from here
    widget._source.value = predict_dock.BUILTIN
    assert widget._form.model is None and widget._form.pending == pretrained_path("nuclei")
    other = tmp_path / "mine.safetensors"
    other.write_bytes(pretrained_path("nuclei").read_bytes())
    widget._model_file.value = other
    assert widget._source.value == predict_dock.OTHER and widget._form.pending == other
    # A model file's recommended post-processing is shown when the file is chosen.
    post = read_metadata(other)["postprocess"]
    widget._threshold.value, widget._split.value = 0.3, 0.0
    widget._model_file.value = tmp_path  # a folder: nothing changes
    widget._model_file.value = other
    assert widget._threshold.value == pytest.approx(post["threshold"])
    assert widget._split.value == pytest.approx(post.get("split", 0.0))


def test_train_dock_fine_tunes_the_builtin_model_by_default(make_napari_viewer, tmp_path):
    viewer = make_napari_viewer()
    widget = train_dock.TrainWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Train")
    assert widget._start_from.value == train_dock.BUILTIN
    with pytest.raises(InputError, match="choose an Image layer"):
        widget._form.init_choice()  # the built-in model is chosen by the training image
    viewer.open_sample("napari-unet", "nuclei")
    assert widget._form.init_choice() == pretrained_path("nuclei")  # fluorescence
    widget._start_from.value = train_dock.FILE
    with pytest.raises(InputError, match="choose a model file"):
        widget._form.init_choice()
    mine = tmp_path / "mine.safetensors"
    mine.write_bytes(b"")
    widget._init_file.value = mine
    assert widget._start_from.value == train_dock.FILE and widget._form.init_choice() == mine
    widget._preset.value = "tiny"  # choosing an architecture means training it from scratch
    assert widget._start_from.value == train_dock.SCRATCH and widget._form.init_choice() is None
