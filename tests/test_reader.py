"""The napari reader opens OME-Zarr label pyramids (``napari-unet slide`` output) lazily."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet.core.images.omezarr import add_label_name, create_labels
from napari_unet.reader import get_reader, read_ome_zarr

da = pytest.importorskip("dask.array")
zarr = pytest.importorskip("zarr")


def _labels(path, version="0.4", scale=(1.0, 1.0)):
    rng = np.random.default_rng(0)
    full = np.kron(rng.integers(0, 50, (16, 12)), np.ones((16, 16), np.int32)).astype(np.int32)
    levels = create_labels(path, full.shape, (64, 64), 3, name="cells", version=version,
                           scale=scale)  # fmt: skip
    for k, level in enumerate(levels):
        level[:] = full[:: 2**k, :: 2**k]
    return full


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_a_label_pyramid_opens_as_lazy_multiscale_labels(tmp_path, version):
    full = _labels(tmp_path / "out.zarr", version)
    reader = get_reader(str(tmp_path / "out.zarr"))
    assert reader is not None
    [(data, meta, kind)] = reader(str(tmp_path / "out.zarr"))
    assert kind == "labels" and meta["multiscale"] and len(data) == 3
    assert all(isinstance(level, da.Array) for level in data)  # nothing read yet
    np.testing.assert_array_equal(data[0].compute(), full)
    np.testing.assert_array_equal(data[2].compute(), full[::4, ::4])


def test_an_image_with_labels_opens_both(tmp_path):
    image = tmp_path / "image.zarr"
    group = zarr.open_group(str(image), mode="w", zarr_format=2)
    group.create_array("0", data=np.arange(256 * 192, dtype=np.uint16).reshape(256, 192))
    scale = [{"type": "scale", "scale": [0.5, 0.25]}]
    group.attrs["multiscales"] = [
        {"version": "0.4", "axes": [{"name": "y"}, {"name": "x"}],
         "datasets": [{"path": "0", "coordinateTransformations": scale}]}
    ]  # fmt: skip
    (image / "labels").mkdir()
    _labels(image / "labels" / "cells", scale=(0.5, 0.25))
    add_label_name(image, "cells", "0.4")
    layers = get_reader(str(image))(str(image))
    assert [kind for *_, kind in layers] == ["image", "labels"]
    assert layers[0][1]["scale"] == layers[1][1]["scale"] == [0.5, 0.25]


def test_other_paths_are_left_to_other_readers(tmp_path):
    da.zeros((32, 32), chunks=16).to_zarr(str(tmp_path / "plain.zarr"))
    assert get_reader(str(tmp_path / "plain.zarr")) is None
    assert get_reader(str(tmp_path / "missing.zarr")) is None
    assert get_reader([str(tmp_path / "a.zarr"), str(tmp_path / "b.zarr")]) is None


def test_napari_opens_the_result_lazily(make_napari_viewer, tmp_path):
    _labels(tmp_path / "out.zarr")
    viewer = make_napari_viewer()
    [layer] = viewer.open(str(tmp_path / "out.zarr"), plugin="napari-unet")
    assert type(layer).__name__ == "Labels" and layer.multiscale
    assert isinstance(layer.data[0], da.Array) and layer.data[0].shape == (256, 192)


def _image(path, transforms, data=None):
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    data = np.arange(64 * 48, dtype=np.uint16).reshape(64, 48) if data is None else data
    group.create_array("0", data=data, chunks=(32, 24))
    group.attrs["multiscales"] = [
        {"version": "0.4", "axes": [{"name": "y"}, {"name": "x"}],
         "datasets": [{"path": "0", "coordinateTransformations": transforms}]}
    ]  # fmt: skip
    return group


def test_an_images_translation_places_its_layer(tmp_path):
    """Dropped before: a tile of a multi-position acquisition opened at the origin."""
    path = tmp_path / "tile.zarr"
    _image(path, [{"type": "scale", "scale": [0.5, 0.5]},
                  {"type": "translation", "translation": [100.0, 200.0]}])  # fmt: skip
    [(_, meta, kind)] = get_reader(str(path))(str(path))
    assert kind == "image" and meta["scale"] == [0.5, 0.5]
    assert meta["translate"] == [100.0, 200.0]


def test_the_multiscales_entrys_own_transformations_apply_after_the_levels(tmp_path):
    """NGFF 0.4 allows them; before, ignored: the image opened at scale 1, unplaced."""
    from napari_unet.core.images.omezarr import open_image

    path = tmp_path / "outer.zarr"
    group = _image(path, [{"type": "scale", "scale": [2.0, 2.0]},
                          {"type": "translation", "translation": [1.0, 3.0]}])  # fmt: skip
    ome = dict(group.attrs["multiscales"][0])
    ome["coordinateTransformations"] = [
        {"type": "scale", "scale": [0.25, 0.5]},
        {"type": "translation", "translation": [10.0, 20.0]},
    ]
    group.attrs["multiscales"] = [ome]
    [(_, meta, _)] = get_reader(str(path))(str(path))
    assert meta["scale"] == [0.5, 1.0]
    assert meta["translate"] == [0.25 * 1 + 10, 0.5 * 3 + 20]
    # as the command line reads the same store (slide, predict)
    image = open_image(path)
    assert image.scale == (0.5, 1.0) and image.translation == (10.25, 21.5)


def test_an_incomplete_or_damaged_store_names_itself(tmp_path):
    import shutil

    from napari_unet import InputError

    path = tmp_path / "copy.zarr"
    _image(path, [{"type": "scale", "scale": [1.0, 1.0]}])
    chunk = next(p for p in (path / "0").iterdir() if not p.name.startswith("."))
    chunk.write_bytes(b"\x00" * 7)  # a damaged chunk
    [(data, _, _)] = get_reader(str(path))(str(path))
    with pytest.raises(InputError, match="copy.zarr"):
        np.asarray(data)
    shutil.rmtree(path / "0")  # a level that never arrived
    with pytest.raises(InputError, match="does not hold"):
        get_reader(str(path))(str(path))


def _image_with_labels(path, axes="yx", data=None, scale=None, translation=None):
    """An OME-Zarr image (NGFF 0.4) of ``axes`` with the label image ``cells`` inside."""
    data = np.arange(256 * 192, dtype=np.uint16).reshape(256, 192) if data is None else data
    scale = [1.0] * data.ndim if scale is None else scale
    transforms = [{"type": "scale", "scale": scale}]
    if translation is not None:
        transforms.append({"type": "translation", "translation": translation})
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    group.create_array("0", data=data)
    kinds = {"t": "time", "c": "channel"}
    group.attrs["multiscales"] = [
        {"version": "0.4", "axes": [{"name": a, "type": kinds.get(a, "space")} for a in axes],
         "datasets": [{"path": "0", "coordinateTransformations": transforms}]}
    ]  # fmt: skip
    (path / "labels").mkdir()
    _labels(path / "labels" / "cells")
    add_label_name(path, "cells", "0.4")


def test_a_bioformats2raw_image_drops_its_single_t_and_z(tmp_path):
    """t, c, z, y, x with t = z = 1 opened as channel layers of (1, 1, Y, X), which the
    Annotate dock refused; napari-unet's own open_image reads them as (Y, X) planes."""
    planes = np.arange(2 * 256 * 192, dtype=np.uint16).reshape(1, 2, 1, 256, 192)
    path = tmp_path / "b2r.zarr"
    _image_with_labels(path, "tczyx", planes, [1.0, 1.0, 2.0, 0.5, 0.25], [0, 0, 3.0, 10, 20])
    (data, meta, kind), (labels, label_meta, _) = read_ome_zarr(str(path))
    assert kind == "image" and data.shape == (2, 256, 192) and meta["channel_axis"] == 0
    assert meta["scale"] == [0.5, 0.25] and meta["translate"] == [10.0, 20.0]
    np.testing.assert_array_equal(np.asarray(data[1]), planes[0, 1, 0])
    assert labels[0].shape == (256, 192)


