"""Test-time flips: the average over the tile and its three flips, for every head."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_unet import Predictor, segment, touching_cells  # noqa: E402
from napari_unet.core.inference.runner import TileRunner  # noqa: E402
from napari_unet.core.models import build_model  # noqa: E402
from napari_unet.core.models.heads import activate  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")
TINY = {"arch": "unet", "base_channels": 4, "depth": 3, "padding": "same", "batch_norm": True}


@pytest.mark.parametrize("head", ["paper", "distance"])
def test_flips_average_the_four_flipped_predictions(head):
    torch.manual_seed(0)
    model = build_model({**TINY, "head": head}).eval()
    tiles = np.random.default_rng(0).normal(size=(2, 1, 32, 32)).astype(np.float32)
    got = TileRunner(model, torch.device("cpu"), "fp32", 2, flips=True)(tiles)
    x = torch.from_numpy(tiles)
    expected = 0
    with torch.no_grad():
        for dims in ((), (2,), (3,), (2, 3)):
            out = activate(model(torch.flip(x, dims) if dims else x), head)
            expected = expected + (torch.flip(out, dims) if dims else out)
    np.testing.assert_allclose(got, (expected / 4).numpy(), atol=1e-5)
    plain = TileRunner(model, torch.device("cpu"), "fp32", 2)(tiles)
    assert not np.allclose(got, plain, atol=1e-4)  # a random network is not flip-invariant


def test_flips_reach_the_tiles_of_numpy_and_dask_predictions(trained_same):
    da = pytest.importorskip("dask.array")
    model, meta = trained_same
    image, _ = touching_cells((96, 96), n_cells=10, seed=2)
    plain = segment(model, image, metadata=meta, device="cpu", return_probabilities=True)[1]
    flipped = segment(model, image, metadata=meta, device="cpu", flips=True, tile=64,
                      return_probabilities=True)[1]  # fmt: skip
    assert not np.allclose(plain, flipped)
    lazy = Predictor(model, metadata=meta, device="cpu", flips=True, tile=64, chunk=48)
    np.testing.assert_allclose(
        np.asarray(lazy.lazy_probabilities(da.from_array(image, chunks=48))), flipped, atol=1e-5
    )
