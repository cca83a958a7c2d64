"""Ids of a plane's or a view's result written into a labels array: a type that holds them.

The Predict dock gives a plane or a view predicted into a Labels layer ids past those the
layer holds outside it (:meth:`~._predict_place.Results.put`). A user's layer copied to start
the result (napari's *New labels* is uint8; a segmentation read from a file may be uint8 or
uint16) kept its type, and ids past its largest wrapped round: before, id 256 of a uint8 copy
became 0 (the object was erased) and 257 became 1 (one of the user's ids). Here the copy, or
the dock's own layer, is widened to the smallest integer type at least its own that holds
them (:func:`ids_dtype`), and the shifted ids are computed in such a type (:func:`shifted`).
The dock's own layer grows wider so (:func:`widen_record`) as later planes add ids to it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ids_dtype", "shifted", "widen_record", "widened"]


def ids_dtype(dtype, top: int) -> np.dtype:
    """The smallest integer type, ``dtype`` or wider, that holds ids from 0 to ``top``."""
    dtype = np.dtype(dtype)
    if dtype.kind in "iu" and int(top) <= np.iinfo(dtype).max:
        return dtype
    return np.promote_types(dtype, np.min_scalar_type(int(top)))


def shifted(values: np.ndarray, top: int) -> np.ndarray:
    """``values`` with every id past ``top`` (0 stays 0), in a type that holds them."""
    dtype = ids_dtype(values.dtype, int(top) + int(np.max(values, initial=0)))
    moved = values.astype(dtype, copy=False) + dtype.type(top)
    return np.where(values > 0, moved, 0).astype(dtype, copy=False)


def widened(data: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``data`` itself when its type holds the ids of ``values``, else a wider copy of it."""
    return data.astype(ids_dtype(data.dtype, int(np.max(values, initial=0))), copy=False)


def widen_record(record: tuple, values: np.ndarray, state) -> tuple:
    """The dock's record of a layer ``(layer, name, wrote, token)``, its type holding ``values``.

    The layer's array and what the dock wrote there are widened together; ``state``
    (:func:`~._predict_place.edit_state`) renews the token of a layer not edited since.
    """
    layer, given, wrote, token = record
    data = widened(layer.data, values)
    if data is layer.data:
        return record
    clean = token is not None and token == state(layer)
    layer.data = data
    return layer, given, widened(wrote, values), state(layer) if clean else None
