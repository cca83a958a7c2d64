"""An OME-Zarr label image given as the image to predict is refused, naming its image.

Before, ``napari-unet slide MODEL IMAGE.zarr/labels/cells`` labelled the ids of ``cells``
as grey levels and wrote ``labels/napari-unet`` inside that label image (exit 0); ``predict``
and ``predict_to_zarr`` labelled a label image as silently. Now each refuses it before any
work, with the image to give instead; the image itself is still taken.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from napari_unet import InputError, Predictor, drain, predict_to_zarr
from napari_unet.cli import main
from napari_unet.core.images.omezarr import open_image
from napari_unet.core.inference.postprocess import Postprocess
from napari_unet.core.inference.slide import iter_segment_slide
from napari_unet.core.inference.slidestore import check_slide_input
from napari_unet.core.models import UNet

zarr = pytest.importorskip("zarr")


def _multiscale(path: Path, data: np.ndarray, version: str = "0.4", **extra) -> None:
    """A one-level OME-Zarr group (NGFF 0.4: Zarr v2; 0.5: Zarr v3, under ``ome``)."""
    group = zarr.open_group(str(path), mode="w", zarr_format=2 if version == "0.4" else 3)
    group.create_array("0", data=data, chunks=data.shape)
    axes = [{"name": a, "type": "space"} for a in "yx"]
    level = {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1.0, 1.0]}]}
    multiscales = [{"axes": axes, "datasets": [level]}]
    if version == "0.4":
        multiscales[0]["version"] = "0.4"
        group.attrs.update({"multiscales": multiscales, **extra})
    else:
        group.attrs.update({"ome": {"version": "0.5", "multiscales": multiscales, **extra}})


def _image(root: Path, version: str = "0.4", image_label: bool = True) -> Path:
    """``IMAGE.zarr`` with the label image ``labels/cells`` (listed), in ``root``."""
    image = root / "IMAGE.zarr"
    pixels = (np.arange(48 * 40) % 251).astype(np.uint8).reshape(48, 40)
    _multiscale(image, pixels, version)
    fmt = 2 if version == "0.4" else 3
    group = zarr.open_group(str(image / "labels"), mode="w", zarr_format=fmt)
    group.attrs.update({"labels": ["cells"]} if fmt == 2 else {"ome": {"labels": ["cells"]}})
    cells = np.zeros((48, 40), np.int32)
    cells[4:20, 4:20], cells[26:44, 18:36] = 1, 2
    meta = {"image-label": {"source": {"image": "../../"}}} if image_label else {}
    _multiscale(image / "labels" / "cells", cells, version, **meta)
    return image


def _files(path: Path) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, f), path)
                  for d, _, fs in os.walk(path) for f in fs)  # fmt: skip


@pytest.mark.parametrize(("version", "image_label"), [("0.4", True), ("0.4", False), ("0.5", True)])
def test_slide_refuses_a_label_image_naming_its_image(tmp_path, monkeypatch, capsys, version,
                                                      image_label):  # fmt: skip
    monkeypatch.chdir(tmp_path)
    _image(tmp_path, version, image_label)
    label = Path("IMAGE.zarr", "labels", "cells")
    before = _files(tmp_path)
    assert main(["slide", "nuclei", str(label)]) == 2
    err = capsys.readouterr().err
    assert f"{label} is a label image of IMAGE.zarr" in err, err
    assert "give the image: IMAGE.zarr" in err, err
    assert _files(tmp_path) == before  # nothing written, in the label image or beside it
    check_slide_input(Path("IMAGE.zarr"))  # the image itself is taken


def test_a_level_of_a_label_image_and_a_standalone_one_are_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _image(tmp_path)
    level = Path("IMAGE.zarr", "labels", "cells", "0")
    with pytest.raises(InputError, match="give the image: IMAGE.zarr"):
        check_slide_input(level)
    alone = tmp_path / "alone.zarr"  # slide -o writes such a store: no image beside it
    _multiscale(alone, np.ones((8, 8), np.int32), **{"image-label": {}})
    with pytest.raises(InputError, match="label image .*give the image it labels"):
        check_slide_input(alone)
    from napari_unet.core.inference.slidestore import check_not_label_image

    check_not_label_image(Path("IMAGE.zarr"), Path("IMAGE.zarr", "0"))  # the image, its level


def test_predict_refuses_a_label_image_before_making_its_outdir(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _image(tmp_path)
    label = Path("IMAGE.zarr", "labels", "cells")
    assert main(["predict", "nuclei", str(label), "-o", "out"]) == 2
    err = capsys.readouterr().err
    assert f"{label} is a label image of IMAGE.zarr" in err and "give the image: IMAGE.zarr" in err
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def predictor():
    torch.manual_seed(0)
    return Predictor(UNet(1, 2, base_channels=4, depth=2).eval(), tile=32)


def test_the_python_api_refuses_a_label_image(tmp_path, predictor):
    image = _image(tmp_path)
    label = image / "labels" / "cells"
    with pytest.raises(InputError, match=re.escape(f"give the image: {image}")):
        predict_to_zarr(predictor.model, open_image(label).data, tmp_path / "p.zarr", tile=32)
    assert not (tmp_path / "p.zarr").exists()
    with pytest.raises(InputError, match=re.escape(f"give the image: {image}")):
        drain(iter_segment_slide(predictor, Postprocess(), label))
    assert sorted(p.name for p in label.iterdir()) == [".zattrs", ".zgroup", "0"]


def test_a_label_store_in_a_folder_of_images_is_left_out_not_the_folder(tmp_path, capsys):
    from napari_unet.core.images.io import write_image

    folder = tmp_path / "in"
    folder.mkdir()
    write_image(folder / "a.tif", (np.arange(48 * 40) % 251).astype(np.uint8).reshape(48, 40))
    _multiscale(folder / "seg.zarr", np.ones((8, 8), np.int32), **{"image-label": {}})
    assert main(["predict", "nuclei", str(folder), "-o", str(tmp_path / "out")]) == 0
    assert "left out 1 OME-Zarr label image(s) (seg.zarr)" in capsys.readouterr().err
    assert (tmp_path / "out" / "a_labels.tif").exists()  # before: the folder was refused
