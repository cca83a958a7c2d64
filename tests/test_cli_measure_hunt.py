"""``napari-unet measure`` on what other steps and tools write beside or inside the images.

OME-Zarr label images (``napari-unet slide``), Cellpose masks beside their images, files of
several positions, uint64 label stacks, and the Review dock's table when measuring fails.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest
import tifffile
from PIL import Image

from napari_unet.cli import main
from napari_unet.core.images.omezarr import add_label_name, create_labels

zarr = pytest.importorskip("zarr")


def _read(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _labels(shape=(64, 48)) -> np.ndarray:
    labels = np.zeros(shape, np.int32)
    labels[4:14, 4:12] = 1  # 80 px
    labels[30:40, 20:40] = 7  # 200 px
    return labels


def _ome_image(path, version: str, unit: str | None) -> np.ndarray:
    """An OME-Zarr image at 0.5 ``unit`` per pixel with one label image, ``labels/cells``."""
    image = (np.arange(64 * 48) % 251).astype(np.uint8).reshape(64, 48)
    axes = [{"name": a, "type": "space", **({"unit": unit} if unit else {})} for a in "yx"]
    scale = [{"type": "scale", "scale": [0.5, 0.5]}]
    multiscales = [{"axes": axes, "datasets": [{"path": "0", "coordinateTransformations": scale}]}]
    group = zarr.open_group(str(path), mode="w", zarr_format=3 if version == "0.5" else 2)
    group.create_array("0", data=image, chunks=(32, 32))
    if version == "0.5":
        group.attrs["ome"] = {"version": "0.5", "multiscales": multiscales}
    else:
        group.attrs["multiscales"] = [{"version": "0.4", **multiscales[0]}]
    labels = _labels()
    levels = create_labels(path / "labels" / "cells", labels.shape, (32, 32), 2, name="cells",
                           version=version, scale=(0.5, 0.5), source="../../")  # fmt: skip
    for k, level in enumerate(levels):
        level[:] = labels[:: 2**k, :: 2**k]
    add_label_name(path, "cells", version)
    return image


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_an_ome_zarr_label_image_is_measured_at_full_resolution(tmp_path, version, capsys):
    image_path = tmp_path / "cells.ome.zarr"
    image = _ome_image(image_path, version, "micrometer")
    out = tmp_path / "objects.csv"
    label_image = image_path / "labels" / "cells"
    assert main(["measure", str(label_image), "--images", str(image_path), "-o", str(out)]) == 0
    rows = _read(out)
    assert [(r["image"], r["label"], r["area"]) for r in rows] == [
        ("cells.ome", "1", "80"), ("cells.ome", "7", "200"),
    ]  # fmt: skip
    # the labels name no unit: the image's micrometres apply to their scale of 0.5
    assert [float(r["area_um2"]) for r in rows] == [20.0, 50.0]
    assert float(rows[0]["mean_intensity"]) == pytest.approx(image[4:14, 4:12].mean())
    assert "pixel size from the files' metadata" in capsys.readouterr().out


def test_an_ome_zarr_scale_without_a_unit_is_no_pixel_size(tmp_path, capsys):
    _ome_image(tmp_path / "cells.ome.zarr", "0.4", None)
    out = tmp_path / "objects.csv"
    assert main(["measure", str(tmp_path / "cells.ome.zarr" / "labels" / "cells"),
                 "-o", str(out)]) == 0  # fmt: skip
    assert "area_um2" not in _read(out)[0]
    assert "pixels only" in capsys.readouterr().out


@pytest.mark.parametrize("given", ["", "labels"])
def test_an_ome_zarr_image_given_as_labels_names_its_label_images(tmp_path, given, capsys):
    image_path = tmp_path / "cells.ome.zarr"
    _ome_image(image_path, "0.4", "micrometer")
    out = tmp_path / "objects.csv"
    assert main(["measure", str(image_path / given), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "not a label image" in err and str(image_path / "labels" / "cells") in err
    assert not out.exists()  # before: the image's grey levels measured as objects, exit 0


@pytest.mark.parametrize("with_images", [False, True])
def test_cellpose_and_predict_labels_beside_their_images(tmp_path, with_images, capsys):
    folder = tmp_path / "cells"
    folder.mkdir()
    rgb = np.random.default_rng(0).integers(0, 255, (64, 48, 3)).astype(np.uint8)
    Image.fromarray(rgb).save(folder / "a.png")
    Image.fromarray(_labels().astype(np.uint16)).save(folder / "a_cp_masks.png")  # Cellpose
    tifffile.imwrite(folder / "b.tif", rgb[..., 0])
    tifffile.imwrite(folder / "b_labels.tif", _labels())  # napari-unet predict
    out = tmp_path / "objects.csv"
    args = ["measure", str(folder), "-o", str(out)]
    assert main(args + (["--images", str(folder)] if with_images else [])) == 0
    rows = _read(out)
    assert [(r["image"], r["label"]) for r in rows] == [("a", "1"), ("a", "7"), ("b", "1"),
                                                        ("b", "7")]  # fmt: skip
    assert float(rows[0]["mean_intensity_c1"]) == pytest.approx(rgb[4:14, 4:12, 1].mean())
    assert float(rows[2]["mean_intensity"]) == pytest.approx(rgb[4:14, 4:12, 0].mean())
    assert "measured 2 label file(s), 4 objects" in capsys.readouterr().out


def test_a_label_file_without_its_image_beside_others_is_measured_alone(tmp_path):
    folder = tmp_path / "cells"
    folder.mkdir()
    tifffile.imwrite(folder / "a.tif", np.full((64, 48), 9, np.uint8))
    tifffile.imwrite(folder / "a_labels.tif", _labels())
    tifffile.imwrite(folder / "b_labels.tif", _labels())  # no b.tif: shapes only, no pairing
    out = tmp_path / "objects.csv"
    assert main(["measure", str(folder), "-o", str(out)]) == 0
    rows = _read(out)
    assert [(r["image"], r["mean_intensity"]) for r in rows] == [
        ("a", "9.0"), ("a", "9.0"), ("b", ""), ("b", ""),
    ]  # fmt: skip


def test_a_multi_position_tiff_is_refused_not_cut_to_its_first_position(tmp_path, capsys):
    with tifffile.TiffWriter(tmp_path / "pos.ome.tif", ome=True) as writer:
        for k in range(3):
            writer.write(np.full((64, 48), k, np.uint8), metadata={"axes": "YX"})
    tifffile.imwrite(tmp_path / "pos.ome_labels.tif", _labels())
    out = tmp_path / "objects.csv"
    code = main(["measure", str(tmp_path / "pos.ome_labels.tif"), "--images",
                 str(tmp_path / "pos.ome.tif"), "-o", str(out)])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "3 image series" in err and "each position to its own file" in err


def test_uint64_ids_beyond_2_63_stay_exact_across_planes(tmp_path):
    labels = np.zeros((3, 32, 32), np.uint64)
    labels[0, 2:6, 2:6] = 2**64 - 1
    labels[0, 10:14, 10:14] = 2**63 + 5
    labels[2, 2:6, 2:6] = 5  # plane 1 holds no object
    tifffile.imwrite(tmp_path / "big_labels.tif", labels, metadata={"axes": "ZYX"})
    out = tmp_path / "objects.csv"
    assert main(["measure", str(tmp_path / "big_labels.tif"), "-o", str(out)]) == 0
    rows = _read(out)
    assert [(r["plane"], r["label"]) for r in rows] == [
        ("0", str(2**63 + 5)), ("0", str(2**64 - 1)), ("2", "5"),
    ]  # fmt: skip


class _Signal:
    def __init__(self):
        self.sent = []

    def emit(self, *args):
        self.sent.append(args)


class _Pool:
    def submit(self, job):
        job()


def test_review_dock_says_why_the_shown_image_was_not_measured(tmp_path):
    pytest.importorskip("qtpy")
    from types import SimpleNamespace

    from napari_unet.widgets._review_actions import measure_shown

    path = tmp_path / "a.tif"
    tifffile.imwrite(path, np.zeros((8, 8), np.uint8))
    bridge = SimpleNamespace(measured=_Signal(), failed=_Signal())
    dock = SimpleNamespace(_measure_job=0, review=SimpleNamespace(path=lambda name: path),
                           _measure_pool=_Pool(), _bridge=bridge)  # fmt: skip
    labels = np.zeros((3, 16, 16), np.int32)
    labels[:, 2:6, 2:6] = 1
    measure_shown(dock, "a.tif", labels, np.zeros((2, 16, 17), np.uint8))  # does not fit
    [(name, message)] = bridge.failed.sent
    assert name == "a.tif" and "objects not measured" in message and "does not fit" in message
    assert bridge.measured.sent == [(1, "a.tif", None)]
    measure_shown(dock, "a.tif", labels, np.zeros((3, 3, 16, 16), np.uint8))  # (Z, C, Y, X)
    assert len(bridge.failed.sent) == 1
    assert bridge.measured.sent[-1][2]["mean_intensity_c2"].tolist() == [0.0, 0.0, 0.0]


def test_label_and_mask_endings_pair_as_the_review_dock_reads_them(tmp_path, capsys):
    """NAME_mask.tif beside NAME.tif: the folder rule and the pairing share one list."""
    import numpy as np

    from napari_unet.cli import main
    from napari_unet.core.images.io import write_image

    folder = tmp_path / "f"
    folder.mkdir()
    lab = np.zeros((32, 32), np.uint16)
    lab[4:12, 4:12] = 1
    write_image(folder / "x.tif", (lab * 500 + 20).astype(np.uint16))
    write_image(folder / "x_mask.tif", lab)
    out = tmp_path / "x.csv"
    assert main(["measure", str(folder), "-o", str(out)]) == 0
    text = out.read_text()
    assert "x_mask" not in text.splitlines()[1]  # the image's name, with its intensities
    assert "mean_intensity" in text.splitlines()[0]


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_a_listed_label_image_without_image_label_metadata_is_a_label_image(tmp_path, version):
    # image-label is optional in the spec: such a label image was refused as an image
    from napari_unet.reader import read_ome_zarr

    image_path = tmp_path / "cells.ome.zarr"
    _ome_image(image_path, version, "micrometer")
    group = zarr.open_group(str(image_path / "labels" / "cells"), mode="r+")
    if version == "0.5":
        group.attrs["ome"] = {k: v for k, v in group.attrs["ome"].items() if k != "image-label"}
    else:
        del group.attrs["image-label"]
    out = tmp_path / "objects.csv"
    assert main(["measure", str(image_path / "labels" / "cells"), "-o", str(out)]) == 0
    assert [r["label"] for r in _read(out)] == ["1", "7"]
    (layer,) = read_ome_zarr(str(image_path / "labels" / "cells"))
    assert layer[2] == "labels"


def test_an_image_named_like_a_label_file_is_the_image_of_its_labels(tmp_path, capsys):
    """tissue_mask.png beside tissue_mask_labels.tif: its grey levels were measured as objects."""
    folder = tmp_path / "f"
    folder.mkdir()
    grey = (np.arange(64 * 48) % 7 * 30).astype(np.uint8).reshape(64, 48)
    Image.fromarray(grey).save(folder / "tissue_mask.png")
    tifffile.imwrite(folder / "tissue_mask_labels.tif", _labels())
    out = tmp_path / "objects.csv"
    assert main(["measure", str(folder), "-o", str(out)]) == 0
    rows = _read(out)
    assert [(r["image"], r["label"]) for r in rows] == [("tissue_mask", "1"), ("tissue_mask", "7")]
    assert float(rows[0]["mean_intensity"]) == pytest.approx(grey[4:14, 4:12].mean())
    assert "measured 1 label file(s), 2 objects" in capsys.readouterr().out


def test_label_endings_in_any_case_pair_with_their_image(tmp_path, capsys):
    """A_Masks.tif beside A.png: left out of the images, yet not paired with A (no intensities)."""
    folder = tmp_path / "f"
    folder.mkdir()
    for name, value in (("A", 100), ("B", 50)):
        Image.fromarray(np.full((64, 48), value, np.uint8)).save(folder / f"{name}.png")
    tifffile.imwrite(folder / "A_Masks.tif", _labels())
    tifffile.imwrite(folder / "B_masks.tif", _labels())
    tifffile.imwrite(folder / "B_Probabilities.tif", np.zeros((64, 48), np.float32))
    out = tmp_path / "objects.csv"
    assert main(["measure", str(folder), "-o", str(out)]) == 0
    rows = _read(out)
    assert [(r["image"], r["mean_intensity"]) for r in rows] == [
        ("A", "100.0"), ("A", "100.0"), ("B", "50.0"), ("B", "50.0"),
    ]  # fmt: skip
    assert "skipping 1 probability file" in capsys.readouterr().err
