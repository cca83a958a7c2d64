"""The Live dock's prediction layer: made cheaply, and refreshed for the box a view wrote.

The ``<image> live prediction`` layer is drawn as outlines (napari's ``contour``). napari
computes outlines of the whole plane on a full :meth:`~napari.layers.Labels.refresh`: 2-3.8 s
for an 8192 x 8192 plane on 2 CPU cores, at every view and at Start (an empty plane). Here a
view writes its box and napari refreshes only that box and the outlines' halo around it, as
it does after a brush stroke (its private ``_accumulate_updated_slice`` and
``_partial_labels_refresh``; a full refresh, said once in a warning, where a napari
version lacks them). An empty plane is drawn the same with or without outlines, so the layer
is emptied with outlines off and they are switched on without a redraw.
"""

from __future__ import annotations

import weakref

import numpy as np

from napari_unet.widgets import _layers
from napari_unet.widgets._made_layers import Holders, _named_as, place
from napari_unet.widgets._private import private, set_private

__all__ = ["CONTOUR", "live_layer", "placement_of", "write_box"]

#: Outline thickness of the live prediction layer.
CONTOUR = 2


def live_layer(viewer, image, shape: tuple[int, int], dock=None):
    """The ``<image> live prediction`` layer of ``dock``, emptied (made when missing or resized).

    One per Live dock: ``dock`` (the one starting) reuses its own layer (of the same image,
    whatever its name now: :func:`_own`), else one of that
    name no other dock holds. Another dock's layer is left alone and this one is made
    beside it (napari names it ``<image> live prediction [1]``): two docks on one image
    (two start models compared) shared one layer, the second Start emptied the first's
    prediction, and each dock's clicks and *Accept all* copied the other model's objects.

    Drawn as outlines so that the painted cells (filled, in the annotations) stand apart.
    Placed on the image's pixels (scale, translate, units) whether made or reused: a layer
    kept from the last run stayed where that run's image lay, and the image given a pixel
    size or an offset since showed its prediction elsewhere (a click accepted other pixels).
    """
    name = f"{image.name} live prediction"
    placement = placement_of(image)
    layer = _own(viewer, image, dock)  # its own first: the image may have been renamed
    if layer is None:
        named = [ly for ly in viewer.layers if _named_as(ly.name, name)]  # " [1]" too
        layer = _HELD.first_free(named, name, dock)
    if layer is not None and layer.data.shape == shape:
        _set_contour(layer, 0, quiet=True)  # emptied without computing outlines
        layer.data = np.zeros(shape, np.int32)
        place(layer, placement)  # only what differs (each setter redraws the layer)
    else:
        if layer is not None:
            viewer.layers.remove(layer)
        layer = viewer.add_labels(
            np.zeros(shape, np.int32), name=name, opacity=0.8,
            metadata={_layers.ROLE: "preview"}, **placement,
        )  # fmt: skip
    _HELD.give(layer, dock)
    _MADE_FOR[layer] = weakref.ref(image)  # not kept alive by its prediction
    _set_contour(layer, CONTOUR, quiet=True)  # an empty plane: nothing to outline
    return layer


#: The dock each prediction layer was given to (a second dock makes its own).
_HELD = Holders("_live")
#: The image each prediction layer was last emptied for (weakly).
_MADE_FOR: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _own(viewer, image, dock):
    """``dock``'s own prediction layer of ``image``, still in ``viewer``, or None.

    Looked up before the name: the image renamed between Stop and Start (``cells`` to
    ``nuclei``) left the dock's ``cells live prediction`` with its stale outlines, and a
    new ``nuclei live prediction`` was made beside it.
    """
    layer = getattr(dock, "_live", None)
    if layer is None or layer not in viewer.layers or _HELD.holder(layer) is not dock:
        return None
    made_for = _MADE_FOR.get(layer)
    return layer if made_for is not None and made_for() is image else None


def placement_of(image) -> dict:
    """Where the prediction layer of ``image`` lies: its last two axes' placement.

    Scale, translate, units, and rotate, shear and affine (before, a rotated image's
    prediction was drawn, and a click looked it up, unrotated over other pixels).
    """
    from napari_unet.widgets._predict_place import placement

    return placement(image, 2)


#: The private napari parts this module relies on, said once each where they are missing.
_WARNED: set[str] = set()


def _missing(what: str, effect: str = "the Live prediction is redrawn whole (seconds on "
             "large images)") -> None:  # fmt: skip
    """Say once that napari lacks ``what``, and what that costs.

    By default: the view then redraws the whole plane (slow).
    """
    if what not in _WARNED:
        import warnings

        _WARNED.add(what)
        warnings.warn(
            f"this napari has no Labels.{what}: {effect}; napari-unet is tested with napari 0.9",
            RuntimeWarning,
            stacklevel=3,
        )


def _set_contour(layer, contour: int, quiet: bool) -> None:
    """Set the outline thickness; ``quiet``: without redrawing (the plane is empty)."""
    if quiet and private(layer, "_contour") is not None:
        set_private(layer, "_contour", int(contour))
        layer.events.contour()  # the layer controls follow
        return
    if quiet:
        _missing("_contour")
    layer.contour = contour


def write_box(layer, box, labels: np.ndarray) -> None:
    """Write ``labels`` into ``layer`` at ``(y0, y1, x0, x1)``; redraw only that box."""
    y0, y1, x0, x1 = box
    layer.data[y0:y1, x0:x1] = labels
    if not _partial_refresh(layer, (slice(y0, y1), slice(x0, x1))):
        layer.refresh()
        return
    thumbnail = private(layer, "_update_thumbnail")  # as a full refresh would (ms)
    if thumbnail is None:
        _missing("_update_thumbnail", "the Live prediction's thumbnail in the layer list lags")
    else:
        thumbnail()


def _partial_refresh(layer, box: tuple[slice, slice]) -> bool:
    """Refresh a changed slice, outlines included, as napari does; False where it cannot."""
    mark = private(layer, "_accumulate_updated_slice")
    redraw = private(layer, "_partial_labels_refresh")
    drawn = getattr(private(layer, "_slice"), "image", None)
    shown = getattr(drawn, "raw", None)
    if mark is None or redraw is None or shown is None:
        _missing("_partial_labels_refresh")
        return False
    if layer.data.ndim != 2 or not np.shares_memory(shown, layer.data):
        return False  # the drawn plane is not the data itself: redraw it all
    if layer.contour < 1:  # filled (the user set outlines off): napari redraws the colours
        colours = private(layer, "_raw_to_displayed")  # only with outlines
        if colours is None:
            _missing("_raw_to_displayed")
            return False
        drawn.view[box] = colours(shown, data_slice=box)
    mark(box)
    redraw()
    return True
