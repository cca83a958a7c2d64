"""The Predict dock offers every built-in model; choosing one predicts with it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from napari_unet.core.models.modelfile import read_metadata  # noqa: E402
from napari_unet.core.models.pretrained import pretrained_path  # noqa: E402
from napari_unet.widgets._predict_form import BUILTINS  # noqa: E402
from napari_unet.widgets.predict import PredictWidget, result_name  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import dsb_full  # noqa: E402


def test_the_brightfield_model_segments_a_histology_image(
    make_napari_viewer, run_predict, shared_data, errors
):
    data = shared_data / "dsb2018_full"
    if not (data / "index.csv").exists():
        pytest.skip("dsb2018_full is not in the shared data folder")
    item = dsb_full.split(data, kinds=("histo",))["test"][0]
    image, _ = dsb_full.load(data, item)
    viewer = make_napari_viewer()
    viewer.add_image(image, name="tissue", rgb=True)
    widget = PredictWidget(viewer)
    viewer.window.add_dock_widget(widget)
    choice = next(label for label, name in BUILTINS.items() if name == "nuclei-brightfield")
    widget._source.value = choice
    assert "nuclei-brightfield" in widget._model_label.value
    post = read_metadata(pretrained_path("nuclei-brightfield"))["postprocess"]
    assert widget._threshold.value == pytest.approx(post["threshold"])  # its own settings
    assert widget._min_size.value == post["min_size"]
    widget._image.value = viewer.layers["tissue"]
    run_predict(widget)
    assert not errors
    seg = viewer.layers[result_name("tissue", "nuclei-brightfield")]
    assert seg.data.shape == image.shape[:2] and seg.data.max() >= 5
