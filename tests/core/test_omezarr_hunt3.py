"""Damaged Zarr metadata names its file, for read_image and ``napari-unet predict``.

Before, a level's truncated ``.zarray`` (or Zarr v3 ``zarr.json``) gave a bare
JSONDecodeError (``predict`` printed a traceback, exit 1), and a truncated root ``.zattrs``
was taken for no OME-Zarr image ("not a readable Zarr array (ArrayNotFoundError ...)").
A scale of 0 was read as a pixel of no size.
"""

from __future__ import annotations

import pytest

import napari_unet as nu
from napari_unet.cli import main
from napari_unet.core.errors import InputError
from napari_unet.core.images.omezarr import create_labels, open_image

zarr = pytest.importorskip("zarr")


def _store(path, version="0.4"):
    """An OME-Zarr image: create_labels' pyramid less its "image-label" (not a label image)."""
    for level in create_labels(path, (64, 64), (32, 32), 2, version=version):
        level[:] = 1
    group = zarr.open_group(str(path), mode="r+")
    attrs = dict(group.attrs)
    attrs.get("ome", attrs).pop("image-label")
    group.attrs.put(attrs)
    return path


@pytest.mark.parametrize(
    ("version", "damaged"),
    [("0.4", "1/.zarray"), ("0.5", "1/zarr.json"), ("0.4", ".zattrs"), ("0.5", "zarr.json")],
)
def test_damaged_metadata_names_its_file(tmp_path, capsys, version, damaged):
    store = _store(tmp_path / "img.ome.zarr", version)
    (store / damaged).write_text('{"multiscales": [')  # an interrupted copy
    with pytest.raises(InputError, match=rf"img.ome.zarr/{damaged}: damaged metadata \(JSON"):
        nu.read_image(str(store))
    assert main(["predict", "nuclei", str(store), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"img.ome.zarr/{damaged}: damaged metadata" in err, err
    assert "Traceback" not in err and "ArrayNotFoundError" not in err


def test_a_damaged_plain_array_names_its_file(tmp_path):
    zarr.open_array(str(tmp_path / "a.zarr"), mode="w", shape=(8, 8), dtype="u1", zarr_format=2)
    (tmp_path / "a.zarr" / ".zarray").write_text("{")
    with pytest.raises(InputError, match=r"a.zarr/.zarray: damaged metadata"):
        open_image(tmp_path / "a.zarr")


def test_a_scale_of_zero_is_refused(tmp_path):
    store = _store(tmp_path / "img.zarr")
    group = zarr.open_group(str(store), mode="r+")
    meta = dict(group.attrs)
    meta["multiscales"][0]["datasets"][0]["coordinateTransformations"] = [
        {"type": "scale", "scale": [1.0, 0.0]}]  # fmt: skip
    group.attrs.update(meta)
    with pytest.raises(InputError, match=r"the scale \[1.0, 0.0\] of level 0 has a 0"):
        open_image(store)
