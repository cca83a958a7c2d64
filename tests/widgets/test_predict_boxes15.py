"""The Predict dock's post-processing boxes show and use any model file's recommendations.

Before: the threshold box rounded to 2 decimals, so a file recommending 0.425 ran at 0.42 in
the dock (another segmentation than ``nu.segment``'s with the same file); and a file whose
split was over 20 px (or seed level outside 0.05-0.95), which the file check and the command
line accept, raised a traceback when chosen and kept the previous model's values.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")

import napari_unet as nu  # noqa: E402
from napari_unet.core.models.registry import build_model  # noqa: E402
from napari_unet.sample_data import nuclei_data  # noqa: E402
from napari_unet.widgets._predict_form import OTHER  # noqa: E402
from napari_unet.widgets.predict import PredictWidget  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def _image() -> np.ndarray:
    return nuclei_data()[0][:128, :128]


def _nuclei_file(tmp_path, name: str, **post):
    model, _ = nu.pretrained("nuclei")
    postprocess = {"threshold": 0.6, "min_size": 20, "split": 2.0, **post}
    return nu.save_model(tmp_path / name, model, postprocess=postprocess)


def _dock(viewer, path):
    widget = PredictWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget._image.value = viewer.add_image(_image(), name="img")
    widget._source.value = OTHER
    widget._tile.value = 128
    widget._model_file.value = path
    return widget


def _options(widget) -> dict:
    return widget._form.request()["options"]


@pytest.mark.parametrize("threshold", [0.425, 0.4251])
def test_a_files_threshold_is_used_exactly(make_napari_viewer, tmp_path, threshold):
    path = _nuclei_file(tmp_path, "t.safetensors", threshold=threshold)
    widget = _dock(make_napari_viewer(), path)
    assert widget._threshold.value == pytest.approx(threshold, abs=5e-4)  # 3 decimals: 0.425
    assert _options(widget)["threshold"] == threshold  # the file's, not the box's rounding
    widget._threshold.value = 0.7  # the user's value is the user's
    assert _options(widget)["threshold"] == pytest.approx(0.7)


def test_the_dock_segments_as_nu_segment_with_the_files_threshold(
    make_napari_viewer, run_predict, tmp_path
):
    path = _nuclei_file(tmp_path, "t425.safetensors", threshold=0.425)
    viewer = make_napari_viewer()
    widget = _dock(viewer, path)
    run_predict(widget)
    (layer,) = [layer for layer in viewer.layers if layer.name.startswith("img segmentation")]
    expected = nu.segment(nu.load_model(path)[0], _image(), tile=128)
    assert np.array_equal(np.asarray(layer.data), expected)


def test_a_split_past_the_box_is_shown_at_its_end_and_used(make_napari_viewer, errors, tmp_path):
    wide = _nuclei_file(tmp_path, "wide.safetensors", split=25.0)
    widget = _dock(make_napari_viewer(), wide)  # before: a traceback, the old split kept
    assert widget._split.value == pytest.approx(25.0)
    assert _options(widget)["split"] == 25.0
    huge = _nuclei_file(tmp_path, "huge.safetensors", split=5000.0, min_size=2 * 10**9)
    widget._model_file.value = huge
    assert widget._split.value == widget._split.max  # at the end of its range
    assert _options(widget)["split"] == 5000.0 and _options(widget)["min_size"] == 2 * 10**9
    label = widget._model_label.value
    assert "split joined (px) 5000" in label and "past the box" in label, label
    widget._split.value = 3.0  # the user's value: used, and the note goes
    assert _options(widget)["split"] == 3.0
    widget._min_size.value = 5
    assert "past the box" not in widget._model_label.value
    widget._model_file.value = wide  # another file: its own values, no note
    assert _options(widget)["split"] == 25.0 and "past" not in widget._model_label.value
    assert not errors


@pytest.mark.parametrize("seed_level", [0.97, 0.03])
def test_a_seeded_files_seed_level_outside_the_old_range(
    make_napari_viewer, errors, tmp_path, seed_level
):
    config = {"arch": "unet", "base_channels": 4, "depth": 2, "padding": "same",
              "head": "3class"}  # fmt: skip
    model = build_model(config)
    path = nu.save_model(tmp_path / "seeded.safetensors", model,
                         postprocess={"seed_level": seed_level})  # fmt: skip
    widget = _dock(make_napari_viewer(), path)  # before: a traceback, 0.5 kept
    assert widget._seed_level.enabled
    assert widget._seed_level.value == pytest.approx(seed_level)
    assert _options(widget)["seed_level"] == seed_level
    assert not errors
