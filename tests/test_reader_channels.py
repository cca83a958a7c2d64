"""An OME-Zarr image's channel layers are named after its ``omero`` channel labels.

Before, the channels of ``cells.zarr`` (DAPI, GFP) opened as "cells" and "cells [1]".
"""

from __future__ import annotations

import numpy as np
import pytest
from test_reader import _image_with_labels

from napari_unet.reader import read_ome_zarr

zarr = pytest.importorskip("zarr")


def _two_channels(path, channels):
    planes = np.arange(2 * 32 * 24, dtype=np.uint16).reshape(2, 32, 24)
    _image_with_labels(path, "cyx", planes)
    group = zarr.open_group(str(path), mode="a")
    if channels is not None:
        group.attrs["omero"] = {"channels": channels}
    return path


def test_channel_layers_take_the_omero_labels(tmp_path):
    path = _two_channels(tmp_path / "cells.zarr", [{"label": "DAPI"}, {"label": " GFP  "}])
    (data, meta, kind), (_, label_meta, _) = read_ome_zarr(str(path))
    assert kind == "image" and meta["channel_axis"] == 0
    assert meta["name"] == ["cells DAPI", "cells GFP"]
    assert label_meta["name"] == "cells cells"  # the label image keeps the image's name


@pytest.mark.parametrize(
    "channels",
    [None, [{"label": "DAPI"}], [{"label": "A"}, {"label": "A"}], [{"label": ""}, {}],
     {"label": "DAPI"}, [{"label": 3}, {"label": "GFP"}]],
    ids=["none", "one-of-two", "same-twice", "empty", "not-a-list", "a-number"],
)
def test_unusable_channel_labels_keep_napari_names(tmp_path, channels):
    path = _two_channels(tmp_path / "cells.zarr", channels)
    (_, meta, _), _ = read_ome_zarr(str(path))
    assert meta["name"] == "cells"  # napari names the channels "cells", "cells [1]"


def test_napari_shows_the_channel_names(tmp_path, make_napari_viewer):
    path = _two_channels(tmp_path / "cells.zarr", [{"label": "DAPI"}, {"label": "GFP"}])
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin="napari-unet")
    assert [layer.name for layer in viewer.layers] == ["cells DAPI", "cells GFP", "cells cells"]
