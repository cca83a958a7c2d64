"""Undo and redo of napari Labels layers, read from napari's private history deques."""

from __future__ import annotations

import weakref

_NO_HISTORY: list[str] = []  # said once: napari's Labels keep no undo history we can read


def undo_history(layer) -> tuple[list, list] | None:
    """A Labels layer's undo and redo items, oldest first (napari's private deques).

    napari sends no event for undo and redo; the docks find them by these items changing.
    None (said once in a warning) where napari keeps them otherwise: the docks then compare
    the whole layer each time, which is slow on large images.
    """
    deques = history_deques(layer)
    return None if deques is None else (list(deques[0]), list(deques[1]))


def history_deques(layer) -> tuple | None:
    """The undo and redo deques napari keeps in a Labels layer (not copies), or None.

    None is said once in a warning (:func:`undo_history`).
    """
    from napari_unet.widgets._private import private

    if layer is None:  # no layer: nothing to say about napari's history
        return None
    undo, redo = private(layer, "_undo_history"), private(layer, "_redo_history")
    if undo is not None and redo is not None:
        return undo, redo
    if not _NO_HISTORY:
        import warnings

        _NO_HISTORY.append(type(layer).__name__)
        warnings.warn(
            "this napari keeps no readable undo history in Labels layers: undo and redo are "
            "found by comparing whole layers (slow on large images), and a layer made read-only "
            "while Evaluate copies it loses its undo history; napari-unet is tested with "
            "napari 0.9",
            RuntimeWarning,
            stacklevel=2,
        )
    return None


def atom_values(atom, undoing: bool = False):
    """The ids a history atom writes: redone (or painted), or, ``undoing``, taken back.

    napari's masked atom (brush, fill, polygon: one value, the old ones kept) or
    ``data_setitem``'s ``(indices, before, after)``; None for an atom of another form.
    """
    if hasattr(atom, "new_value"):
        return atom.old_values if undoing else atom.new_value
    if isinstance(atom, tuple) and len(atom) == 3:
        return atom[1] if undoing else atom[2]
    return None


#: How many times each layer's history was started afresh (read by the read-only locks).
_CLEARED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def times_cleared(layer) -> int:
    """How many times :func:`clear_history` started ``layer``'s history afresh."""
    return _CLEARED.get(layer, 0)


def clear_history(layer) -> None:
    """Start ``layer``'s undo and redo history afresh: its data was replaced.

    napari keeps the history across new data (``layer.data = ...``) and clears it only
    when the layer is made read-only, which does nothing on a layer read-only already
    (Evaluate copying it): Ctrl+Z then pasted the old data's pixels into the new. New
    deques are set, so a history kept elsewhere (a read-only lock's) is not emptied with it.
    """
    from collections import deque

    from napari_unet.widgets._private import set_private

    deques = history_deques(layer)
    if deques is not None:
        set_private(layer, "_undo_history", deque(maxlen=deques[0].maxlen))
        set_private(layer, "_redo_history", deque(maxlen=deques[1].maxlen))
    _CLEARED[layer] = times_cleared(layer) + 1  # a lock's kept history: not given back
