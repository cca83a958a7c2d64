"""Planes or channels: one rule for train, predict and evaluate, TIFF and OME-Zarr alike.

Before, an OME-Zarr ``t, z, y, x`` had its z-planes read as channels (averaged; an OME-TIFF
``TZYX`` was refused); ``napari-unet train`` averaged a plain ``(2, Y, X)`` file's planes for
a grey model, which predict then read as two planes; and ``train`` made a 3-channel model of
an ImageJ ``ZYX`` file's z-planes, which predict and evaluate then refused for that file.
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_unet.cli import main
from napari_unet.core.errors import InputError

pytestmark = pytest.mark.usefixtures("one_thread")
zarr = pytest.importorskip("zarr")


def _image(planes=3, side=48):
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (planes, side, side)).astype(np.uint8)


def _labels(side=48):
    labels = np.zeros((side, side), np.uint16)
    labels[5:15, 5:15], labels[25:40, 20:35] = 1, 2
    return labels


def _ome_zarr(path, data, axes):
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    group.create_array("0", data=data, chunks=data.shape)
    kinds = {"t": "time", "c": "channel", "z": "space", "y": "space", "x": "space"}
    dataset = {
        "path": "0",
        "coordinateTransformations": [{"type": "scale", "scale": [1.0] * len(axes)}],
    }
    group.attrs["multiscales"] = [
        {
            "version": "0.4",
            "datasets": [dataset],
            "axes": [{"name": a, "type": kinds[a]} for a in axes],
        }
    ]
    return path


def test_an_ome_zarr_time_lapse_of_z_stacks_is_refused_as_a_tiff_is(tmp_path, capsys):
    from napari_unet.core.images.io import read_image

    z = _image()
    store = _ome_zarr(tmp_path / "tzyx.zarr", np.stack([z, z[:, ::-1]]), "tzyx")
    with pytest.raises(InputError, match=r"TZYX \(two plane axes and no channel\)"):
        read_image(store)
    out = tmp_path / "out"
    assert main(["predict", "nuclei", str(store), "-o", str(out)]) != 0
    err = capsys.readouterr().err
    assert "two plane axes and no channel" in err and "Traceback" not in err, err
    assert "channels" not in err.split("two plane axes")[0]  # not "averaged 3 channels"
    assert not (out / "tzyx_labels.zarr").exists()
    # one z-stack, and a time point of one (dropped), are read as before
    assert read_image(_ome_zarr(tmp_path / "zyx.zarr", z, "zyx")).shape == z.shape
    one = _ome_zarr(tmp_path / "t1.zarr", z[None], "tzyx")
    assert read_image(one).shape == z.shape
    tczyx = _ome_zarr(tmp_path / "tczyx.zarr", z[None, None], "tczyx")
    assert read_image(tczyx).shape == (*z.shape, 1)  # its channel axis kept, last


def test_training_a_grey_model_on_planes_first_is_refused(tmp_path, capsys):
    from napari_unet.core.training.pairs import make_pairs

    image, labels = _image(2), _labels()
    with pytest.raises(InputError, match="model reads one channel") as refused:
        make_pairs([image], [labels], in_channels=1)
    assert "--channel N" in str(refused.value) and "(Z, Y, X) labels" in str(refused.value)
    # channels last (what an ImageJ CYX file is read as) is averaged, as predict reads it
    assert make_pairs([np.moveaxis(image, 0, -1)], [labels], in_channels=1)[0].image.shape[0] == 1
    # from scratch: a model of 2 channels, which predict reads the (2, Y, X) file with
    assert make_pairs([image], [labels])[0].image.shape[0] == 2
    tifffile.imwrite(tmp_path / "cyx.tif", image, photometric="minisblack")
    tifffile.imwrite(tmp_path / "cyx_labels.tif", labels)
    args = ["train", "--images", str(tmp_path / "cyx.tif"), "--labels",
            str(tmp_path / "cyx_labels.tif"), "--init", "nuclei", "--steps", "1",
            "-o", str(tmp_path / "ft.safetensors")]  # fmt: skip
    assert main(args) != 0
    err = capsys.readouterr().err
    assert "model reads one channel" in err and "Traceback" not in err, err
    assert not (tmp_path / "ft.safetensors").exists()


def test_train_refuses_a_stack_its_file_names_z_with_2d_labels(tmp_path, capsys):
    image = _image(3)
    tifffile.imwrite(tmp_path / "zyx.tif", image, imagej=True, metadata={"axes": "ZYX"})
    tifffile.imwrite(tmp_path / "zyx_labels.tif", _labels())
    for extra in ([], ["--grey"]):  # nor its z-planes averaged as colour
        args = ["train", "--images", str(tmp_path / "zyx.tif"), "--labels",
                str(tmp_path / "zyx_labels.tif"), "--arch", "tiny", "--steps", "1",
                "-o", str(tmp_path / "m.safetensors"), *extra]  # fmt: skip
        assert main(args) != 0
        err = capsys.readouterr().err
        assert "zyx.tif: the file names its first axis z: 3 z-planes" in err, err
        assert "labels are 2D" in err and "Traceback" not in err
        assert not (tmp_path / "m.safetensors").exists()
    from napari_unet.core.images.named import check_labelled_planes

    store = _ome_zarr(tmp_path / "t.zarr", image, "tyx")
    with pytest.raises(InputError, match="names its first axis t: 3 time points"):
        check_labelled_planes(store, image, (48, 48))
    check_labelled_planes(tmp_path / "zyx.tif", image, (3, 48, 48))  # labels per plane: fine
    tifffile.imwrite(tmp_path / "bare.tif", image, photometric="minisblack")
    check_labelled_planes(tmp_path / "bare.tif", image, (48, 48))  # no axes named: channels
