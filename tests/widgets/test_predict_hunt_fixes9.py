"""The Predict dock: a model file rewritten during a run, Evaluate's picks, RGBA layers.

Before: a model file rewritten while a run loaded it was stamped after the run, so the
dock kept the old weights for good (later Predicts and Export used them); a prediction
whose image's segmentation was Evaluate's ground truth said "Could not show the
segmentation" (Evaluate offered that ground truth to compare with, and failed); and a PNG
with transparency opened in napari (an RGB layer of four channels) was predicted, chosen
for and trained on with its alpha as a fourth channel, where reading the file drops it.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("torch")

from napari_unet import touching_cells  # noqa: E402
from napari_unet.widgets import _auto_builtin, _exporting  # noqa: E402
from napari_unet.widgets._live_inputs import image_planes  # noqa: E402
from napari_unet.widgets._train_helpers import snapshot  # noqa: E402
from napari_unet.widgets.evaluate import EvaluateWidget  # noqa: E402
from napari_unet.widgets.predict import PredictWidget, result_name  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def _dock(viewer, layer):
    widget = PredictWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget._image.value = layer
    return widget


def _image(shape=(96, 96)) -> np.ndarray:
    return touching_cells(shape)[0]


# -- 1. a model file rewritten while a run loads it ------------------------------------
def test_model_file_rewritten_while_a_run_loads_it_is_read_again(
    make_napari_viewer, run_predict, model_file, tmp_path, monkeypatch
):
    import shutil

    path = shutil.copy(model_file, tmp_path / "m.safetensors")
    viewer = make_napari_viewer()
    widget = _dock(viewer, viewer.add_image(_image(), name="img"))
    widget._model_file.value = path
    real = _exporting.load_predict_model

    def load_then_rewrite(model_file, device="auto"):
        loaded = real(model_file, device)
        with open(model_file, "ab") as handle:  # retrained meanwhile: written again
            handle.write(b" ")
        stat = os.stat(model_file)
        os.utime(model_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
        return loaded

    run_predict(widget)  # not rewritten: kept in memory, not read again
    kept = widget._form.model
    widget._form.request()
    assert kept is not None and widget._form.model is kept and widget._form.pending is None
    widget._model_file.value = model_file
    widget._model_file.value = path  # chosen again: read when Predict is pressed
    monkeypatch.setattr(_exporting, "load_predict_model", load_then_rewrite)
    run_predict(widget)
    assert "objects in" in widget._status.value
    widget._form.request()  # Predict's check: the file in memory is not the file now
    assert widget._form.model is None
    assert str(widget._form.pending) == str(path)
    assert str(widget._form.export_source()[0]) == str(path)  # Export reads it again too


# -- 2. Evaluate's picks after a prediction --------------------------------------------
def test_segmentation_picked_as_ground_truth_then_another_model(
    make_napari_viewer, run_predict, tiny
):
    viewer = make_napari_viewer()
    widget = _dock(viewer, viewer.add_image(_image(), name="img"))
    widget.set_model(*tiny, name="a")
    run_predict(widget)
    panel = widget._evaluate.panel
    first = viewer.layers[result_name("img", "a")]
    panel._ground_truth.value = first  # the user: score the next model against this one
    widget.set_model(*tiny, name="b")
    run_predict(widget)
    second = viewer.layers[result_name("img", "b")]
    assert "Could not show" not in widget._status.value
    assert widget._status.value.startswith(f"{int(second.data.max())} objects in")
    assert panel._prediction.value is second
    assert panel._ground_truth.value is first  # the user's pick stays
    assert first not in panel._compare.value


def test_second_predict_dock_with_a_segmentation_as_default_ground_truth(
    make_napari_viewer, run_predict, tiny
):
    viewer = make_napari_viewer()
    image = viewer.add_image(_image(), name="img")
    widget = _dock(viewer, image)
    for name in ("a", "b"):
        widget.set_model(*tiny, name=name)
        run_predict(widget)
    again = _dock(viewer, image)  # the dock closed and opened again
    again.set_model(*tiny, name="a")
    run_predict(again)
    assert "Could not show" not in again._status.value
    assert "objects in" in again._status.value.splitlines()[0]
    panel = again._evaluate.panel
    assert panel._prediction.value is viewer.layers[-1]  # the one just made
    assert panel._ground_truth.value not in panel._compare.value


def test_a_failed_evaluate_pick_never_fails_the_prediction(
    make_napari_viewer, run_predict, tiny, monkeypatch
):
    viewer = make_napari_viewer()
    widget = _dock(viewer, viewer.add_image(_image(), name="img"))
    widget.set_model(*tiny, name="a")
    warned: list[str] = []
    monkeypatch.setattr("napari.utils.notifications.show_warning", warned.append)

    def broken(*_args, **_kwargs):
        raise ValueError("broken pick")

    monkeypatch.setattr(EvaluateWidget, "suggest", broken)
    run_predict(widget)
    assert result_name("img", "a") in viewer.layers
    assert widget._status.value.startswith(f"{int(viewer.layers[-1].data.max())} objects in")
    assert "Error" not in widget._status.value
    assert any("broken pick" in text for text in warned)


# -- 3. an RGB layer's alpha (napari's transparency) -----------------------------------
def _rgb_and_rgba(viewer):
    grey = (_image() * 255).astype(np.uint8)
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    alpha = np.full(grey.shape, 255, np.uint8)
    alpha[:, : grey.shape[1] // 2] = 0  # the left half transparent: it varies
    rgba = np.concatenate([rgb, alpha[..., None]], axis=-1)
    return (
        viewer.add_image(rgb, name="rgb", rgb=True),
        viewer.add_image(rgba, name="rgba", rgb=True),
    )


def test_rgba_layer_is_predicted_on_its_colours(make_napari_viewer, run_predict, tiny):
    viewer = make_napari_viewer()
    rgb, rgba = _rgb_and_rgba(viewer)
    widget = _dock(viewer, rgb)
    widget.set_model(*tiny, name="tiny")
    run_predict(widget)
    widget._image.value = rgba
    assert widget._form.request()["data"].shape == (96, 96, 3)
    run_predict(widget)
    first = viewer.layers[result_name("rgb", "tiny")].data
    second = viewer.layers[result_name("rgba", "tiny")].data
    assert "objects in" in widget._status.value
    np.testing.assert_array_equal(first, second)


def test_auto_judges_an_rgba_layer_on_its_colours(make_napari_viewer):
    viewer = make_napari_viewer()
    rgb, rgba = _rgb_and_rgba(viewer)
    pixels, axis = _auto_builtin.layer_sample(rgba)
    assert np.shape(pixels) == (96, 96, 3) and axis == -1
    assert _auto_builtin.choose_for_layer(rgba) == _auto_builtin.choose_for_layer(rgb)


def test_live_and_fine_tunes_read_an_rgba_layer_without_its_alpha(
    make_napari_viewer,
):
    """Live's and a fine-tune's grey model read the colours; Train from scratch reads a
    varying fourth channel as the core does (data: a 4-channel TIFF napari shows as RGBA)."""
    viewer = make_napari_viewer()
    rgb, rgba = _rgb_and_rgba(viewer)
    labels = viewer.add_labels(touching_cells((96, 96))[1], name="rgba annotations")
    taken = snapshot([(rgba, labels, None)], "none", None)
    np.testing.assert_array_equal(taken["images"][0], rgba.data)
    tuned = snapshot([(rgba, labels, None)], rgba, labels, in_channels=1)  # a grey model's
    np.testing.assert_array_equal(tuned["images"][0], rgb.data)  # fine-tune: the colours
    np.testing.assert_array_equal(tuned["val"][0], rgb.data)
    data, planes = image_planes(rgba)
    assert np.shape(data) == (96, 96, 3) and planes is None
    data, _ = image_planes(rgba, in_channels=4)  # a model of four channels reads all four
    assert np.shape(data) == (96, 96, 4)


def test_a_four_channel_model_predicts_an_rgb_layer_of_four_channels(
    make_napari_viewer, run_predict
):
    """napari shows a (Y, X, 4) TIFF as RGBA; a model of four channels (one `napari-unet
    train` made from the file) reads all four. A first fix dropped the fourth: refused."""
    from napari_unet.core.models import UNet

    viewer = make_napari_viewer()
    _, rgba = _rgb_and_rgba(viewer)
    widget = _dock(viewer, rgba)
    model = UNet(4, 2, base_channels=8, depth=3, padding="same")
    widget.set_model(model, {"normalization": {"method": "percentile"}}, name="four")
    assert widget._form.request()["data"].shape == (96, 96, 4)
    run_predict(widget)
    assert result_name("rgba", "four") in viewer.layers, widget._status.value
