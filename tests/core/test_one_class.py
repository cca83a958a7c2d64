"""A one-class model (sigmoid output) works on every path: API, dask, command line, Zarr."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

torch = pytest.importorskip("torch")

from napari_unet import Predictor, build_model, save_model, segment  # noqa: E402
from napari_unet.cli import main  # noqa: E402

da = pytest.importorskip("dask.array")

pytestmark = pytest.mark.usefixtures("one_thread")


def one_class(bias: float):
    """A 1-class U-Net whose output is the constant ``sigmoid(bias)`` everywhere."""
    net = build_model(
        {"arch": "unet", "in_channels": 1, "n_classes": 1, "base_channels": 4, "depth": 2,
         "padding": "same"}
    )  # fmt: skip
    with torch.no_grad():
        net.head.weight.zero_()
        net.head.bias.fill_(bias)
    return net.eval()


@pytest.fixture
def image():
    return np.random.default_rng(0).random((70, 90)).astype(np.float32)


@pytest.mark.parametrize(("bias", "objects"), [(5.0, 1), (-5.0, 0)])
def test_segment_reads_the_one_class_as_foreground(image, bias, objects):
    net = one_class(bias)
    labels, probs = segment(net, image, return_probabilities=True, tile=64)
    assert probs.shape == (1, 70, 90)
    np.testing.assert_allclose(probs, 1 / (1 + np.exp(-bias)), atol=1e-5)  # a sigmoid
    assert labels.max() == objects and ((labels > 0).all() if objects else True)
    lazy = segment(net, da.from_array(image, chunks=40), tile=64)  # the dask path agrees
    np.testing.assert_array_equal(lazy, labels)
    assert Predictor(net).foreground_class == 0
    with pytest.raises(ValueError, match="foreground class 1 is not a class"):
        Predictor(net, foreground_class=1)


@pytest.mark.parametrize("suffix", [".tif", ".zarr"])
def test_the_command_line_predicts_a_one_class_model(image, tmp_path, suffix):
    model = save_model(tmp_path / "one.safetensors", one_class(5.0))
    src = tmp_path / f"img{suffix}"
    if suffix == ".zarr":
        da.from_array(image, chunks=32).to_zarr(str(src))
    else:
        tifffile.imwrite(src, image)
    out = tmp_path / "out"
    assert main(["predict", str(model), str(src), "-o", str(out), "--probabilities"]) == 0
    if suffix == ".zarr":
        labels = np.asarray(da.from_zarr(str(out / "img_labels.zarr")))
        probs = np.asarray(da.from_zarr(str(out / "img_probabilities.zarr")))
    else:
        labels = tifffile.imread(out / "img_labels.tif")
        probs = tifffile.imread(out / "img_probabilities.tif")
    assert probs.shape == (1, 70, 90) and labels.shape == (70, 90)
    assert labels.max() == 1 and (labels > 0).all()
