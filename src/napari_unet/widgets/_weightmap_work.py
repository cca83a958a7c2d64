"""The Weight map dock's edit watch, the image of its labels, and its maps shaped and shown."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from napari_unet.widgets._layers import image_data, layer_choices, layers_of
from napari_unet.widgets._made_layers import geometry, marked, own_layer, place
from napari_unet.widgets._predict_place import EditState, edit_state
from napari_unet.widgets._review_snapshot import history_token, same_token

__all__ = [
    "EditWatch", "LabelsImage", "LazyLabels", "MapFigures", "SharedId", "changed_since",
    "labels_to_read", "layer_shaped", "map_figures", "show_maps",
]  # fmt: skip


class LabelsImage:
    """The Image layer the chosen labels belong to (None: none), robust to renames.

    Found by name (``"<image> annotations"``, see :func:`~napari_unet.widgets._layers.layers_of`),
    then kept by identity while both layers stay: after the image (or the labels) is renamed
    the names no longer match, yet the labels are still that image's, as an image chosen in
    the Train dock stays chosen. Before, the image was lost on a rename: the annotated region
    picked for it, or chosen by the user, was dropped and the map computed over the whole
    image. Labels renamed after another image belong to that one.
    """

    def __init__(self, viewer, labels_of: Callable[[], object]) -> None:
        self.viewer, self.labels_of = viewer, labels_of
        self._known = None  # (labels, their name then, their image) last found

    def __call__(self):
        labels = self.labels_of()
        if labels is None:
            return None
        known = self._known
        if known is not None and known[0] is labels and known[2] is not None:
            image = known[2]
            kept = any(ly is image for ly in self.viewer.layers)
            if kept and (labels.name == known[1] or self._by_name(labels) is None):
                return image
        image = self._by_name(labels)
        self._known = (labels, labels.name, image)
        return image

    def _by_name(self, labels):
        for _, image in layer_choices(self.viewer, "Image"):
            if any(ly is labels for ly in layers_of(self.viewer, image)):
                return image
        return None


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


class LazyLabels:
    """Labels not held in memory (dask, zarr): handed to the worker as they are, read there.

    Reading them (decompressing a whole level of an OME-Zarr) held the GUI thread for
    seconds at each Compute. Equal to another while the layer holds the same array (new
    data makes it differ) and napari's edit history, where it keeps one, did not move.
    """

    def __init__(self, layer) -> None:
        self.parts = (layer, image_data(layer), history_token(layer))

    def __eq__(self, other) -> bool:
        a, b = self.parts, getattr(other, "parts", ())
        if len(b) != 3 or a[0] is not b[0] or a[1] is not b[1]:
            return False
        return (a[2] is None and b[2] is None) or same_token(a[2], b[2])

    __hash__ = None


def labels_to_read(layer) -> tuple:
    """``(labels, state)``: what the worker reads, and how an edit meanwhile is told.

    An in-memory layer with napari's edit history: its own array (copied by the worker) and
    its :class:`EditState`; lazy labels: the lazy array and a :class:`LazyLabels`; any other
    in-memory array is copied here (state None), as before.
    """
    if (state := edit_state(layer)) is not None:
        return state.parts[1], state
    data = image_data(layer)
    if not isinstance(data, np.ndarray):
        state = LazyLabels(layer)
        return state.parts[1], state
    return np.array(data), None


def changed_since(layer, state) -> bool:
    """Whether ``layer``'s labels changed since :func:`labels_to_read` gave ``state``."""
    if state is None:
        return False
    return (edit_state(layer) if isinstance(state, EditState) else LazyLabels(layer)) != state


class MapFigures(NamedTuple):
    """The status line's figures of a map, computed by the worker with it.

    Computed on the GUI thread they held it 0.8 s at 8192 x 8192.
    """

    low: float
    high: float
    cells: float | None  # the least weight of the cells inside the region (None: no cell)


def map_figures(target: np.ndarray, weights: np.ndarray, region=None) -> MapFigures:
    """The least and largest weight, and the least of the cells inside ``region`` (a mask).

    Outside the region every weight is 0 by design: before, the status said "cells 0"
    whenever the region left a cell out.
    """
    if not weights.size:
        return MapFigures(0.0, 1.0, None)
    inside = np.asarray(target) == 1
    if region is not None and np.size(region) == inside.size:
        inside &= np.reshape(np.asarray(region, bool), inside.shape)
    cells = weights[inside]
    least = float(cells.min()) if cells.size else None
    return MapFigures(float(weights.min()), float(weights.max()), least)


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
    viewer, source, target: np.ndarray, weights: np.ndarray, with_target: bool,
    figures: MapFigures,
) -> str:  # fmt: skip
    """Put the maps of the labels layer ``source`` in the dock's own layers; the status.

    ``"<labels> weights"`` (and ``"<labels> target"`` ``with_target``) are updated in place
    or added, placed as ``source``; never a user's layer of those names, and the active
    layer stays active. ``figures``: the map's :func:`map_figures`, said on the status line
    under the name of the layer that shows the map (napari suffixes a name in use: before,
    the line named the user's layer of that name).
    """
    placement = geometry(source)
    top = figures.high
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
        layer = viewer.add_image(
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
    cells = "" if figures.cells is None else f"; cells {figures.cells:.3g}"
    return f"{layer.name}: {figures.low:.3g} to {top:.3g}{cells}"
