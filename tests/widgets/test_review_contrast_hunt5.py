"""The Review dock gives each image contrast limits of its own, after a hidden layer too.

A 16-bit grey image shown after a colour one (its grey layer hidden meanwhile) kept the
0-255 of the 8-bit grey image shown before: napari's reset read the slice of the hidden
layer, not sliced again for the new data.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet.core.images.io import write_image

pytest.importorskip("napari")

SIDE = 64


def _cells():
    lab = np.zeros((SIDE, SIDE), np.int32)
    for i in range(3):
        lab[5 + 20 * i : 15 + 20 * i, 5:25] = i + 1
    return lab


def _dock(make_napari_viewer, qtbot, folder, labels_in):
    from napari_unet.widgets.review import ReviewWidget

    viewer = make_napari_viewer()
    widget = ReviewWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Review")
    widget._form.images.value = folder
    widget._form.labels_folder.value = labels_in
    assert widget.open(), widget._status.value
    widget._timer.setInterval(10**8)
    _shown(widget, qtbot, 0)
    return viewer, widget


def _shown(widget, qtbot, index):
    qtbot.waitUntil(
        lambda: bool(widget._index == index and widget._shown == widget.review.names[index]),
        timeout=120_000,
    )


@pytest.mark.parametrize("between", ["colour", "grey"])
def test_a_16_bit_image_after_a_hidden_grey_layer_gets_its_own_limits(
    make_napari_viewer, qtbot, tmp_path, between
):
    cells = _cells() > 0
    grey8 = (cells * 180 + 20).astype(np.uint8)
    rgb8 = np.stack([grey8, grey8 // 2, grey8], -1)
    grey16 = (cells * 3808 + 64).astype(np.uint16)  # 64 to 3872, a 12-bit camera
    middle = rgb8 if between == "colour" else grey8
    folder, labels_in = tmp_path / "images", tmp_path / "labels_in"
    folder.mkdir()
    labels_in.mkdir()
    for stem, data in {"a": grey8, "b": middle, "c": grey16}.items():
        write_image(folder / f"{stem}.tif", data)
        write_image(labels_in / f"{stem}_labels.tif", _cells())
    viewer, widget = _dock(make_napari_viewer, qtbot, folder, labels_in)
    assert list(widget._image_layer.contrast_limits) == [0, 255]
    widget.next_image()
    _shown(widget, qtbot, 1)
    assert list(widget._image_layer.contrast_limits) == [0, 255]
    widget.next_image()
    _shown(widget, qtbot, 2)
    layer = widget._image_layer
    assert not layer.rgb and layer.visible
    # before (after the colour image): [0, 255], and the range 0-255 too: washed out
    assert [float(v) for v in layer.contrast_limits] == [64.0, 3872.0]
    assert layer.contrast_limits_range[1] >= 3872
    widget.previous_image()
    _shown(widget, qtbot, 1)
    assert list(widget._image_layer.contrast_limits) == [0, 255]
    widget.shutdown()
