"""Damaged or hostile OME-Zarr metadata, and packages whose metadata import and predict read.

The napari reader declines what it cannot read (napari asks every plugin about every path)
and ``napari-unet predict`` names the store; a label image is named after its image however
it is opened, and an image's labels list cannot reach outside the image. ``napari-unet
import`` and ``predict PACKAGE.zip`` check a package's metadata alike, and ``export`` takes
napari-unet's own package.
"""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from napari_unet.cli import main
from napari_unet.core.errors import InputError
from napari_unet.core.images.omezarr import add_label_name, create_labels, label_names
from napari_unet.reader import get_reader, read_ome_zarr

zarr = pytest.importorskip("zarr")

AXES = [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}]


def _store(path, multiscales, level1_is_group=False):
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    group.create_array("0", shape=(64, 64), dtype="u1", chunks=(32, 32))[...] = 9
    if level1_is_group:
        group.create_group("1")
    else:
        group.create_array("1", shape=(32, 32), dtype="u1", chunks=(32, 32))[...] = 9
    group.attrs.update({"multiscales": multiscales})
    return path


def _datasets(scale0=(1.0, 1.0)):
    return [{"path": str(k), "coordinateTransformations": [{"type": "scale", "scale": s}]}
            for k, s in enumerate([list(scale0), [2.0, 2.0]])]  # fmt: skip


GOOD = {"version": "0.4", "axes": AXES, "datasets": _datasets()}


