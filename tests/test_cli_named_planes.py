"""A 2-4 plane stack its file names z or t is never read as a model's channels.

Before, ``napari-unet predict``, ``evaluate`` and the Review dock read such a stack's planes
as the channels of a model of as many input channels (a model the Train dock trained on two
channels), as if they were one 2-channel image: one labels plane came back for a z-stack of
two, without a word (the Predict dock already read napari-unet's reader's axis names). Now
such a stack is refused for that model, with a message that says why; a file that names no
axes is read as before (as the model reads it).
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import tifffile

from napari_unet.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")
zarr = pytest.importorskip("zarr")

SHAPE = (2, 64, 64)


@pytest.fixture(scope="module")
def two_channel_model(tmp_path_factory):
    """An untrained model of two input channels (what the planes were read as)."""
    pytest.importorskip("torch")
    from napari_unet import save_model
    from napari_unet.core.models import UNet

    model = UNet(2, 2, base_channels=4, depth=2, padding="same").eval()
    return save_model(tmp_path_factory.mktemp("m") / "two.unet.safetensors", model)


def _stack():
    return np.random.default_rng(1).integers(0, 255, SHAPE, dtype=np.uint8)


def _ome_zyx(path, data):
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    group.create_array("0", data=data, chunks=(1, 64, 64))
    axes = [{"name": n, "type": "space"} for n in "zyx"]
    dataset = {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1] * 3}]}
    group.attrs["multiscales"] = [{"version": "0.4", "axes": axes, "datasets": [dataset]}]


@pytest.fixture
def stacks(tmp_path):
    """The same two planes as an ImageJ ZYX, an OME-TIFF TYX, an OME-Zarr zyx and a bare TIFF."""
    folder = tmp_path / "in"
    folder.mkdir()
    data = _stack()
    tifffile.imwrite(folder / "ij.tif", data, imagej=True, metadata={"axes": "ZYX"})
    tifffile.imwrite(folder / "ome.tif", data, ome=True, metadata={"axes": "TYX"})
    _ome_zyx(folder / "z.zarr", data)
    tifffile.imwrite(folder / "bare.tif", data)  # no axes: read as the model reads it
    return folder


def test_predict_refuses_named_planes_for_a_model_of_channels(stacks, two_channel_model,
                                                             tmp_path, capsys):  # fmt: skip
    out = tmp_path / "out"
    assert main(["predict", str(two_channel_model), str(stacks), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    for name, letter in (("ij.tif", "z"), ("ome.tif", "t"), ("z.zarr", "z")):
        line = next(x for x in err.splitlines() if name in x)
        assert f"names its first axis {letter}" in line and "of one channel each" in line, line
    assert "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == ["bare_labels.tif"]
    assert tifffile.imread(out / "bare_labels.tif").shape == SHAPE[1:]  # channels, as before


def test_a_grey_model_predicts_named_planes_one_by_one(stacks, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["predict", "nuclei", str(stacks / "ij.tif"), "-o", str(out)]) == 0
    assert tifffile.imread(out / "ij_labels.tif").shape == SHAPE


def test_evaluate_refuses_named_planes_for_a_model_of_channels(stacks, two_channel_model,
                                                              tmp_path, capsys):  # fmt: skip
    truth = np.zeros(SHAPE, np.uint16)
    truth[:, 10:30, 10:30] = 1
    tifffile.imwrite(tmp_path / "ij_truth.tif", truth)
    args = ["evaluate", str(two_channel_model), "--images", str(stacks / "ij.tif")]
    assert main([*args, "--labels", str(tmp_path / "ij_truth.tif")]) == 2
    err = capsys.readouterr().err
    assert "ij.tif: the file names its first axis z" in err and "Traceback" not in err, err


def test_review_refuses_named_planes_for_a_model_of_channels(stacks, two_channel_model,
                                                            tmp_path):  # fmt: skip
    from napari_unet import load_model
    from napari_unet.core.review.prefetch import Prefetcher
    from napari_unet.core.review.session import Review

    model, meta = load_model(two_channel_model)
    review = Review(stacks, tmp_path / "out")
    failed: dict[str, str] = {}
    pf = Prefetcher(review, model, meta, "two", cache=4, queue_all=True,
                    on_error=failed.__setitem__)  # fmt: skip
    try:
        pf.want(review.names)
        deadline = time.monotonic() + 120
        while (pf.pending() or pf.busy) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sorted(failed) == ["ij.tif", "ome.tif", "z.zarr"], failed
        assert "names its first axis z" in failed["ij.tif"]
        assert pf.get("bare.tif").labels.shape == SHAPE[1:]
    finally:
        assert pf.close()
