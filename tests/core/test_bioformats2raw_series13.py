"""A bioformats2raw root's OME series list never reaches a store outside the root."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet.core.images.bioformats2raw import bioformats2raw_series
from napari_unet.reader import read_ome_zarr

zarr = pytest.importorskip("zarr")


def _image(path, value):
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    group.create_array("0", data=np.full((16, 16), value, np.uint8))
    axes = [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}]
    level = {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1, 1]}]}
    group.attrs["multiscales"] = [{"version": "0.4", "axes": axes, "datasets": [level]}]


def test_a_series_named_outside_the_root_is_skipped_with_a_warning(tmp_path):
    """Before, ``"series": ["0", "../other.zarr"]`` opened another experiment's store beside
    the slide as ``slide [series other.zarr]``, without a word."""
    _image(tmp_path / "other.zarr", 99)
    root = tmp_path / "slide.zarr"
    zarr.open_group(str(root), mode="w", zarr_format=2).attrs["bioformats2raw.layout"] = 3
    _image(root / "0", 7)
    zarr.open_group(str(root / "OME"), mode="w", zarr_format=2).attrs["series"] = [
        "0", "../other.zarr"
    ]
    with pytest.warns(UserWarning, match=r"'\.\./other\.zarr'.*skipped"):
        assert bioformats2raw_series(root) == [root / "0"]
    with pytest.warns(UserWarning, match="skipped"):
        layers = read_ome_zarr(str(root))
    assert [int(np.asarray(data).max()) for data, _, _ in layers] == [7]
