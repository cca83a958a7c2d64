"""The napari reader opens what ome-zarr-py, IDR and bioformats2raw write, or says why not.

Each test fails on the reader before its fix: a label image with the image's size-1
channel axis (t, c, z, y, x with c = 1) opened as a 3D layer (1, 128, 128) beside 2D
channel layers, and the Annotate dock refused it as the prediction; damaged metadata gave
a bare JSONDecodeError, or napari's "refused the file"; a bioformats2raw store of three
series opened series 0 alone, without a word; a level path given as the number 0 was "not
held by the store"; a scale of 0 reached napari; float labels gave napari's TypeError.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from napari_unet.core.errors import InputError
from napari_unet.reader import get_reader, read_ome_zarr

zarr = pytest.importorskip("zarr")
_KIND = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}


def _write(path, data, axes, label=False, levels=1, scale0=None, key=str):
    """An NGFF 0.4 (Zarr v2) image or label image, as ome-zarr-py writes them."""
    path = Path(path)
    shutil.rmtree(path, ignore_errors=True)
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    datasets = []
    for k in range(levels):
        cut = tuple(slice(None, None, 2**k) if i >= data.ndim - 2 else slice(None)
                    for i in range(data.ndim))  # fmt: skip
        group.create_array(str(k), data=data[cut], chunks=data[cut].shape)
        scale = scale0 if scale0 is not None and k == 0 else [1.0] * (data.ndim - 2) + [2.0**k] * 2
        datasets.append({"path": key(k), "coordinateTransformations": [
            {"type": "scale", "scale": scale}]})  # fmt: skip
    axes_meta = [{"name": a, "type": _KIND[a]} for a in axes]
    meta = {"multiscales": [{"version": "0.4", "axes": axes_meta, "datasets": datasets}]}
    if label:
        meta["image-label"] = {"version": "0.4"}
    group.attrs.update(meta)
    return path


def _with_labels(image, name, data, axes):
    group = zarr.open_group(str(Path(image) / "labels"), mode="w", zarr_format=2)
    group.attrs["labels"] = [name]
    return _write(Path(image) / "labels" / name, data, axes, label=True)


def _c1_labelled(tmp_path):
    rng = np.random.default_rng(0)
    image = _write(tmp_path / "img.ome.zarr",
                   (rng.random((1, 2, 1, 128, 128)) * 4000).astype(np.uint16), "tczyx")  # fmt: skip
    labels = np.zeros((1, 1, 1, 128, 128), np.uint32)
    labels[..., 10:40, 10:40] = 1
    _with_labels(image, "cells", labels, "tczyx")
    return image


def test_a_label_image_with_a_channel_of_one_lines_up_with_the_channel_layers(tmp_path):
    image = _c1_labelled(tmp_path)
    layers = read_ome_zarr(str(image))
    shapes = {meta["name"]: (kind, data.shape) for data, meta, kind in layers}
    assert shapes["img"] == ("image", (2, 128, 128))  # one 2D layer per channel in napari
    assert shapes["img cells"] == ("labels", (128, 128))  # before: (1, 128, 128)
    [(_, meta, _)] = read_ome_zarr(str(image / "labels" / "cells"))  # by its own path
    assert meta["name"] == "img cells"
    data = read_ome_zarr(str(image / "labels" / "cells"))[0][0]
    assert data.shape == (128, 128) and data[20, 20].compute() == 1


def test_the_annotate_dock_accepts_such_labels_as_the_prediction(
    make_napari_viewer, qtbot, tmp_path, errors
):
    from napari_unet.widgets.annotate import AnnotateWidget

    image = _c1_labelled(tmp_path)
    viewer = make_napari_viewer()
    layers = viewer.open(str(image), plugin="napari-unet")
    assert [(type(x).__name__, x.data.shape) for x in layers] == [
        ("Image", (128, 128)), ("Image", (128, 128)), ("Labels", (128, 128))]  # fmt: skip
    widget = AnnotateWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget._image_combo.value = viewer.layers["img"]
    widget._folder.value = tmp_path / "project"
    widget._start_btn.native.click()
    assert widget._prediction_combo.value.name == "img cells"
    widget._accept_btn.native.click()
    qtbot.waitUntil(lambda: "Accepted" in str(widget._status.value), timeout=30_000)
    assert errors == []  # before: "prediction of shape (1, 128, 128) does not match ..."
    assert widget._annotations.data[20, 20] == 1


def _damaged(tmp_path, which):
    store = _write(tmp_path / "img.ome.zarr", np.zeros((64, 64), np.uint16), "yx", levels=2)
    (store / which).write_text('{"multiscales": [' if which == ".zattrs" else "{")
    return store


@pytest.mark.parametrize("which", ["1/.zarray", ".zattrs"], ids=["a level", "the root"])
def test_damaged_metadata_is_named_by_the_reader_and_in_napari(
    tmp_path, which, napari_unet_plugin
):
    from napari.components import ViewerModel

    store = _damaged(tmp_path, which)
    reader = get_reader(str(store))  # an OME-Zarr store: ours, not declined
    assert reader is not None
    with pytest.raises(InputError, match=rf"{which}: damaged metadata \(JSONDecodeError"):
        reader(str(store))
    with pytest.raises(InputError, match=rf"img.ome.zarr/{which}: damaged metadata"):
        ViewerModel().open(str(store), plugin="napari-unet")  # napari shows the message


def test_a_folder_with_damaged_metadata_that_is_no_ome_zarr_is_declined(tmp_path):
    group = zarr.open_group(str(tmp_path / "other.zarr"), mode="w", zarr_format=2)
    group.attrs["note"] = "x"
    (tmp_path / "other.zarr" / ".zattrs").write_text('{"note": ')
    assert get_reader(str(tmp_path / "other.zarr")) is None  # other readers may take it


def _series(tmp_path, count=3, damaged=None):
    root = tmp_path / "multi.zarr"
    zarr.open_group(str(root), mode="w", zarr_format=2).attrs["bioformats2raw.layout"] = 3
    for k in range(count):
        _write(root / str(k), np.full((1, 1, 1, 64, 32 + 16 * k), k, np.uint16), "tczyx")
    if damaged is not None:
        (root / str(damaged) / ".zattrs").write_text("{")
    return root


def test_every_series_of_a_bioformats2raw_store_opens_named_after_it(tmp_path):
    root = _series(tmp_path)
    assert get_reader(str(root)) is not None
    layers = read_ome_zarr(str(root))  # before: "multi" alone, series 0
    found = [(m["name"], d.shape) for d, m, _ in layers]
    assert found == [("multi [series 2]", (1, 64, 64)), ("multi [series 1]", (1, 64, 48)),
                     ("multi [series 0]", (1, 64, 32))]  # fmt: skip (series 0 on top)
    assert [int(d[0, 0, 0].compute()) for d, _, _ in layers] == [2, 1, 0]


def test_a_damaged_series_is_named_and_the_others_open(tmp_path):
    root = _series(tmp_path, damaged=1)
    with pytest.warns(UserWarning, match=r"series 1 .* was not opened .*1/.zattrs: damaged"):
        layers = read_ome_zarr(str(root))
    assert [m["name"] for _, m, _ in layers] == ["multi [series 2]", "multi [series 0]"]


def test_one_series_still_opens_named_after_the_root(tmp_path):
    [(_, meta, _)] = read_ome_zarr(str(_series(tmp_path, count=1)))
    assert meta["name"] == "multi"


def test_a_level_path_given_as_a_number_opens(tmp_path):
    store = _write(tmp_path / "img.zarr", np.ones((32, 32), np.uint8), "yx", key=int)
    [(data, _, _)] = read_ome_zarr(str(store))  # before: "the store does not hold level 0"
    assert data.shape == (32, 32)


def test_a_level_path_that_is_no_name_says_the_metadata_is_wrong(tmp_path):
    store = _write(tmp_path / "img.zarr", np.ones((32, 32), np.uint8), "yx", key=lambda k: [k])
    with pytest.raises(InputError, match=r"metadata is wrong: a level's 'path' is \[0\]"):
        read_ome_zarr(str(store))


def test_a_scale_of_zero_is_refused_before_napari(tmp_path):
    store = _write(tmp_path / "img.zarr", np.ones((32, 32), np.uint8), "yx", scale0=[0.0, 1.0])
    with pytest.raises(InputError, match=r"img.zarr: the scale \[0.0, 1.0\] of level 0 has a 0"):
        read_ome_zarr(str(store))


def test_float_labels_are_left_out_with_a_warning_and_the_image_opens(tmp_path):
    image = _write(tmp_path / "img.zarr", np.ones((32, 32), np.uint8), "yx")
    _with_labels(image, "cells", np.ones((32, 32), np.float32), "yx")
    with pytest.warns(UserWarning, match=r"'cells' .* float32 numbers, not integer labels"):
        layers = read_ome_zarr(str(image))
    assert [kind for _, _, kind in layers] == ["image"]
    with pytest.raises(InputError, match="float32 numbers, not integer labels"):
        read_ome_zarr(str(image / "labels" / "cells"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert get_reader(str(image / "labels" / "cells")) is not None
