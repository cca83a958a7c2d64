"""Prediction never moves the caller's network (``module.to`` moves it in place)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("fast", [True, False])
def test_prediction_never_moves_the_callers_network(random_valid, monkeypatch, fast):
    # Before, Predictor.runner called model.to(device) on the caller's network: a GPU
    # model predicted with device="cpu" (or a CPU one with "auto") was moved for good.
    from napari_unet import Predictor
    from napari_unet.core.progress import drain

    moved = []
    original = torch.nn.Module.to

    def spy(self, *args, **kwargs):
        if self is random_valid:
            moved.append(args or kwargs)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.nn.Module, "to", spy)
    predictor = Predictor(random_valid, tile=96, device="cpu", background="keep", denoise="off")
    predictor.fast = fast
    image = np.random.default_rng(0).random((64, 80)).astype(np.float32)
    probs = drain(predictor.iter_probabilities(image))
    assert probs.shape == (2, 64, 80)
    assert moved == []


def test_a_network_elsewhere_is_copied_to_the_device_not_moved():
    from napari_unet.core.inference.guards import on_device

    net = torch.nn.Conv2d(1, 1, 3)
    assert on_device(net, "cpu") is net and on_device(net, torch.device("cpu")) is net
    there = on_device(net, "meta")  # another device: a copy goes there
    assert there is not net and there.weight.device.type == "meta"
    assert net.weight.device.type == "cpu"  # the caller's stays
    empty = torch.nn.ReLU()  # no weights: nothing to move
    assert on_device(empty, "meta") is empty
