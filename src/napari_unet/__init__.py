"""napari-unet: interactive U-Net cell segmentation in napari.

Importing this package is cheap: napari imports it while listing plugins, so nothing
heavy (torch, Qt) is imported here. The public API is loaded lazily.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
