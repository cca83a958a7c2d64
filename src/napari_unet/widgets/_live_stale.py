"""Whether the Live dock's image is still the one its run trained on and predicted.

The Review dock steps to the next image inside the same layers
(:mod:`~napari_unet.widgets._review_shown`): the image layer's data is replaced, or (a colour
image after a grey one) the labels layer gets the next image's labels while the old image
layer is hidden. At Start the dock notes what it trains on (:func:`note_shown`: the image
layer's data, and which image the Review dock shows in the annotations); once either
changed (:func:`changed_since`):

- a running run stops (:class:`~napari_unet.widgets._live_watch.RunWatch`) and the
  prediction of the old image is cleared (:func:`clear_prediction`);
- *click to accept* and *Accept all* copy nothing from a prediction still shown, and say
  why (:func:`refuse_changed`): before, the old image's cells went into the next image's
  labels, and the Review dock saved them as its correction;
- Start carries nothing annotated over: the other image's cells became annotated
  background (:func:`~napari_unet.widgets._live_runs.resumable`).
"""

from __future__ import annotations

import contextlib
import weakref

import numpy as np

from napari_unet.core.errors import InputError
from napari_unet.widgets._review_shown import shown_step

__all__ = ["changed_since", "clear_prediction", "note_shown", "refuse_changed"]


def _held(data):
    """A reference to ``data`` that does not keep it alive where it can be weak."""
    try:
        return weakref.ref(data)
    except TypeError:
        return lambda: data


def note_shown(dock, image, labels) -> None:
    """Note what the dock's new run trains on: the image's data, the Review image shown."""
    dock._shown_of = (_held(image.data), shown_step(labels))


def changed_since(dock) -> str | None:
    """What changed since the last Start on the dock's image and annotations (None: nothing)."""
    was = getattr(dock, "_shown_of", None)
    image, labels = dock._image, dock._annotations
    if was is None or image is None or labels is None:
        return None
    data, step = was
    if data() is not image.data:
        return f"the image {image.name!r} changed"
    if step != shown_step(labels):
        return f"the Review dock showed another image in {labels.name!r}"
    return None


def refuse_changed(dock) -> None:
    """Raise an InputError when the prediction shown is of what the image held before."""
    why = changed_since(dock)
    if why is not None:
        raise InputError(f"{why} since it was predicted: nothing is accepted (Start again "
                         "to predict it)")  # fmt: skip


def clear_prediction(dock) -> None:
    """Empty the dock's prediction layer (it shows the image as it was)."""
    live = dock._live
    if live is not None:
        with contextlib.suppress(Exception):  # (a layer going with the viewer)
            live.data = np.zeros(live.data.shape, np.int32)
