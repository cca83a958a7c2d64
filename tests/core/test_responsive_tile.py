"""Tiles sized by time for interactive prediction: progress and Cancel at least that often."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import napari_unet as nu  # noqa: E402
from napari_unet import InputError, Predictor  # noqa: E402
from napari_unet.core.inference import runner  # noqa: E402


@pytest.fixture
def timed(monkeypatch):
    """Fake network timings: ``speed[0]`` seconds for a 512 px tile, growing with pixels."""
    speed, calls = [0.5], []

    def fake_time(model, device, precision, in_channels, side):
        calls.append(side)
        return speed[0] * (side / 512) ** 2

    monkeypatch.setattr(runner, "_time_tile", fake_time)
    monkeypatch.setattr(runner, "_TILE_TIMES", type(runner._TILE_TIMES)())
    return speed, calls


def test_the_tile_fits_the_time_and_is_legal(timed):
    speed, calls = timed
    model, _ = nu.pretrained("nuclei")
    geometry = model.geometry
    tile = runner.responsive_tile(model, "cpu", seconds=0.5, largest=4096)
    assert geometry.is_legal(tile) and 480 <= tile <= 512
    assert runner.responsive_tile(model, "cpu", seconds=2.0, largest=4096) >= 1000  # 4x time
    assert runner.responsive_tile(model, "cpu", seconds=2.0, largest=640) <= 640  # memory cap
    assert calls == [512]  # timed once per model and device
    speed[0] = 100.0  # a very slow machine: the smallest tile of at least 128 px
    runner._TILE_TIMES.clear()
    assert runner.responsive_tile(model, "cpu", seconds=0.5, largest=4096) == 128


def test_predictor_uses_it_only_for_an_automatic_tile(timed):
    _, calls = timed
    model, meta = nu.pretrained("nuclei")
    assert Predictor(model, metadata=meta, tile_seconds=0.5).tile <= 512
    assert Predictor(model, metadata=meta, tile=1024, tile_seconds=0.5).tile == 1024
    assert Predictor(model, metadata=meta).tile > 512  # the command line: memory only
    for bad in (0, -1, float("nan"), float("inf"), "fast", True):
        with pytest.raises(InputError, match="tile_seconds"):
            Predictor(model, metadata=meta, tile_seconds=bad)


def test_timing_a_real_tile_leaves_the_model_as_it_was():
    model = nu.build_model({"arch": "unet", "base_channels": 4, "depth": 2})
    model.train()
    seconds = runner._time_tile(model, torch.device("cpu"), "fp32", 1, 64)
    assert 0 < seconds < 60 and model.training
