"""The U-Net family: UNet (paper), UNet++ and UNet 3+, tile geometry and a registry.

``TileGeometry`` and ``IllegalTileSize`` are pure Python; the networks and the registry
import torch and are loaded on first access, so ``from napari_unet.core.models import
TileGeometry`` stays cheap.
"""

from __future__ import annotations

import importlib

from napari_unet.core.models.geometry import IllegalTileSize, TileGeometry

_LAZY = {
    "UNet": "napari_unet.core.models.unet",
    "UNetPlusPlus": "napari_unet.core.models.unetpp",
    "UNet3Plus": "napari_unet.core.models.unet3p",
    "build_model": "napari_unet.core.models.registry",
    "ARCHITECTURES": "napari_unet.core.models.registry",
    "default_config": "napari_unet.core.models.registry",
}

__all__ = ["IllegalTileSize", "TileGeometry", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
