"""The reader: units napari keeps, stores opened as ``.``, levels napari cannot show.

Each test fails on the reader before its fix: a label image whose axes name no unit opened
in pixels beside its image in micrometres (and a slide's series without units beside its
main series), so napari dropped the units of the whole viewer; a store opened as ``.`` was
named ``.`` (its labels ``" cells"``) and its project went inside it; empty, complex and
text levels reached napari, which failed with a bare error, and an empty label image
stopped the image's other label images from opening.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from napari_unet._reader_names import SOURCE_IMAGE
from napari_unet.core.annotation.project import project_folder_for
from napari_unet.core.errors import InputError
from napari_unet.reader import read_ome_zarr

zarr = pytest.importorskip("zarr")

KINDS = {"c": "channel", "t": "time"}


def _multiscale(path, data, axes, unit=None, scale=0.5, **attrs):
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    group.create_array("0", data=data, chunks=tuple(max(n, 1) for n in data.shape))
    meta = [{"name": a, "type": KINDS.get(a, "space")} for a in axes]
    for axis in meta:
        if unit and axis["type"] == "space":
            axis["unit"] = unit
    place = [{"type": "scale", "scale": [1.0 if a in "ct" else scale for a in axes]}]
    level = {"path": "0", "coordinateTransformations": place}
    group.attrs.update({"multiscales": [{"version": "0.4", "axes": meta, "datasets": [level]}]})
    group.attrs.update(attrs)
    return path


def _labels(image, names):
    zarr.open_group(str(image / "labels"), mode="w", zarr_format=2).attrs["labels"] = names
    return image / "labels"


def _viewer_units(layers):
    """The units napari's viewer keeps for these layer data tuples (None: it dropped them)."""
    from napari.components import ViewerModel

    viewer = ViewerModel()
    for data, meta, kind in layers:
        getattr(viewer, f"add_{kind}")(data, **meta)
    units = viewer.layers.extent.units
    return None if units is None else [str(u) for u in units]


@pytest.mark.parametrize(
    ("axes", "shape"), [("yx", (16, 16)), ("tczyx", (1, 1, 1, 16, 16))], ids=["yx", "tczyx"]
)
def test_a_label_image_without_units_takes_its_images(tmp_path, axes, shape):
    image = _multiscale(tmp_path / "u.ome.zarr", np.zeros(shape, np.uint8), axes, "micrometer")
    _multiscale(_labels(image, ["cells"]) / "cells", np.zeros(shape, np.int32), axes,
                **{"image-label": {}})  # fmt: skip
    layers = read_ome_zarr(str(image))
    assert [meta["units"] for _, meta, _ in layers] == [["micrometer", "micrometer"]] * 2
    assert _viewer_units(layers) == ["micrometer", "micrometer"]
    alone = read_ome_zarr(str(image / "labels" / "cells"))  # opened by its own path
    assert alone[0][1]["units"] == ["micrometer", "micrometer"]


def _slide(path, units):
    root = zarr.open_group(str(path), mode="w", zarr_format=2)
    root.attrs["bioformats2raw.layout"] = 3
    for k, unit in enumerate(units):
        _multiscale(path / str(k), np.zeros((16 // (k + 1), 16), np.uint8), "yx", unit)
    return path


def test_a_series_without_units_is_left_out_with_a_warning(tmp_path):
    slide = _slide(tmp_path / "slide.zarr", ["micrometer", None])
    with pytest.warns(UserWarning, match=r"series 1 was not opened.*slide\.zarr.1 on its own"):
        layers = read_ome_zarr(str(slide))
    assert [meta["name"] for _, meta, _ in layers] == ["slide [series 0]"]
    assert _viewer_units(layers) == ["micrometer", "micrometer"]


def test_series_in_alike_units_all_open(tmp_path):
    slide = _slide(tmp_path / "slide.zarr", ["micrometer", "nanometer", "micrometer"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        layers = read_ome_zarr(str(slide))
    assert len(layers) == 3 and _viewer_units(layers) == ["nanometer", "nanometer"]


def test_a_store_opened_as_dot_is_named_by_its_path(tmp_path, monkeypatch):
    image = _multiscale(tmp_path / "cells.ome.zarr", np.zeros((16, 16), np.uint8), "yx")
    _multiscale(_labels(image, ["nuc"]) / "nuc", np.zeros((16, 16), np.int32), "yx",
                **{"image-label": {}})  # fmt: skip
    monkeypatch.chdir(image)
    layers = read_ome_zarr(".")
    assert [meta["name"] for _, meta, _ in layers] == ["cells", "cells nuc"]
    assert layers[0][1]["metadata"] == {SOURCE_IMAGE: "cells"}
    assert read_ome_zarr("labels/nuc")[0][1]["name"] == "cells nuc"
    assert project_folder_for(".") == project_folder_for(image)  # beside it, not inside
    assert project_folder_for(".").parent == tmp_path
    monkeypatch.chdir(image / "labels" / "nuc")
    assert read_ome_zarr(".")[0][1]["name"] == "cells nuc"
    assert read_ome_zarr("../..")[0][1]["name"] == "cells"


@pytest.mark.parametrize(
    "data",
    [
        np.zeros((0, 64), np.uint8),
        np.ones((8, 8), np.complex64),
        np.array([["a", "b"], ["c", "d"]]),
    ],
    ids=["empty", "complex", "text"],
)
def test_levels_napari_cannot_show_are_refused_naming_the_store(tmp_path, data):
    store = _multiscale(tmp_path / "bad.zarr", data, "yx")
    with pytest.raises(InputError, match=r"bad\.zarr: its pixels|bad\.zarr: it holds no pixels"):
        read_ome_zarr(str(store))


def test_an_empty_label_image_is_left_out_and_the_others_open(tmp_path):
    image = _multiscale(tmp_path / "img.zarr", np.zeros((8, 8), np.uint8), "yx")
    folder = _labels(image, ["e", "good"])
    _multiscale(folder / "e", np.zeros((0, 8), np.int32), "yx", **{"image-label": {}})
    _multiscale(folder / "good", np.ones((8, 8), np.int32), "yx", **{"image-label": {}})
    with pytest.warns(UserWarning, match="label image 'e'.*no pixels"):
        layers = read_ome_zarr(str(image))
    assert [meta["name"] for _, meta, _ in layers] == ["img", "img good"]
    assert _viewer_units(layers) is not None  # napari adds them all
