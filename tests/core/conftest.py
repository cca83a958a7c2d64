"""Fixtures for the prediction tests: tiny networks, trained once per session."""

from __future__ import annotations

import pytest


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