@pytest.mark.parametrize("multiscales", [GOOD, "yes"], ids=["a dict", "a string"])
def test_multiscales_that_is_no_list_is_declined_and_predict_names_the_store(
    tmp_path, capsys, multiscales
):
    """Before: get_reader raised KeyError: 0 / AttributeError; predict printed a traceback."""
    store = _store(tmp_path / "bad.zarr", multiscales)
    assert get_reader(str(store)) is None
    assert get_reader([str(store)]) is None
    assert main(["predict", "nuclei", str(store), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "bad.zarr" in err and "'multiscales' metadata is damaged" in err, err
    assert "Traceback" not in err


def test_a_level_that_is_a_group_is_named(tmp_path, capsys):
    """Before: AttributeError: 'Group' object has no attribute 'shape'."""
    store = _store(tmp_path / "img.zarr", [GOOD], level1_is_group=True)
    with pytest.raises(InputError, match="its level '1' is a group, not an array"):
        get_reader(str(store))(str(store))
    assert main(["predict", "nuclei", str(store), "-o", str(tmp_path / "out")]) == 2
    assert "its level '1' is a group, not an array" in capsys.readouterr().err


def test_a_scale_that_is_not_numbers_is_refused_as_predict_refuses_it(tmp_path):
    """Before: the reader raised ValueError: could not convert string to float: 'a'."""
    store = _store(tmp_path / "img.zarr", [{**GOOD, "datasets": _datasets(("a", "b"))}])
    with pytest.raises(InputError, match=r"the scale \['a', 'b'\] of level 0 is not numbers"):
        read_ome_zarr(str(store))


def _image(path):
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    group.create_array("0", shape=(64, 64), dtype="u1", chunks=(32, 32))[...] = 7
    group.attrs.update({"multiscales": [{"version": "0.4", "axes": AXES,
                                         "datasets": _datasets()[:1]}]})  # fmt: skip
    return path


def test_a_label_image_opened_by_its_own_path_is_named_after_its_image(tmp_path):
    """Before: 'cells', so the Annotate dock did not offer it as the image's Prediction."""
    image = _image(tmp_path / "image.zarr")
    cells = image / "labels" / "cells"
    create_labels(cells, (64, 64), (32, 32), 1, name="cells", source="../../")[0][...] = 1
    add_label_name(image, "cells", "0.4")
    [(_, meta, kind)] = get_reader(str(cells))(str(cells))
    assert (meta["name"], kind) == ("image cells", "labels")
    standalone = tmp_path / "OUTPUT.zarr"
    create_labels(standalone, (64, 64), (32, 32), 1)
    assert read_ome_zarr(str(standalone))[0][1]["name"] == "OUTPUT"


def test_a_labels_list_cannot_reach_outside_the_image(tmp_path):
    """Before: '../../elsewhere/secret.zarr' opened as the image's label layer."""
    image = _image(tmp_path / "image.zarr")
    create_labels(image / "labels" / "cells", (64, 64), (32, 32), 1, name="cells")[0][...] = 1
    add_label_name(image, "cells", "0.4")
    secret = tmp_path / "elsewhere" / "secret.zarr"
    create_labels(secret, (64, 64), (32, 32), 1, name="secret")[0][...] = 42
    listed = ["cells", "../../elsewhere/secret.zarr"]
    (image / "labels" / ".zattrs").write_text(json.dumps({"labels": listed}))
    with pytest.warns(UserWarning, match="secret.zarr.*skipped"):
        layers = read_ome_zarr(str(image))
    assert [(meta["name"], kind) for _, meta, kind in layers] == [
        ("image", "image"), ("image cells", "labels")
    ]  # fmt: skip
    with pytest.warns(UserWarning, match="skipped"):
        assert label_names(image) == ["cells"]


# -- bioimage.io packages ------------------------------------------------------------------


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("bioimageio.core")
    from napari_unet import build_model, export_bioimageio

    net = build_model({"arch": "unet", "base_channels": 4, "depth": 3, "padding": "same"})
    folder = tmp_path_factory.mktemp("pkg")
    return export_bioimageio(net, folder / "ours.zip", weight_formats=("pytorch_state_dict",))


def _edited(package, out, key, value):
    import yaml

    with zipfile.ZipFile(package) as src, zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "rdf.yaml":
                doc = yaml.safe_load(data)
                doc["config"]["napari_unet"][key] = value
                data = yaml.safe_dump(doc, sort_keys=False).encode()
            dst.writestr(name, data)
    return out


@pytest.mark.parametrize(
    ("key", "value", "said"),
    [("postprocess", {"threshold": "high"}, "'threshold' must be a number between 0 and 1"),
     ("class_names", "abc", "'class_names' must be a list")],
)  # fmt: skip
def test_import_and_predict_refuse_unusable_package_metadata_alike(
    package, tmp_path, capsys, key, value, said
):
    """Before: import wrote a file every predict then refused (a threshold of 'high'), and
    predict ran a package import refused (class names 'abc'), with a message naming no file."""
    from napari_unet.core.images.io import write_image

    bad = _edited(package, tmp_path / "bad.zip", key, value)
    image = tmp_path / "cells.tif"
    write_image(image, (np.arange(64 * 64) % 251).astype(np.uint8).reshape(64, 64))
    out = tmp_path / "bad.safetensors"
    assert main(["import", str(bad), "-o", str(out)]) == 2
    assert not out.exists()
    assert main(["predict", str(bad), str(image), "-o", str(tmp_path / "out")]) == 2
    lines = [ln for ln in capsys.readouterr().err.splitlines() if "error" in ln]
    assert len(lines) == 2 and all("bad.zip" in ln and said in ln for ln in lines), lines


def test_export_takes_napari_unets_own_package(package, tmp_path, capsys):
    """Before: "this is a zip archive, not a napari-unet model file"."""
    from napari_unet import import_bioimageio

    again = tmp_path / "again.zip"
    assert main(["export", str(package), "-o", str(again), "--name", "again"]) == 0, (
        capsys.readouterr().err
    )
    (model, _), (original, _) = import_bioimageio(again), import_bioimageio(package)
    for name, tensor in original.state_dict().items():
        assert (model.state_dict()[name] == tensor).all()


def test_predict_help_says_it_takes_a_package(capsys):
    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    assert "package (.zip)" in " ".join(capsys.readouterr().out.split())
