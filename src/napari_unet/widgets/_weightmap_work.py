"""The Weight map dock's edit watch, and its maps shaped as the labels layer and shown."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from napari_unet.widgets._made_layers import geometry, marked, own_layer, place

__all__ = ["EditWatch", "SharedId", "layer_shaped", "show_maps"]


class SharedId(NamedTuple):
    """Yielded by the worker when the labels hold one id over many separate pieces.

    napari makes a boolean mask opened as labels (or ``add_labels(labels > 0)``) one id 1,
    which the Train dock trains as painted, so the dock computes its map too; but all its
    cells are then one object, with no gaps between them to weigh, and before the status
    line did not say so.
    """

    id: int
    pieces: int

    def note(self) -> str:
        return (
            f"; all {self.pieces} separate pieces share one id ({self.id}), so the map has "
            "no gaps to emphasise: label the mask first (one id per cell)"
        )


def layer_shaped(maps: tuple[np.ndarray, ...], shape: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """The maps of a ``(Y, X, 1)`` labels layer (computed as ``(Y, X)``) in the layer's shape.

    Before, the 2D maps were placed with the layer's three-axis scale and translate: napari
    raised, no layer appeared and the dock's status said "Computing..." for good.
    """
    shape = tuple(shape)
    return tuple(
        m.reshape(shape) if m.shape != shape and m.size == int(np.prod(shape)) else m for m in maps
    )


class EditWatch:
    """Calls ``callback`` on every edit of one layer at a time (its data and paint events).

    ``redraw``, if given, is called when the layer is redrawn (``set_data``: an undo or a
    redo of a Labels layer, but also a new slice), which may or may not be an edit.
    """

    def __init__(self, callback, redraw=None) -> None:
        self._callbacks = {"data": callback, "paint": callback, "set_data": redraw}
        self.layer = None

    def follow(self, layer) -> bool:
        """Watch ``layer`` (None: nothing) instead; True when it is another layer than before."""
        if layer is self.layer:
            return False
        for event, callback in self._events(self.layer):
            event.disconnect(callback)
        self.layer = layer
        for event, callback in self._events(layer):
            event.connect(callback)
        return True

    def _events(self, layer) -> list:
        if layer is None:
            return []
        return [
            (getattr(layer.events, name), callback)
            for name, callback in self._callbacks.items()
            if callback is not None and hasattr(layer.events, name)
        ]


def show_maps(
    viewer, source, target: np.ndarray, weights: np.ndarray, with_target: bool, region=None
) -> str:
    """Put the maps of the labels layer ``source`` in the dock's own layers; the status.

    ``"<labels> weights"`` (and ``"<labels> target"`` ``with_target``) are updated in place
    or added, placed as ``source``; never a user's layer of those names, and the active
    layer stays active. ``region``: the annotated region's mask (None: the whole image).
    """
    placement = geometry(source)
    top = float(weights.max()) if weights.size else 1.0
    limits = (0.0, top if top > 0 else 1.0)
    name = f"{source.name} weights"
    active = viewer.layers.selection.active  # adding layers must not change it
    made = lambda n: {"metadata": marked("weight map", n), **placement}  # noqa: E731
    layer = own_layer(viewer, name, "weight map")  # never a user's layer of that name
    if layer is not None:
        layer.data = weights
        place(layer, placement)
        layer.contrast_limits_range = limits
        layer.contrast_limits = limits
    else:
        viewer.add_image(
            weights, name=name, colormap="inferno", contrast_limits=limits,
            blending="additive", **made(name),
        )  # fmt: skip
    target_name = f"{source.name} target"
    old = own_layer(viewer, target_name, "weight map")
    if with_target and old is not None:
        old.data = target
        place(old, placement)
    elif with_target:
        viewer.add_labels(target, name=target_name, opacity=0.4, **made(target_name))
    elif old is not None:
        viewer.layers.remove(old)  # a target of other settings would not match
    if active is not None and active in viewer.layers:
        viewer.layers.selection.active = active
    # The least weight of the cells inside the region: outside it every weight is 0 by
    # design, and before the status said "cells 0" whenever the region left a cell out.
    inside = target == 1
    if region is not None and np.size(region) == inside.size:
        inside &= np.reshape(np.asarray(region, bool), inside.shape)
    cells = weights[inside]
    return f"{name}: {weights.min():.3g} to {top:.3g}" + (
        f"; cells {cells.min():.3g}" if cells.size else ""
    )
