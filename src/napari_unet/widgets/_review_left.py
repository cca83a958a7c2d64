"""The Review dock closed: its layers stay, read-only, until a Review dock shows an image again.

Closing the dock saves the shown image's edits and stops its threads (``shutdown``); its
image and labels layers stay in the viewer. The labels layer is made read-only, its name
saying so (``"a labels (read-only: Review dock closed)"``): nothing saves it any more.
The next Review dock to show an image (a new one, or the same dock opened again) takes
these layers back instead of adding ``"a [1]"``, ``"a labels [1]"`` beside them. Before,
the leftover labels layer stayed editable (strokes on it were saved nowhere) and every
close and reopen added two more layers.
"""

from __future__ import annotations

import contextlib
import itertools

from napari_unet.widgets._held_layers import hold, release

__all__ = ["NOTE", "leave_layers", "take_back"]

#: Metadata key on each layer a closed dock left: which close left it (a number).
LEFT = "napari_unet_review_left"
#: Added to the leftover labels layer's name.
NOTE = " (read-only: Review dock closed)"
#: The holder of the leftover labels layers' read-only lock (:mod:`._held_layers`).
CLOSED = "Review dock closed"
_closes = itertools.count(1)


def _in_viewer(layer, viewer) -> bool:
    return layer is not None and any(layer is shown for shown in viewer.layers)


def leave_layers(dock) -> None:
    """``dock`` closed (its edits saved): its labels layer read-only, its layers marked left."""
    viewer, labels = dock._viewer, dock._labels_layer
    if labels is not None and dock._connected is labels:  # no edit reaches the closed dock
        for kind in ("labels_update", "paint", "data"):
            with contextlib.suppress(TypeError, ValueError, RuntimeError):
                getattr(labels.events, kind).disconnect(dock._on_edit)
        dock._connected = None
    with contextlib.suppress(RuntimeError):  # its table's widget may be deleted already
        dock._table.attach(viewer, None)
    left = [layer for layer in (labels, *dock._image_layers.values()) if _in_viewer(layer, viewer)]
    if not left:
        return
    number = next(_closes)
    for layer in left:
        layer.metadata[LEFT] = number
    if _in_viewer(labels, viewer):
        hold(labels, CLOSED)  # its undo history kept (napari drops it from a read-only layer)
        if not labels.name.endswith(NOTE):
            labels.name += NOTE


def take_back(dock) -> None:
    """Before ``dock`` shows an image: the layers a closed dock left are its to reuse.

    Its own layers if it left them (the dock closed, then opened again); else, if it has
    none in the viewer, those of the dock closed last. Their read-only lock is lifted (the
    image shown in them is saved by ``dock`` from now on).
    """
    from napari.layers import Labels

    viewer = dock._viewer
    mine = (dock._labels_layer, *dock._image_layers.values())
    own = [layer for layer in mine if _in_viewer(layer, viewer)]
    if not own:
        own = _latest_left(viewer)
        for layer in own:
            if isinstance(layer, Labels):
                dock._labels_layer = layer
            else:
                dock._image_layers[(layer.ndim, bool(layer.rgb))] = layer
    for layer in own:
        if layer.metadata.pop(LEFT, None) is None or not isinstance(layer, Labels):
            continue
        release(layer, CLOSED)  # editable again once no other dock holds it (show_item)
        if layer.name.endswith(NOTE):
            layer.name = layer.name[: -len(NOTE)]


def _latest_left(viewer) -> list:
    """The layers the dock closed last left in ``viewer`` (one labels layer at most)."""
    from napari.layers import Image, Labels

    left = [layer for layer in viewer.layers if isinstance(layer.metadata.get(LEFT), int)]
    if not left:
        return []
    number = max(layer.metadata[LEFT] for layer in left)
    chosen, kinds = [], set()
    for layer in left:
        if layer.metadata[LEFT] != number or not isinstance(layer, Image | Labels):
            continue
        kind = "labels" if isinstance(layer, Labels) else (layer.ndim, bool(layer.rgb))
        if kind not in kinds:
            kinds.add(kind)
            chosen.append(layer)
    return chosen
