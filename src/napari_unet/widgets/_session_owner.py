"""Which image each annotations and annotated-region layer belongs to, for Start annotating.

Start looked its layers up by name only (``"<image> annotations"``, ``"<image> annotated
region"``). A layer left by a removed image was taken by the next image of that name
(exp2/cells.tif opened after exp1/cells.tif was deleted): its cells were saved into the
other image's project. And a region layer was not found once its image (or the layer
itself) was renamed: a new whole-image region was made, training read the unannotated
area as background, and the old layer's edits were no longer saved.

Each layer Start attaches is recorded here as its image's (weakly, for every dock). Start
takes back the image's own layer whatever its name, and never takes another image's: that
layer is renamed ``"... (old)"`` and kept, with a warning. A layer of a removed image is
taken by an image opened again from the same file.
"""

from __future__ import annotations

import weakref
from pathlib import Path

from napari.utils.notifications import show_warning

from napari_unet.widgets._private import real

__all__ = ["disown", "elsewhere", "own", "owned", "set_aside"]

#: Each layer Start attached -> (a weak reference to its image, that image's file or None).
_OWNER: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _source(image) -> Path | None:
    src = getattr(getattr(image, "source", None), "path", None)
    return Path(src).resolve() if src else None


def own(layer, image):
    """Record ``layer`` as ``image``'s, the only one of its kind (Labels, Shapes) it has."""
    given, layer, image = layer, real(layer), real(image)
    for other, (ref, _) in list(_OWNER.items()):
        if other is not layer and ref() is image and type(other) is type(layer):
            _OWNER.pop(other, None)
    _OWNER[layer] = (weakref.ref(image), _source(image))
    return given


def disown(layer) -> None:
    """``layer`` is no image's now (set aside as ``"... (old)"``)."""
    _OWNER.pop(real(layer), None)


def owned(viewer, image, kind, fits=lambda _layer: True):
    """``image``'s layer of type ``kind`` in ``viewer`` that ``fits``, whatever its name."""
    for layer in viewer.layers:
        record = _OWNER.get(real(layer))
        if isinstance(layer, kind) and record and record[0]() is real(image) and fits(layer):
            return layer
    return None


def elsewhere(layer, image, viewer) -> str | None:
    """Whose ``layer`` is, in words, when not ``image``'s; None: it may be ``image``'s.

    A layer Start never attached (made by a script, or a project opened by hand) may be.
    """
    record = _OWNER.get(real(layer))
    if record is None:
        return None
    owner, src = record[0](), record[1]
    if owner is real(image):
        return None
    if _shown(owner, viewer):
        return f"the image {owner.name!r}"
    if src is not None and src == _source(image):
        return None  # its image opened again from the same file
    return "an image removed from the viewer"


def _shown(image, viewer) -> bool:
    return image is not None and any(real(shown) is image for shown in viewer.layers)


def set_aside(layer, image_name: str, whose: str, viewer) -> None:
    """Rename ``layer`` (``whose``) out of the way of ``image_name``'s new layer, and say so.

    It stays its image's while that image is in the viewer (its Start takes it back).
    """
    old, new = layer.name, f"{layer.name} (old)"
    show_warning(
        f"Layer {old!r} belongs to {whose}, not to {image_name}: it is renamed {new!r} and "
        f"kept, and {image_name} gets a new layer."
    )
    layer.name = new
    record = _OWNER.get(real(layer))
    if record is not None and not _shown(record[0](), viewer):
        disown(layer)
