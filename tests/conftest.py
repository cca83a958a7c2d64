"""Shared test fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: Real microscopy data with instance ground truth, kept beside the checkout (never copied into it).
SHARED_DATA = Path(os.environ.get("NAPARI_UNET_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder; skips the test cleanly where it is absent."""
    if not (SHARED_DATA / "dsb2018" / "index.csv").exists():
        pytest.skip(f"shared data folder not found (set NAPARI_UNET_DATA); looked in {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def one_thread():
    """Run torch on one thread: on shared 2-core machines OpenMP spin-waiting costs more."""
    torch = pytest.importorskip("torch")
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


@pytest.fixture
def review_folder(shared_data, tmp_path) -> Path:
    """A folder holding the five :data:`REVIEW_NAMES` images (copied from the shared data)."""
    import shutil

    from review_data import REVIEW_NAMES

    images = tmp_path / "images"
    images.mkdir()
    for name in REVIEW_NAMES:
        shutil.copy(shared_data / "dsb2018_full" / "images" / f"{name}.png", images)
    return images
