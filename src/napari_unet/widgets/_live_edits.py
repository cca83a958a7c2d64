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

napari puts new, empty deques on a layer made read-only (Evaluate copying it, the Annotate
dock accepting into it or leaving it), and those docks put the items back after. Items gone
with replaced deques were dropped, not undone (:meth:`EditWatch._moved`): their boxes are
compared as strokes, and they are not new when they come back. Before, every item seen
was taken back as an undo, and what the user had erased was no longer annotated background.
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
        self._deques: tuple | None = None  # napari's (undo, redo) deques seen
        self._dropped: list = []  # items napari dropped with its deques (they may come back)
        #: Pixels compared so far (work done, for tests).
        self.compared = 0

    def _moved(self, full: bool) -> tuple[list, list] | None:
        """``(undos, dropped)`` since the last look; None: not known (the whole plane).

        ``undos``: the history items undone or redone. ``dropped``: items gone with deques
        napari replaced (below), whose boxes are compared as strokes. Not known if ``full``,
        the first time, after the data was replaced, or without napari's history.
        """
        from napari_unet.widgets._history import history_deques

        deques, seen, was = history_deques(self.layer), self._items, self._deques
        replaced = self.layer.data is not self._data
        self._data, self._deques = self.layer.data, deques
        history = None if deques is None else (list(deques[0]), list(deques[1]))
        self._items = history
        if full or replaced or history is None or seen is None:
            self._dropped = []
            return None
        # A new item of the undo history is a stroke, sent by its paint event; an undo or a
        # redo moves an item from one history to the other (napari copies it). An item
        # that fell off the old end of a full history (napari keeps 100) is neither.
        limit = int(getattr(self.layer, "_history_limit", 100) or 100)
        old = {id(i) for i in [*self._dropped, *seen[0], *seen[1]]}
        moved, dropped, same = [], [], _same(was, deques)
        for was_items, now_items, kept in zip(seen, history, same, strict=True):
            if kept:
                moved += _taken_off(was_items, now_items, limit)
            else:  # new deques: their items gone were dropped by napari, not undone
                now = {id(i) for i in now_items}
                dropped += [i for i in was_items if id(i) not in now]
        if not all(same):  # kept until napari's deques change again: a dock gives them back
            self._dropped = dropped
        return moved + [i for i in history[1] if id(i) not in old], dropped

    def boxes(self, shape: tuple[int, int], full: bool = False) -> list[tuple[int, int, int, int]]:
        """The ``(y0, y1, x0, x1)`` boxes to compare with the copy sent (none: no change).

        The box of each history item that went, or came into the redo history (an undo);
        the whole plane if ``full``, the first time, after the data was replaced, or
        without napari's history.
        """
        items = self._moved(full)
        if items is None:
            return [(0, shape[0], 0, shape[1])]
        boxes = (changed_box(item, shape) for item in items[0] + items[1])
        return [b for b in boxes if b is not None]

    def look(self, shape: tuple[int, int], full: bool = False) -> tuple[list, list]:
        """``(undos, strokes)``: what changed since the last look, for the Live dock to send.

        ``undos``: a ``(box, touched)`` pair per undo or redo (``touched``: the pixels it
        wrote, within ``box``), sent as taken back. ``strokes``: boxes to compare, their
        changes sent as strokes: the whole plane with ``full`` or where what changed is not
        known to be an undo (the data replaced, no napari history, the first look); the
        boxes of the items napari dropped with its history (a layer made read-only).
        """
        whole = [(0, shape[0], 0, shape[1])]
        items = self._moved(False)  # None: not known to be undos (the whole plane)
        if items is None:
            return [], whole
        undos = ((changed_box(item, shape), item) for item in items[0])
        dropped = (changed_box(item, shape) for item in items[1])
        strokes = whole if full else [b for b in dropped if b is not None]
        return [(b, touched(item, b)) for b, item in undos if b is not None], strokes

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


def _same(was: tuple | None, now: tuple | None) -> tuple[bool, bool]:
    """Whether napari's undo and redo deques are still those seen (not replaced)."""
    if was is None or now is None:
        return False, False
    return was[0] is now[0], was[1] is now[1]


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
