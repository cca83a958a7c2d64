"""Real files as napari opens them: RGBA PNGs and colour histology work in every dock."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import tifffile

torch = pytest.importorskip("torch")

from napari_unet import evaluate  # noqa: E402
from napari_unet.widgets.predict import PredictWidget  # noqa: E402
from napari_unet.widgets.train import TrainWidget  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def dsb(shared_data, group: str):
    """The path of the first DSB2018 image of ``group`` and its ground truth."""
    folder = shared_data / "dsb2018"
    with open(folder / "index.csv") as f:
        row = next(r for r in csv.DictReader(f) if r["group"].startswith(group))
    return folder / "images" / f"{row['name']}.png", tifffile.imread(
        folder / "masks" / f"{row['name']}.tif"
    )


def run(widget, qtbot):
    widget._run.clicked.emit()
    qtbot.waitUntil(lambda: widget._worker is None and widget._run.enabled, timeout=120_000)


@pytest.mark.parametrize("group", ["fluo", "histo"])
def test_the_predict_dock_segments_an_rgba_png_as_napari_opens_it(
    make_napari_viewer, qtbot, shared_data, errors, group
):
    path, truth = dsb(shared_data, group)
    viewer = make_napari_viewer()
    (layer,) = viewer.open(path)
    assert layer.rgb and layer.data.shape[-1] == 4  # napari's reading of a DSB2018 PNG
    widget = PredictWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget._image.value = layer
    assert [c for c in widget._channel.choices][2:] == [0, 1, 2]  # R, G, B; never alpha
    run(widget, qtbot)
    assert not errors, errors
    seg = next(ly for ly in viewer.layers if "segmentation" in ly.name)
    assert seg.data.shape == truth.shape
    if group == "fluo":  # the built-in model's own kind of image
        assert evaluate(truth, seg.data)["per_threshold"][0]["f1"] > 0.5


def test_the_train_dock_fine_tunes_on_an_rgba_png(
    make_napari_viewer, qtbot, shared_data, errors, tmp_path
):
    path, truth = dsb(shared_data, "fluo")
    viewer = make_napari_viewer()
    (layer,) = viewer.open(path)
    viewer.add_labels(truth, name=f"{layer.name} annotations")
    widget = TrainWidget(viewer)
    viewer.window.add_dock_widget(widget)
    assert widget._image.value is layer  # preselected, with its own labels
    assert widget._labels_box.value.name == f"{layer.name} annotations"
    for name, value in (("_steps", 2), ("_batch", 1), ("_crop", 64), ("_val_every", 2)):
        getattr(widget, name).value = value
    widget._device.value = "cpu"
    widget._save_path.value = tmp_path / "tuned.safetensors"
    widget._start.native.click()  # the built-in (grey) model: colour is averaged, alpha dropped
    qtbot.waitUntil(lambda: widget._result is not None and widget._start.enabled, timeout=120_000)
    assert not errors, errors
    assert widget._result.steps_done == 2 and widget._result.model.in_channels == 1
    assert np.asarray(viewer.layers[f"{layer.name} preview"].data).shape == truth.shape
