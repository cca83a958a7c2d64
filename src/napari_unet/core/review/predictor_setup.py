"""What the review's prefetch thread predicts with, built in that thread (not the GUI thread).

Building the predictor imports PyTorch (seconds, the first time) and moves the network to
its device; loading a model file builds the network too. A
:class:`~napari_unet.core.review.prefetch.Prefetcher` does both in its own thread, before
its first image (:func:`build_predictor`): before, opening a folder in the Review dock held
napari's GUI thread for 5 to 7 s, even with the built-in ``auto`` model whose models the
thread loads itself. A model still to be read from its file is given as a
:class:`LoadLater`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from napari_unet.core.inference.scale import AUTO
from napari_unet.core.review.items import model_key

__all__ = ["Built", "LoadLater", "build_or_why", "build_predictor"]


class LoadLater(NamedTuple):
    """A model the prefetch thread loads before its first image: ``load() -> (model, metadata)``.

    Given as the ``model`` of a prefetcher (its ``metadata`` then unused): a model file is
    read by the thread, not the GUI thread. What ``load`` raises fails every image, with
    its message (:func:`unusable`).
    """

    load: Callable[[], tuple[object, dict]]


class Built(NamedTuple):
    """What predicting with one model takes: its cache key, predictor, post-processing."""

    key: str
    predictor: object
    post: object
    metadata: dict | None


def build_predictor(model, metadata: dict | None, options: dict | None = None) -> Built:
    """The predictor of ``model`` (loaded first if a :class:`LoadLater`), as ``predict`` does.

    The object size is estimated where the model records its own (``"auto"``): the key of
    its cached predictions says so.
    """
    from napari_unet.core.inference.plan import Predictor
    from napari_unet.core.inference.postprocess import Postprocess

    if isinstance(model, LoadLater):
        model, metadata = model.load()
    predictor = Predictor(model, metadata=metadata, **(options or {}))
    return Built(f"{model_key(model)}-{AUTO}", predictor, Postprocess.for_model(metadata), metadata)


def build_or_why(model, metadata: dict | None, options: dict | None = None) -> Built | str:
    """:func:`build_predictor`, or why it failed: each image's error (MemoryError too)."""
    try:
        return build_predictor(model, metadata, options)
    except Exception as exc:  # noqa: BLE001 - whatever a model file or a device raises
        return f"the model could not be loaded: {str(exc) or type(exc).__name__}"
