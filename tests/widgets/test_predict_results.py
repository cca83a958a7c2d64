"""The Predict dock's results: named after the model, saved from the dock, never over an input."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import napari_unet as nu  # noqa: E402
from napari_unet.widgets.predict import PredictWidget, result_name  # noqa: E402


def _dialog_answers(monkeypatch, path):
    from qtpy.QtWidgets import QFileDialog

    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(path), ""))


def _sample(make_napari_viewer, tiny, name="A"):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-unet", "touching_cells")
    widget = PredictWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.set_model(*tiny, name=name)
    widget._image.value = viewer.layers["touching cells"]
    return viewer, widget


def test_each_model_gets_its_own_result_layer(run_predict, make_napari_viewer, qtbot, tiny):
    viewer, widget = _sample(make_napari_viewer, tiny)
    run_predict(widget)
    first = viewer.layers[result_name("touching cells", "A")]
    widget.set_model(*tiny, name="B")
    widget._threshold.value = 0.9  # a different result, so the layers can be told apart
    run_predict(widget)
    second = viewer.layers[result_name("touching cells", "B")]
    assert first in viewer.layers and first is not second  # side by side, none overwritten
    assert not np.array_equal(first.data, second.data)
    widget.set_model(*tiny, name="A")
    run_predict(widget)
    assert viewer.layers[result_name("touching cells", "A")] is first  # same model: in place
    # The Evaluate section scores both against the ground truth.
    names = [ly.name for ly in viewer.layers]
    assert names.count(result_name("touching cells", "A")) == 1


@pytest.mark.parametrize("suffix", [".tif", ".zarr"])
def test_save_segmentation_writes_what_the_layer_shows(
    run_predict, make_napari_viewer, qtbot, tiny, tmp_path, monkeypatch, errors, suffix
):
    viewer, widget = _sample(make_napari_viewer, tiny)
    assert not widget._save_labels.enabled  # nothing to save yet
    run_predict(widget)
    seg = viewer.layers[result_name("touching cells", "A")]
    seg.data[:5, :5] = 77  # a correction painted after the prediction is saved too
    path = tmp_path / f"cells.labels{suffix}"
    for _ in range(2):  # the second save replaces the first (the dialog asked)
        _dialog_answers(monkeypatch, path)
        widget._save_labels.native.click()
        qtbot.waitUntil(lambda: widget._status.value.startswith("Saved"), timeout=30000)
        np.testing.assert_array_equal(np.asarray(nu.read_image(path)), seg.data)
        widget._status.value = ""
    assert not errors
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary debris


def test_saving_refuses_the_image_file_and_keeps_it(
    run_predict, make_napari_viewer, qtbot, tiny, tmp_path, monkeypatch, errors
):
    image, _ = nu.touching_cells((96, 96), n_cells=8, seed=1)
    source = tmp_path / "cells.tif"
    nu.write_image(source, (image * 1000).astype(np.uint16))
    before = source.read_bytes()
    viewer = make_napari_viewer()
    layer = viewer.open(source)[0]
    widget = PredictWidget(viewer)
    widget.set_model(*tiny, name="A")
    widget._image.value = layer
    run_predict(widget)
    from napari_unet.widgets._saving import suggested_labels_path

    seg = viewer.layers[result_name("cells", "A")]
    assert suggested_labels_path(seg, layer) == tmp_path / "cells_labels.tif"
    _dialog_answers(monkeypatch, source)
    widget._save_labels.native.click()
    qtbot.waitUntil(lambda: widget._status.value.startswith("Error"), timeout=30000)
    assert "is an input" in errors[-1]
    assert source.read_bytes() == before


def test_an_unsaved_trained_model_can_be_saved_from_the_predict_dock(
    run_predict, make_napari_viewer, qtbot, tiny, tmp_path, monkeypatch, errors
):
    viewer, widget = _sample(make_napari_viewer, tiny, name="trained model")
    assert widget._save_model.enabled and "not saved" in widget._model_label.value
    _dialog_answers(monkeypatch, tmp_path / "mine")
    widget._save_model.native.click()
    path = tmp_path / "mine.safetensors"
    model, metadata = nu.load_model(path)
    assert metadata["normalization"] == tiny[1]["normalization"]
    for key, value in model.state_dict().items():
        assert torch.equal(value, tiny[0].state_dict()[key])
    assert widget._model_label.value == "model: mine" and not widget._save_model.enabled
    run_predict(widget)
    assert result_name("touching cells", "mine") in viewer.layers
    assert not errors
