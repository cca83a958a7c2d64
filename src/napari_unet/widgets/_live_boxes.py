"""Boxes of the Live dock: what a napari paint event changed, grown boxes, box sizes."""

from __future__ import annotations

import numpy as np

__all__ = ["box_size", "changed_box", "grown"]


def changed_box(atoms, shape: tuple[int, int]):
    """The ``(y0, y1, x0, x1)`` box of a napari paint event's history atoms (or None)."""
    boxes = []
    for atom in atoms:
        key = getattr(atom, "slice_key", None)
        if key is not None:
            ys, xs = key[-2], key[-1]
            boxes.append((ys.start or 0, ys.stop or shape[0], xs.start or 0, xs.stop or shape[1]))
            continue
        index = atom[0]
        ys, xs = np.asarray(index[-2]), np.asarray(index[-1])
        if ys.size:
            boxes.append((int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1))
    if not boxes:
        return None
    b = np.array(boxes)
    return int(b[:, 0].min()), int(b[:, 1].max()), int(b[:, 2].min()), int(b[:, 3].max())


def grown(box, by: int, shape) -> tuple[int, int, int, int]:
    """``box`` grown by ``by`` pixels on each side, clipped to ``shape``."""
    y0, y1, x0, x1 = box
    return max(0, y0 - by), min(shape[0], y1 + by), max(0, x0 - by), min(shape[1], x1 + by)


def box_size(box) -> tuple[int, int]:
    """The ``(height, width)`` of a ``(y0, y1, x0, x1)`` box."""
    return box[1] - box[0], box[3] - box[2]
