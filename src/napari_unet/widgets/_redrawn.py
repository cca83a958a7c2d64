"""Telling an undo or redo of a Labels layer from a mere redraw (napari's ``set_data``).

napari's undo and redo of a Labels layer send no ``data`` or ``paint`` event, only
``set_data``, which a new slice of a stack sends too. A dock compares the layers'
:func:`~napari_unet.widgets._predict_place.fingerprint` (napari's edit history, else a
checksum) then with the one it took when it last used them: the Weight map dock before
computing again, the Evaluate dock to grey tables an undo put out of date.
"""

from __future__ import annotations

from napari_unet.widgets._predict_place import fingerprint

#: The event napari sends when a layer is redrawn: an undo, a redo, or a new slice.
REDRAW = "set_data"


def labels_fingerprint(layers) -> tuple | None:
    """:func:`fingerprint` of each Labels layer of ``layers``; None where one cannot tell.

    Anything else in ``layers`` (None, a Shapes layer: no undo of its own) counts as None.
    """
    parts = []
    for layer in layers:
        if layer is None or not hasattr(layer.events, "paint"):  # none, or not Labels
            parts.append(None)
            continue
        part = fingerprint(layer)
        if part is None:  # not in memory, or too large to checksum without history
            return None
        parts.append(part)
    return tuple(parts)


def edited_since(before: tuple | None, layers) -> bool:
    """Whether ``layers`` changed since their :func:`labels_fingerprint` was ``before``.

    False where it cannot be told now (a dask or zarr layer): a redraw is then no edit.
    """
    now = labels_fingerprint(layers)
    return now is not None and now != before
