"""The Predict dock: two models of one file name, and a model file rewritten on disk.

Before: ``runA/model.safetensors`` then ``runB/model.safetensors`` both wrote
``"img segmentation (model)"``, the second replacing the first's result (the docs say
another model adds a layer beside the first); and a model file rewritten on disk was read
again but its recommended threshold, min area and split were not: the dock kept the old
file's, so the same file segmented differently in the dock and with ``napari-unet predict``.
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

pytest.importorskip("torch")

from napari_unet.core.models.pretrained import pretrained_path  # noqa: E402
from napari_unet.sample_data import nuclei_data  # noqa: E402
from napari_unet.widgets.predict import PredictWidget  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def _crop() -> np.ndarray:
    return nuclei_data()[0][:256, :256]


def _dock(viewer):
    widget = PredictWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget._image.value = viewer.add_image(_crop(), name="img")
    return widget


def _copy(name: str, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    return shutil.copyfile(pretrained_path(name), path)


def _segmentations(viewer) -> list:
    return [layer for layer in viewer.layers if layer.name.startswith("img segmentation")]


def _boxes(widget) -> tuple:
    form = widget._form
    return form._threshold.value, form._min_size.value, form._split.value


def _rewrite(name: str, path) -> None:
    """``path`` written again with built-in model ``name`` (a later time stamp)."""
    stat = os.stat(path)
    _copy(name, path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))


def test_two_model_files_of_one_name_keep_their_own_layers(
    make_napari_viewer, run_predict, tmp_path
):
    first = _copy("nuclei", tmp_path / "runA" / "model.safetensors")
    second = _copy("nuclei-brightfield", tmp_path / "runB" / "model.safetensors")
    viewer = make_napari_viewer()
    widget = _dock(viewer)
    widget._model_file.value = first
    run_predict(widget)
    (layer_a,) = _segmentations(viewer)
    assert layer_a.name == "img segmentation (model)"
    data_a = np.array(layer_a.data)
    widget._model_file.value = second
    run_predict(widget)
    layers = _segmentations(viewer)
    assert len(layers) == 2, [layer.name for layer in layers]  # beside the first
    layer_b = next(layer for layer in layers if layer is not layer_a)
    assert layer_b.name == "img segmentation (runB/model)"
    assert np.array_equal(layer_a.data, data_a)  # the first model's result is kept
    assert f"objects in {layer_b.name!r}" in widget._status.value
    data_b = np.array(layer_b.data)
    widget._model_file.value = first  # the same file again: its own layer, in place
    run_predict(widget)
    assert _segmentations(viewer) == layers  # no third layer
    assert f"objects in {layer_a.name!r}" in widget._status.value
    assert np.array_equal(layer_a.data, data_a)
    assert np.array_equal(layer_b.data, data_b)


def test_builtin_model_and_a_file_of_its_name_keep_their_own_layers(
    make_napari_viewer, run_predict, tmp_path
):
    from napari_unet.widgets._predict_form import BUILTIN

    path = _copy("nuclei-brightfield", tmp_path / "mine" / "nuclei.safetensors")
    viewer = make_napari_viewer()
    widget = _dock(viewer)
    widget._model_file.value = path
    run_predict(widget)
    widget._source.value = BUILTIN
    run_predict(widget)
    names = [layer.name for layer in _segmentations(viewer)]
    assert names == ["img segmentation (nuclei)", "img segmentation (built-in nuclei)"]


def test_rewritten_model_file_predicts_with_its_new_recommendations(
    make_napari_viewer, run_predict, tmp_path
):
    from napari_unet import load_model, segment

    path = _copy("nuclei-brightfield", tmp_path / "model.safetensors")
    viewer = make_napari_viewer()
    widget = _dock(viewer)
    widget._model_file.value = path
    assert _boxes(widget) == pytest.approx((0.7, 40, 0.0))  # the brightfield model's
    run_predict(widget)
    _rewrite("nuclei", path)  # retrained: the fluorescence model now
    run_predict(widget)
    assert _boxes(widget) == pytest.approx((0.6, 20, 2.0))  # as choosing the file shows
    assert widget._form._split.enabled
    (layer,) = _segmentations(viewer)  # the same file: the same layer, in place
    model, metadata = load_model(path)
    expected = segment(model, _crop(), metadata=metadata)  # predict's own recommendations
    assert int(layer.data.max()) == int(expected.max())
    assert f"{int(expected.max())} objects in" in widget._status.value


def test_rewritten_model_file_keeps_values_changed_by_hand(make_napari_viewer, tmp_path):
    path = _copy("nuclei-brightfield", tmp_path / "model.safetensors")
    viewer = make_napari_viewer()
    widget = _dock(viewer)
    widget._model_file.value = path
    assert "18.2 px" in widget._size_note.value
    widget._threshold.value = 0.45  # the user's choice
    _rewrite("nuclei", path)
    widget._form.request()  # what Predict sends
    assert _boxes(widget) == pytest.approx((0.45, 20, 2.0))  # the rest follows the file
    assert "17.6 px" in widget._size_note.value  # what the new model learnt
    widget._model_file.value = tmp_path  # (not a file: ignored)
    widget._model_file.value = path  # chosen again: all its recommendations, as before
    assert _boxes(widget) == pytest.approx((0.6, 20, 2.0))
