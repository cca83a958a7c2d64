"""Edits of the annotations that came without a paint event: napari's undo and redo.

Strokes, erases and fills are sent by their paint event. Undo and redo emit none; they are
found by comparing the annotations with the copy last sent (the dock's mirror), once a
second. On an 8192 x 8192 plane that comparison took 0.15-0.9 s of the GUI thread every
second. :class:`EditWatch` says where to compare: nowhere while napari's undo and redo
history (its private ``_undo_history`` and ``_redo_history``) is as last seen, else the box
of each history item that came or went since; the whole plane the first time, when the
layer's data was replaced, or where napari keeps no such history.

An item leaves the undo history when undone (a copy of it goes to the redo history), or
when it is the oldest of a full history (napari keeps 100 items) and a new one comes: that
one is no undo (:func:`_taken_off`). A new stroke clears the redo history: an undo followed
by a stroke within one second still shows as the undone item gone, so its box is compared.
A script that writes into the data without napari's history is seen at Stop (or when the
data is replaced).
"""

from __future__ import annotations

import numpy as np

from napari_unet.widgets._live_boxes import changed_box

__all__ = ["EditWatch", "differing_box", "touched"]


class EditWatch:
    """Which part of a Labels layer may differ from what was sent, since the last look."""

    def __init__(self, layer) -> None:
        self.layer = layer
        self._data = None  # the data object seen: another one means a replaced plane
        self._items: list | None = None  # the history items seen (kept, so ids stay theirs)
        #: Pixels compared so far (work done, for tests).
        self.compared = 0

    def _history(self) -> tuple[list, list] | None:
        from napari_unet.widgets._history import undo_history

        return undo_history(self.layer)

    def _moved(self, full: bool) -> list | None:
        """The history items undone or redone since the last look; None: not known.

        Not known (the whole plane may differ) if ``full``, the first time, after the data
        was replaced, or without napari's history.
        """
        history, seen = self._history(), self._items
        replaced = self.layer.data is not self._data
        self._data = self.layer.data
        self._items = None if history is None else (list(history[0]), list(history[1]))
        if full or replaced or history is None or seen is None:
            return None
        # A new item of the undo history is a stroke, sent by its paint event; an undo or a
        # redo moves an item from one history to the other (napari copies it). An item
        # that fell off the old end of a full history (napari keeps 100) is neither.
        limit = int(getattr(self.layer, "_history_limit", 100) or 100)
        moved = []
        for was, now in zip(seen, self._items, strict=True):
            moved += _taken_off(was, now, limit)
        old = {id(i) for part in seen for i in part}
        return moved + [i for i in history[1] if id(i) not in old]

    def boxes(self, shape: tuple[int, int], full: bool = False) -> list[tuple[int, int, int, int]]:
        """The ``(y0, y1, x0, x1)`` boxes to compare with the copy sent (none: no change).

        The box of each history item that went, or came into the redo history (an undo);
        the whole plane if ``full``, the first time, after the data was replaced, or
        without napari's history.
        """
        items = self._moved(full)
        if items is None:
            return [(0, shape[0], 0, shape[1])]
        boxes = (changed_box(item, shape) for item in items)
        return [b for b in boxes if b is not None]

    def look(self, shape: tuple[int, int], full: bool = False) -> tuple[list, bool]:
        """``(undos, whole)``: what changed since the last look, for the Live dock to send.

        ``undos``: a ``(box, touched)`` pair per undo or redo (``touched``: the pixels it
        wrote, within ``box``), sent as taken back. ``whole``: compare the whole plane too,
        its changes sent as strokes: with ``full``, or where what changed is not known to be
        an undo (the data replaced, no napari history, the first look).
        """
        items = self._moved(False)  # None: not known to be undos (the whole plane)
        if items is None:
            return [], True
        undos = ((changed_box(item, shape), item) for item in items)
        return [(b, touched(item, b)) for b, item in undos if b is not None], full

    def differing_box(self, data, mirror: np.ndarray, box):
        """The box of the pixels of ``data`` that differ from ``mirror`` within ``box``."""
        self.compared += (box[1] - box[0]) * (box[3] - box[2])
        return differing_box(data, mirror, box)


def _taken_off(was: list, now: list, limit: int) -> list:
    """The items of history ``was`` gone from ``now`` by an undo or a redo (from its new end).

    napari's history is a deque of ``limit`` items: a new item pushes the oldest out of
    its old end. Before, each item pushed out was taken for an undo: past 100 strokes,
    every stroke sent the oldest one's pixels as taken back, and a cell erased early in a
    session was no longer annotated background. Items gone before the oldest one kept
    fell off; with none kept, all of them did if new ones filled the history.
    """
    ids = {id(i) for i in now}
    kept = [k for k, item in enumerate(was) if id(item) in ids]
    came = len(now) - len(kept)  # new items pushed at the new end
    if kept:
        first = kept[0]
    else:
        first = len(was) if came and len(now) >= limit else 0
    return [item for item in was[first:] if id(item) not in ids]


def differing_box(data, mirror: np.ndarray, box):
    """``(y0, y1, x0, x1)`` of the pixels of ``data`` unlike ``mirror`` in ``box``, or None."""
    y0, y1, x0, x1 = box
    diff = np.asarray(data[y0:y1, x0:x1]) != mirror[y0:y1, x0:x1]
    rows, cols = np.flatnonzero(diff.any(1)), np.flatnonzero(diff.any(0))
    if not rows.size:
        return None
    return y0 + int(rows[0]), y0 + int(rows[-1]) + 1, x0 + int(cols[0]), x0 + int(cols[-1]) + 1


def touched(item, box) -> np.ndarray:
    """The pixels of ``box`` that napari's history ``item`` writes (its atoms), as a mask."""
    y0, y1, x0, x1 = box
    mask = np.zeros((y1 - y0, x1 - x0), bool)
    for atom in item:
        key = getattr(atom, "slice_key", None)
        if key is None:  # data_setitem's (indices, old values, new values)
            mask[np.asarray(atom[0][-2]) - y0, np.asarray(atom[0][-1]) - x0] = True
            continue
        ys, xs = key[-2], key[-1]
        part = mask[(ys.start or 0) - y0 : (ys.stop or y1) - y0,
                    (xs.start or 0) - x0 : (xs.stop or x1) - x0]  # fmt: skip
        if atom.mask is None:  # every pixel of its box
            part[...] = True
        else:
            part |= np.asarray(atom.mask, bool).reshape(-1, *part.shape).any(0)
    return mask
