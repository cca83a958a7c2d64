"""NGFF 0.1/0.2 images (always t, c, z, y, x, no ``axes``) and bioformats2raw series missing.

Before, an NGFF 0.1 or 0.2 image of one plane was refused by ``predict`` and ``slide`` as
"5 dimensions (1, 1, 1, Y, X)", and the napari reader opened it with three sliders of one;
a series that a bioformats2raw root lists but that an incomplete copy lacks was skipped
without a word (1 of 2 left: read as the root's only image, named after the root).
"""

from __future__ import annotations

import shutil
import warnings

import numpy as np
import pytest

import napari_unet as nu
from napari_unet.core.images.bioformats2raw import bioformats2raw_series
from napari_unet.core.images.omezarr import open_image
from napari_unet.reader import get_reader

zarr = pytest.importorskip("zarr")


def _old(path, version, shape):
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    data = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
    group.create_array("0", data=data)
    group.create_array("1", data=data[..., ::2, ::2])
    group.attrs["multiscales"] = [{"version": version, "datasets": [{"path": "0"}, {"path": "1"}]}]
    return data


@pytest.mark.parametrize("version", ["0.1", "0.2"])
def test_an_ngff_01_02_plane_is_read_as_a_plane(tmp_path, version):
    data = _old(tmp_path / "old.zarr", version, (1, 1, 1, 48, 40))
    image = open_image(tmp_path / "old.zarr")
    assert image.axes == "YXC"  # as NGFF 0.3 and later with t, c, z, y, x
    np.testing.assert_array_equal(np.asarray(nu.read_image(tmp_path / "old.zarr")),
                                  data[0, 0, 0][..., None])  # fmt: skip
    layers = get_reader(str(tmp_path / "old.zarr"))(str(tmp_path / "old.zarr"))
    assert [tuple(np.shape(d[0])) for d, _, _ in layers] == [(1, 48, 40)]  # before: 5D


def test_an_ngff_02_z_stack_of_two_channels_keeps_them_apart(tmp_path):
    data = _old(tmp_path / "old.zarr", "0.2", (1, 2, 3, 16, 20))
    image = open_image(tmp_path / "old.zarr")
    assert image.axes == "ZYXC"
    np.testing.assert_array_equal(np.asarray(image.data), np.moveaxis(data[0], 0, -1))


def _slide(root, listed="012"):
    yx = [{"name": a, "type": "space", "unit": "micrometer"} for a in "yx"]
    zarr.open_group(str(root), mode="w", zarr_format=2).attrs["bioformats2raw.layout"] = 3
    zarr.open_group(str(root / "OME"), mode="w", zarr_format=2).attrs["series"] = list(listed)
    for name in listed:
        group = zarr.open_group(str(root / name), mode="w", zarr_format=2)
        group.create_array("0", data=np.full((16, 16), int(name) + 1, np.uint8))
        level = {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1, 1]}]}
        group.attrs["multiscales"] = [{"version": "0.4", "axes": yx, "datasets": [level]}]


def _layers(root):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        names = [meta["name"] for _, meta, _ in get_reader(str(root))(str(root))]
    return names, " ".join(str(w.message) for w in caught)


@pytest.mark.parametrize("gone", [["1", "2"], ["1"]])
def test_a_listed_series_that_is_missing_is_named_not_skipped(tmp_path, gone):
    root = tmp_path / "slide.zarr"
    _slide(root)
    for name in gone:
        shutil.rmtree(root / name)
    assert bioformats2raw_series(root) == [root / n for n in "012"]
    names, said = _layers(root)
    assert names == [f"slide [series {n}]" for n in "210" if n not in gone]  # not "slide"
    for name in gone:
        assert f"its series {name} " in said and "missing" in said
    from napari_unet.core.review.folders import image_source

    assert image_source(root) == root  # predict and the Review: not series 0 as the only one


def test_a_root_whose_every_listed_series_is_missing_is_refused(tmp_path):
    root = tmp_path / "slide.zarr"
    _slide(root, "0")
    shutil.rmtree(root / "0")
    with pytest.raises(nu.InputError, match="missing, though its root lists it"):
        get_reader(str(root))(str(root))