def test_a_damaged_label_image_leaves_the_image_open(tmp_path):
    """A label image missing its level 0 (an interrupted copy) made the whole open fail."""
    import shutil

    path = tmp_path / "yx.zarr"
    _image_with_labels(path)
    shutil.rmtree(path / "labels" / "cells" / "0")
    with pytest.warns(UserWarning, match=r"label image 'cells'.*does not hold"):
        layers = read_ome_zarr(str(path))
    assert [(meta["name"], kind) for _, meta, kind in layers] == [("yx", "image")]


def test_label_layers_are_named_after_their_image(tmp_path):
    """Labels of two images were both named after the label group ("cells", "cells [1]")."""
    _image_with_labels(tmp_path / "slide.ome.zarr")
    _labels(tmp_path / "alone.zarr")
    names = [meta["name"] for _, meta, _ in read_ome_zarr(str(tmp_path / "slide.ome.zarr"))]
    assert names == ["slide", "slide cells"]
    [(_, alone, _)] = read_ome_zarr(str(tmp_path / "alone.zarr"))
    assert alone["name"] == "alone"  # as an image is named: no ".zarr"


def test_the_annotate_dock_offers_an_image_its_own_labels(make_napari_viewer, tmp_path):
    from napari_unet.widgets.annotate import AnnotateWidget

    for name in ("a", "b"):
        _image_with_labels(tmp_path / f"{name}.zarr")
    viewer = make_napari_viewer()
    image = viewer.open(str(tmp_path / "a.zarr"), plugin="napari-unet")[0]
    viewer.open(str(tmp_path / "b.zarr"), plugin="napari-unet")
    widget = AnnotateWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget._image_combo.value = image
    widget._folder.value = tmp_path / "project"
    widget._start_btn.native.click()
    assert widget._prediction_combo.value is viewer.layers["a cells"]
