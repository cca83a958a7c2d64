"""Layers a dock made itself (a weight map, a training preview), told from the user's own.

A dock that shows its results in a layer named after its input (``"<labels> weights"``,
``"<image> preview"``) marks that layer in its metadata: its role (:data:`ROLE`) and the
name it was made as (:data:`MADE_AS`; napari suffixes a name in use). Only a layer so
marked is written over, moved or removed again; a user's layer of that name is left alone.
"""

from __future__ import annotations

import math
import re

import numpy as np

from napari_unet.widgets._layers import ROLE

__all__ = [
    "MADE_AS", "Holders", "drawn_as", "geometry", "marked", "own_layer", "own_layers", "place",
    "shear_matrix",
]

#: Metadata key: the name a dock gave a layer it made (napari suffixes a name in use).
MADE_AS = "napari_unet_made_as"


#: Outline thickness of labels a dock lays over an image: the cells beneath stay visible (a
#: fill hid them); painting and erasing still fill (only the drawing is outlines).
CONTOUR = 2
#: Planes larger than this many pixels are drawn filled instead: napari computes the
#: outlines of the whole plane at each new data (0.37 s at 2048 x 2048, 1.1 s at 4096).
CONTOUR_PIXELS = 2048 * 2048


def drawn_as(shape: tuple, fill_opacity: float) -> dict:
    """How labels of ``shape`` are drawn: outlines, or filled at ``fill_opacity`` when large."""
    if int(np.prod(shape[-2:])) > CONTOUR_PIXELS:
        return {"opacity": fill_opacity}
    return {"contour": CONTOUR}


def marked(role: str, name: str) -> dict:
    """The ``metadata`` of a layer a dock makes as ``name`` in ``role``."""
    return {ROLE: role, MADE_AS: name}


def own_layer(viewer, name: str, role: str):
    """The layer made in ``role`` as ``name`` (napari may have suffixed it), else None.

    A user's own layer of that name (say, weights computed with the command line, or
    labels named ``<image> preview``) is never written over. Nor is a layer the dock made
    and the user renamed (to keep a map, or a preview they painted into): it is theirs now.
    """
    return next(iter(own_layers(viewer, name, role)), None)


def own_layers(viewer, name: str, role: str) -> list:
    """Every layer :func:`own_layer` could return (two docks' previews of one image)."""
    found = []
    for layer in viewer.layers:
        meta = layer.metadata
        made = meta.get(ROLE) == role and meta.get(MADE_AS, layer.name) == name
        if made and _named_as(layer.name, name):
            found.append(layer)
    return found


def _named_as(current: str, made_as: str) -> bool:
    """True when ``current`` is ``made_as`` or that name with napari's suffix (``" [2]"``)."""
    suffixed = re.fullmatch(re.escape(made_as) + r" \[\d+\]", current)
    return current == made_as or suffixed is not None


def geometry(source) -> dict:
    """The placement of layer ``source``: scale, translate, rotate, shear, affine and units."""
    return {
        "scale": source.scale,
        "translate": source.translate,
        "rotate": source.rotate,
        "shear": source.shear,
        "affine": source.affine.affine_matrix,
        "units": units_of(source, source.ndim),
    }


def units_of(layer, k: int) -> tuple[str, ...]:
    """The units of the last ``k`` axes of ``layer`` ("micrometer", "pixel"), as names.

    A layer the docks add carries its image's units: one in pixels beside an image in
    micrometres (an OME-Zarr's) made napari warn "Inconsistent units across layers" and
    drop the units of the scale bar and the status line.
    """
    return tuple(str(u) for u in layer.units)[-k:]


def place(layer, placement: dict) -> None:
    """Give ``layer`` a source layer's :func:`geometry` (it may have moved since).

    Only what differs is set: each of napari's setters redraws the whole layer, even to
    the value it has (before, every result write redrew a large layer five times).
    """
    for key, value in placement.items():
        if key == "units":
            if units_of(layer, layer.ndim) != tuple(value):
                layer.units = value
            continue
        if key == "shear":
            now, new = shear_matrix(layer.shear, layer.ndim), shear_matrix(value, layer.ndim)
        else:
            now = layer.affine.affine_matrix if key == "affine" else getattr(layer, key)
            new = getattr(value, "affine_matrix", value)
        now, new = np.asarray(now, dtype=float), np.asarray(new, dtype=float)
        if now.shape != new.shape or not np.allclose(now, new):
            setattr(layer, key, value)


def shear_matrix(shear, n: int) -> np.ndarray:
    """The shear of a napari layer (upper-triangular values, or a matrix) as a matrix."""
    shear = np.asarray(shear, dtype=float)
    if shear.ndim == 2:
        return shear
    d = round((1 + math.sqrt(1 + 8 * shear.size)) / 2)  # size = d (d - 1) / 2
    sub = np.eye(d)
    sub[np.triu_indices(d, 1)] = shear
    full = np.eye(max(n, d))
    full[-d:, -d:] = sub
    return full[-n:, -n:]


class Holders:
    """Which dock each layer was given to, while that dock still shows it (``attr``).

    Weakly: a dock gone holds none. Two docks on one image each keep their own layer (the
    Live dock's prediction, the Train dock's preview): before, the second emptied and
    shared the first's.
    """

    def __init__(self, attr: str) -> None:
        import weakref

        self._attr, self._given = attr, weakref.WeakKeyDictionary()

    def give(self, layer, dock) -> None:
        """``layer`` is ``dock``'s now (nothing for ``dock`` None: a call from a script)."""
        import weakref

        if dock is not None:
            self._given[layer] = weakref.ref(dock)

    def holder(self, layer):
        """The dock that shows ``layer`` as its ``attr`` (given it, not another since)."""
        ref = self._given.get(layer)
        dock = None if ref is None else ref()
        return dock if dock is not None and getattr(dock, self._attr, None) is layer else None

    def first_free(self, layers, name: str, dock):
        """Of ``layers``, ``dock``'s own, else one no dock holds; the plain ``name`` first."""
        free = [ly for ly in layers if any(self.holder(ly) is d for d in (None, dock))]
        free.sort(key=lambda ly: (self.holder(ly) is None, ly.name != name))
        return free[0] if free else None
