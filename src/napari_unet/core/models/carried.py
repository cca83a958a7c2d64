"""A model file's metadata, carried on the network it was loaded into.

:func:`~napari_unet.core.models.modelfile.load_model` returns ``(model, metadata)``. A script
that kept the model alone (``model, _ = pretrained("nuclei")``) and called
``segment(model, image)`` was given the default normalisation, light and post-processing
instead of the ones the file records, with nothing said (the built-in model's labels then
differ from the docks' and the command's). The metadata now travels on the network as a plain
attribute: not a parameter or buffer, so the weights, their state dict and the files written
from them are unchanged. ``metadata`` given to a call still wins, ``{}`` included.
"""

from __future__ import annotations

#: The attribute of the network that holds its metadata (a dict, or absent).
ATTRIBUTE = "napari_unet_metadata"


def attach(model, metadata: dict | None):
    """Keep ``metadata`` on ``model`` (None: keep none); returns ``model``."""
    if metadata is None:
        model.__dict__.pop(ATTRIBUTE, None)
    else:
        model.__dict__[ATTRIBUTE] = metadata
    return model


def carried(model, metadata: dict | None = None) -> dict | None:
    """``metadata`` when given, else the metadata ``model`` carries (None when it carries none)."""
    if metadata is not None:
        return metadata
    found = getattr(model, "__dict__", {}).get(ATTRIBUTE)
    return found if isinstance(found, dict) else None
