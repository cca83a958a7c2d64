"""The reader's label images: big-endian ids, channels of labels, names that pair.

Before: a big-endian label image (``>i4``, as bioformats2raw and N5 tools write) failed in
napari's label colours and the image's other labels never opened; a label image of two
channels failed on its axis names; the label images of an image of named channels (``cells
DAPI``) or of a bioformats2raw series opened on its own (``0 cells``) never paired with it.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet.core.errors import InputError
from napari_unet.reader import read_ome_zarr

zarr = pytest.importorskip("zarr")

LETTERS = {"c": "channel", "t": "time"}


def _multiscale(path, data, axes, **attrs):
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    group.create_array("0", data=data, chunks=data.shape)
    meta = [{"name": a, "type": LETTERS.get(a, "space")} for a in axes]
    level = {
        "path": "0",
        "coordinateTransformations": [{"type": "scale", "scale": [1.0] * len(axes)}],
    }
    group.attrs.update({"multiscales": [{"version": "0.4", "axes": meta, "datasets": [level]}]})
    group.attrs.update(attrs)


def _cells(dtype="<i4"):
    cells = np.zeros((32, 32), dtype)
    cells[4:12, 4:12] = 3
    cells[20:30, 18:28] = 1000
    return cells


def _store(path, labels: dict, image=None, axes="yx", **attrs):
    """An image with ``labels`` (name: (data, axes)) in its labels folder."""
    image = np.zeros((32, 32), np.uint8) if image is None else image
    _multiscale(path, image, axes, **attrs)
    zarr.open_group(str(path / "labels"), mode="w", zarr_format=2).attrs["labels"] = list(labels)
    for name, (data, label_axes) in labels.items():
        _multiscale(path / "labels" / name, data, label_axes, **{"image-label": {}})
    return path


def _by_name(layers) -> dict:
    return {meta["name"] if isinstance(meta["name"], str) else meta["name"][0]: (data, kind)
            for data, meta, kind in layers}  # fmt: skip


@pytest.mark.parametrize("dtype", [">i4", ">u4", ">i8", ">u8", ">i2"])
def test_big_endian_labels_open_in_native_byte_order(tmp_path, dtype):
    path = _store(tmp_path / "be.zarr", {"cells": (_cells(dtype), "yx"), "good": (_cells(), "yx")})
    layers = _by_name(read_ome_zarr(str(path)))
    data, kind = layers["be cells"]
    assert kind == "labels" and np.dtype(data.dtype).isnative
    assert np.dtype(data.dtype) == np.dtype(dtype).newbyteorder("=")
    np.testing.assert_array_equal(np.asarray(data), _cells(dtype))  # the same ids
    assert "be good" in layers


def test_napari_shows_a_big_endian_label_image_and_the_others(tmp_path, make_napari_viewer):
    path = _store(tmp_path / "be.zarr", {"cells": (_cells(">i4"), "yx"), "good": (_cells(), "yx")})
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin="napari-unet")
    assert [layer.name for layer in viewer.layers] == ["be", "be cells", "be good"]
    cells = viewer.layers["be cells"]
    assert cells.get_value((5, 5)) == 3 and cells.get_value((25, 20)) == 1000


def test_a_label_image_of_two_channels_is_left_out_with_a_warning(tmp_path):
    two = np.stack([_cells(), _cells() * 2])
    planes = np.zeros((2, 32, 32), np.uint8)
    labels = {"cells": (two, "cyx"), "good": (_cells(), "yx"), "one": (two[:1], "cyx")}
    path = _store(tmp_path / "twoch.zarr", labels, image=planes, axes="cyx")
    with pytest.warns(UserWarning, match=r"'cells'.*2 channels.*other labels open"):
        layers = _by_name(read_ome_zarr(str(path)))
    assert sorted(layers) == ["twoch", "twoch good", "twoch one"]
    assert layers["twoch one"][0].shape == (32, 32)  # a channel axis of size 1 is dropped
    with pytest.raises(InputError, match="2 channels"):  # opened on its own: said
        read_ome_zarr(str(path / "labels" / "cells"))


def _slide(root, series=1):
    zarr.open_group(str(root), mode="w", zarr_format=2).attrs["bioformats2raw.layout"] = 3
    for k in range(series):
        _store(root / str(k), {"cells": (_cells(), "yx")})
    return root


def test_a_bioformats2raw_series_and_its_labels_are_named_after_the_root(tmp_path):
    root = _slide(tmp_path / "slide.zarr")
    names = lambda p: [m["name"] for _, m, _ in read_ome_zarr(str(p))]  # noqa: E731
    assert names(root) == ["slide", "slide cells"]
    assert names(root / "0") == ["slide", "slide cells"]  # before: "0", "0 cells"
    assert names(root / "0" / "labels" / "cells") == ["slide cells"]  # before: "0 cells"
    several = _slide(tmp_path / "multi.zarr", series=2)
    assert names(several / "1") == ["multi [series 1]", "multi [series 1] cells"]
    assert names(several / "1" / "labels" / "cells") == ["multi [series 1] cells"]
    plain = _store(tmp_path / "plain.zarr" / "0", {"cells": (_cells(), "yx")})  # no layout
    assert names(plain) == ["0", "0 cells"]


def _named_channels(path):
    planes = np.zeros((2, 32, 32), np.uint8)
    omero = {"channels": [{"label": "DAPI"}, {"label": "GFP"}]}
    return _store(path, {"nuc": (_cells(), "yx")}, image=planes, axes="cyx", omero=omero)


def test_channel_layers_pair_with_their_stores_label_images(tmp_path):
    from napari.components import ViewerModel

    from napari_unet.widgets._layers import layers_of

    viewer = ViewerModel()
    for data, meta, kind in read_ome_zarr(str(_named_channels(tmp_path / "cells.zarr"))):
        getattr(viewer, f"add_{kind}")(data, **meta)
    viewer.add_labels(_cells(), name="cells DAPI annotations")
    viewer.add_labels(_cells(), name="cellsx nuc")
    viewer.add_image(np.zeros((32, 32), np.uint8), name="other")
    names = lambda image: [ly.name for ly in layers_of(viewer, viewer.layers[image])]  # noqa: E731
    assert names("cells DAPI") == ["cells nuc", "cells DAPI annotations"]
    assert names("cells GFP") == ["cells nuc"]  # not the other channel's annotations
    assert names("other") == []


def test_annotate_offers_a_channel_its_stores_label_image(tmp_path, make_napari_viewer, qtbot):
    from napari_unet.widgets.annotate import AnnotateWidget

    viewer = make_napari_viewer()
    viewer.open(str(_named_channels(tmp_path / "cells.zarr")), plugin="napari-unet")
    widget = AnnotateWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget._image_combo.value = viewer.layers["cells DAPI"]
    widget._folder.value = tmp_path / "project"
    widget._start_btn.native.click()
    qtbot.wait(100)
    assert widget._prediction_combo.value is viewer.layers["cells nuc"]
