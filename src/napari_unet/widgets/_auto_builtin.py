"""The built-in model "auto" in the docks: which built-in model an image layer gets.

``auto`` chooses ``nuclei`` for bright objects on a dark background (fluorescence) and
``nuclei-brightfield`` for dark objects on a bright one (brightfield, H&E), by where the
image's median lies in its own range
(:func:`~napari_unet.core.models.pretrained.choose_pretrained`). The docks choose on the
GUI thread, so a layer is judged on what the core samples: an in-memory image at most
about a million pixels of up to eight planes, taken before colour is averaged (averaging an
8192 x 8192 RGB image whole took 3 s), a multiscale image on its smallest level, a lazy
(dask) image or a ``zarr.Array`` read whole up to 4096 x 4096 pixels (about two million to
judge once sampled: ``contrast.LAZY_JUDGED``), beyond on five windows.
"""

from __future__ import annotations

import weakref
from collections import Counter

import numpy as np

from napari_unet.core.models.pretrained import KINDS

#: Why ``auto`` chose each built-in model (shown in the docks).
REASONS = KINDS
#: How many images a majority choice looks at (the core's rule for training planes).
VOTERS = 8


def layer_sample(layer) -> tuple[object, object]:
    """``(pixels, channel_axis)`` to choose for an Image layer by (see the module)."""
    data = layer.data[-1] if getattr(layer, "multiscale", False) else layer.data
    rgb = bool(getattr(layer, "rgb", False))
    return readable(without_alpha(layer, data, 1)), (-1 if rgb else "none")  # grey built-ins


def without_alpha(layer, data, in_channels: int | None):
    """``data`` of Image ``layer`` without an RGB layer's alpha for a model of ``in_channels``.

    napari draws the fourth channel of an ``rgb`` layer as transparency (a PNG's alpha,
    varying where the PNG is transparent): for a model that does not take four channels it
    is dropped (lazy data stays lazy), as reading the file drops it; before, it was read as
    a fourth channel (auto chose another model, 3 nuclei of 23 were found). For a model of
    four channels, or none yet (trained from scratch), ``data`` is kept whole: the core's
    rule reads a varying fourth channel as data (a 4-channel TIFF napari shows as RGBA).
    """
    four = getattr(layer, "rgb", False) and tuple(getattr(data, "shape", ()))[-1:] == (4,)
    if not four or in_channels in (None, 4):
        return data
    return readable(data)[..., :3]


def readable(data):
    """``data`` as the core samples it cheaply: numpy or dask as they are, others as dask.

    The core judges an in-memory image on a strided sample taken before colour is averaged
    and a lazy one read whole when small, else on five windows; a ``zarr.Array`` (or any
    array-like that is not numpy or dask) was read whole on the GUI thread, so it is
    wrapped as dask.
    """
    from napari_unet.core.images.layout import is_lazy

    if isinstance(data, np.ndarray) or is_lazy(data) or not hasattr(data, "shape"):
        return data
    import dask.array as da

    return da.from_array(data, chunks=getattr(data, "chunks", "auto"))


def choose_for_layer(layer, channel=None) -> str:
    """The built-in model ``auto`` chooses for an Image layer (raises InputError).

    ``channel``: what a grey model reads of a colour layer (None, ``"mean"`` or an index).
    """
    from napari_unet.core.models.pretrained import choose_pretrained

    pixels, channel_axis = layer_sample(layer)
    if channel is None:  # the colour averaged (or a grey layer's one channel)
        return choose_pretrained(pixels, channel_axis)
    return choose_pretrained(pixels, channel_axis, channel)


def choose_for_images(images) -> str:
    """The built-in model most of (up to :data:`VOTERS` of) ``images`` are chosen for.

    ``images``: Image layers, or arrays read from files (colour last: a last axis of 3 or
    4). A tie goes to the first image's choice; no image at all gets ``nuclei``.
    """
    return majority(
        choose_for_array(image) if isinstance(image, np.ndarray) else choose_for_layer(image)
        for image in list(images)[:VOTERS]
    )


def majority(kinds) -> str:
    """The built-in model most of (the first :data:`VOTERS` of) ``kinds`` name.

    A tie goes to the first one's; none at all gives ``nuclei``.
    """
    votes = Counter(list(kinds)[:VOTERS])
    return votes.most_common(1)[0][0] if votes else "nuclei"


def choose_for_array(image) -> str:
    """The built-in model for an array read from a file (colour last: a last axis of 3 or 4)."""
    from napari_unet.core.models.pretrained import choose_pretrained

    rgb = np.ndim(image) >= 3 and np.shape(image)[-1] in (3, 4)
    return choose_pretrained(image, -1 if rgb else None)


def explain(name: str) -> str:
    """``"nuclei-brightfield: dark objects on a bright background"``."""
    return f"{name}: {REASONS[name]}" if name in REASONS else name


def model_label(name: str, auto: bool, loaded: bool) -> str:
    """The Predict dock's label of built-in model ``name`` (``auto``: which one, and why)."""
    how = "" if loaded else " (loaded when you press Predict)"
    return f"model: auto chose {explain(name)}{how}" if auto else f"model: {name}, built-in{how}"


class LayerChoice:
    """``auto``'s choice for a layer, remembered while the layer keeps the same data."""

    def __init__(self) -> None:
        self._last: tuple | None = None  # (weak ref to the layer, (data id, channel), choice)

    def __call__(self, layer, channel=None) -> str | None:
        """The built-in model for ``layer`` (None for no layer; raises InputError)."""
        if layer is None:
            return None
        last, key = self._last, (id(layer.data), channel)
        if last is not None and last[0]() is layer and last[1] == key:
            return last[2]
        chosen = choose_for_layer(layer, channel)
        self._last = (weakref.ref(layer), key, chosen)
        return chosen
