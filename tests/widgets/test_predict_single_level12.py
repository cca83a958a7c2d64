"""Predict on a big single-level OME-Zarr, which now opens as a multiscale layer.

The reader gives such an image lazy overview levels (before, napari read it whole); the
Predict dock still predicts the stored level, at full resolution. The threshold is forced
low so a small store stands for a big one.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

pytest.importorskip("torch")
zarr = pytest.importorskip("zarr")

from napari_unet import evaluate, touching_cells  # noqa: E402
from napari_unet.widgets.predict import PredictWidget, result_name  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def _store(path, image):
    shutil.rmtree(path, ignore_errors=True)
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    group.create_array("0", data=image, chunks=(64, 64))
    group.attrs.update({"multiscales": [{
        "version": "0.4",
        "axes": [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}],
        "datasets": [{"path": "0", "coordinateTransformations": [
            {"type": "scale", "scale": [0.5, 0.5]}]}],
    }]})  # fmt: skip
    return path


def test_predict_reads_a_single_level_store_at_full_resolution(
    make_napari_viewer, run_predict, tiny, tmp_path, monkeypatch
):
    monkeypatch.setattr("napari_unet._reader_levels.BIG_SIDE", 64)
    monkeypatch.setattr("napari_unet._reader_levels.TOP_SIDE", 32)
    image, truth = touching_cells((192, 160), seed=3)
    store = _store(tmp_path / "cells.zarr", image.astype(np.float32))
    viewer = make_napari_viewer()
    [layer] = viewer.open(str(store), plugin="napari-unet")
    assert layer.multiscale and [tuple(d.shape) for d in layer.data][:2] == [(192, 160), (96, 80)]
    widget = PredictWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.set_model(*tiny, name="tiny")
    widget._image.value = layer
    run_predict(widget)
    assert "rror" not in widget._status.value, widget._status.value
    seg = viewer.layers[result_name("cells", "tiny")]
    assert seg.data.shape == (192, 160) and tuple(seg.scale) == (0.5, 0.5)
    assert evaluate(truth, np.asarray(seg.data))["pixel_iou"] > 0.8
