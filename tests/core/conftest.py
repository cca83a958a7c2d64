"""Fixtures for the prediction tests: tiny networks, trained once per session."""

from __future__ import annotations

import pytest


@pytest.fixture
def one_thread():
    """Run torch on one thread: on shared 2-core machines OpenMP spin-waiting costs more."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def trained_same():
    """A tiny same-padded UNet trained on synthetic touching cells: (model, metadata)."""
    from tiny_model import train_tiny

    return train_tiny("same", steps=150)


@pytest.fixture(scope="session")
def random_valid():
    """An untrained valid UNet (3 poolings): equality of tilings must hold for any weights."""
    import torch

    from napari_unet.core.models import UNet

    torch.manual_seed(1)
    return UNet(1, 2, base_channels=4, depth=4, padding="valid").eval()
