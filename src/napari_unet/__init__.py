"""napari-unet: interactive U-Net cell segmentation in napari.

Importing this package is cheap: napari imports it while listing plugins, so nothing
heavy (torch, Qt) is imported here. The public API is loaded lazily.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "pretrained"]


def pretrained(name: str = "nuclei", device="cpu"):
    """Load a built-in model shipped inside the package (no network access).

    Parameters
    ----------
    name : str
        A built-in model name (``"nuclei"``: the starter fluorescence-nuclei U-Net).
    device : str or torch.device
        Where to put the model (``"cpu"``, ``"cuda"``, ``"auto"``, ...).

    Returns
    -------
    tuple of (torch.nn.Module, dict)
        The model in eval mode and its metadata.

    Raises
    ------
    napari_unet.core.errors.InputError
        If ``name`` is unknown; the message lists the known names.
    """
    from napari_unet.core.pretrained import pretrained as _load  # torch only when called

    return _load(name, device=device)
