"""The Train dock's preview lies on the labels it trains on, wherever they are placed."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_unet import touching_cells  # noqa: E402
from napari_unet.widgets.train import TrainWidget  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def test_preview_of_a_channels_first_image_lies_on_its_labels(
    make_napari_viewer, qtbot, tmp_path, errors
):
    """A (C, H, W) image with a pixel size and an offset, and its 2D labels: the preview
    layer lay at scale 1 at the origin (it took the image's placement only when the image
    had as many dimensions as the labels), away from the cells it showed."""
    img, lab = touching_cells((96, 96), n_cells=10, seed=0)
    viewer = make_napari_viewer()
    viewer.add_image(np.stack([img, img[::-1]]), name="cells", scale=(1.0, 0.5, 0.5),
                     translate=(0.0, 10.0, 20.0))  # fmt: skip
    labels = viewer.add_labels(lab, name="cells labels", scale=(0.5, 0.5), translate=(10, 20))
    widget = TrainWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Train")
    widget._preset.value, widget._steps.value, widget._batch.value = "tiny", 4, 2
    widget._crop.value, widget._val_every.value, widget._device.value = 48, 2, "cpu"
    widget._save_path.value = tmp_path / "cells.safetensors"
    widget._start.native.click()
    qtbot.waitUntil(lambda: widget._result is not None and widget._start.enabled, timeout=120_000)
    assert widget._result.steps_done == 4, widget._status.value
    assert not errors
    preview = viewer.layers["cells preview"]
    assert preview.data.shape == lab.shape
    np.testing.assert_allclose(preview.scale, labels.scale)
    np.testing.assert_allclose(preview.translate, labels.translate)
    # on screen: the preview covers the labels (and the image's plane), not another square
    np.testing.assert_allclose(preview.extent.world, labels.extent.world)
    np.testing.assert_allclose(
        preview.extent.world[:, -2:], viewer.layers["cells"].extent.world[:, -2:]
    )
