"""The Train dock's lazy layers (dask, zarr: an OME-Zarr slide), read by its worker.

In-memory layers are copied on the GUI thread when Train is pressed (napari paints them in
place meanwhile); a lazy array is handed over as it is and read in the worker
(:func:`read_then_train`). Before, reading an 8192 x 8192 pair froze napari 3-4 s.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Generator

import numpy as np

__all__ = ["copied_or_lazy", "is_lazy", "read_lazy", "read_then_train"]


def is_lazy(data) -> bool:
    """Whether ``data`` is not held in memory as numpy (a dask or zarr array)."""
    return data is not None and not isinstance(data, np.ndarray)


def copied_or_lazy(data):
    """A copy of an in-memory array (GUI thread); a lazy one as dask, read by the worker.

    A ``zarr.Array`` is wrapped as dask (``_auto_builtin.readable``): the preview's
    ``ViewSource`` moves its channel axis lazily then, where numpy would read it whole.
    """
    if not is_lazy(data):
        return np.array(data)
    import dask.array as da

    from napari_unet.widgets._auto_builtin import readable

    return data if isinstance(data, da.Array) else readable(data)


def read_lazy(data: dict) -> dict:
    """The Train dock's snapshot (``_train_helpers.snapshot``) with its lazy arrays read."""
    out = dict(data)
    out["images"] = [np.asarray(a) for a in data["images"]]
    out["labels"] = [np.asarray(a) for a in data["labels"]]
    if isinstance(data["val"], tuple):
        image, labels, name = data["val"]
        out["val"] = (np.asarray(image), np.asarray(labels), name)
    return out


def _has_lazy(data: dict) -> bool:
    arrays = [*data["images"], *data["labels"]]
    if isinstance(data["val"], tuple):
        arrays += list(data["val"][:2])
    return any(is_lazy(a) for a in arrays)


def read_then_train(data: dict, config, kwargs: dict, done: threading.Event) -> Generator:
    """Read the snapshot's lazy arrays, then run ``_workers.train_job`` (in the worker).

    ``done`` is set at the end, also when reading fails or the run is stopped meanwhile
    (returns None: nothing trained), as ``train_job`` sets it.
    """
    from napari_unet.core.training.setup import is_stopped
    from napari_unet.widgets import _workers

    job = None
    try:
        if _has_lazy(data):
            data = read_lazy(data)
            if is_stopped(kwargs.get("stop")):
                return None
        job = _workers.train_job(data, config, kwargs, done)
        return (yield from job)
    finally:
        if job is None:  # train_job never ran: its ending is done here
            gc.unfreeze()
            done.set()
