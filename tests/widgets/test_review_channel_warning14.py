"""The Review dock says, as the Predict dock does, that a grey model averaged the channels.

Before, a 2-channel ImageJ ``CYX`` TIFF (DAPI and a membrane stain) was predicted with its
channels averaged and shown without a word (no objects in this contrived case: the second
channel is the first inverted). Now the status line says it while the image is shown, and a
napari warning once per image; labels from a file say nothing.
"""

from __future__ import annotations

import numpy as np
import pytest

import napari_unet
from napari_unet.core.images.io import write_image

pytest.importorskip("napari")
pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("one_thread")

AVERAGED = "this model reads one channel and averaged the image's 2 channels"


def _folders(tmp_path):
    """``a.tif``, ``b.tif`` (2 channels, CYX; ``a`` has a label file) and grey ``c.tif``."""
    import tifffile

    image, _ = napari_unet.nuclei_data()
    image = image[:96, :128]
    images, labels_in = tmp_path / "images", tmp_path / "labels_in"
    images.mkdir()
    labels_in.mkdir()
    for name in ("a", "b"):
        tifffile.imwrite(images / f"{name}.tif", np.stack([image, 255 - image]), imagej=True,
                         metadata={"axes": "CYX"})  # fmt: skip
    write_image(images / "c.tif", image)
    cells = np.zeros((96, 128), np.int32)
    cells[10:20, 10:20] = 1
    write_image(labels_in / "a_labels.tif", cells)
    return images, labels_in


@pytest.fixture
def said(monkeypatch):
    shown: list[str] = []
    monkeypatch.setattr("napari.utils.notifications.show_warning", shown.append)
    return shown


def test_the_review_dock_warns_once_that_the_channels_were_averaged(
    make_napari_viewer, qtbot, tmp_path, monkeypatch, said
):
    from napari_unet.core.models import build_model
    from napari_unet.core.training.config import TrainConfig
    from napari_unet.widgets import _review_actions
    from napari_unet.widgets.review import ReviewWidget

    grey = build_model(TrainConfig(model="tiny").model)  # one input channel
    monkeypatch.setattr(_review_actions, "load_model", lambda req: (grey, {}))
    images, labels_in = _folders(tmp_path)
    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    widget._form.images.value = images
    widget._form.labels_folder.value = labels_in
    widget._form.output.value = tmp_path / "out"
    assert widget.open(), widget._status.value
    widget._timer.setInterval(10**8)

    def shown(name):
        qtbot.waitUntil(lambda: widget._shown == name, timeout=60_000)
        return widget._status.value

    def said_of(name):
        return [t for t in said if t.startswith(f"{name}: ")]

    try:
        assert "Warning" not in shown("a.tif")  # its labels came from a file
        widget.next_image()
        status = shown("b.tif")
        assert "prediction" in status and f"Warning: {AVERAGED}" in status
        assert said_of("b.tif")[0].startswith(f"b.tif: {AVERAGED}")
        before = said_of("b.tif")
        widget.next_image()
        assert AVERAGED not in shown("c.tif")  # grey: nothing averaged
        widget.previous_image()
        assert f"Warning: {AVERAGED}" in shown("b.tif")  # while it is shown
        assert said_of("b.tif") == before  # said once per image
        assert said_of("a.tif") == [] and len([t for t in said if AVERAGED in t]) == 1
    finally:
        widget.shutdown()
