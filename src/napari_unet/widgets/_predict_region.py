"""Which image a Predict result layer was made for, and the part of that image it covers.

Each result layer the Predict dock makes is marked (its metadata's :data:`KEY`) with the
image layer it was made for (weakly, by object) and its **box**: None for a layer of the
image's whole plane, else ``(y0, y1, x0, x1)``, the part of the image's last two axes it
holds. A later run of another image of the same name (``day2/cells.tif`` after
``day1/cells.tif``, both layers ``"cells"``) never writes into, nor removes, the first
image's layer (:func:`made_for`): before, it wrote over the first image's unsaved
segmentation, or removed it when the images' shapes differed.

A result of the current view of an image of more than :data:`FULL_PIXELS` a plane (a slide
opened lazily) goes into a layer of the view's box, placed on the image by its translate
(:func:`at_box`), not into a layer of the whole slide: before, a 32768 x 32768 slide's view
made a 4 GiB layer and held the window 17 s. A later view predicted into it grows the layer
to the box holding both, while that stays within :data:`FULL_PIXELS`; else the new view gets
a layer of its own (:func:`frame`); a later view goes to whichever of these layers holds it
or can grow to (:func:`pick`): before, the far view's layer took the first's place in the
dock's records, and each return to the first view added another copy of its layer.
"""

from __future__ import annotations

import weakref

import numpy as np

from napari_unet.widgets._made_layers import shear_matrix, units_of

__all__ = [
    "FULL_PIXELS", "KEY", "at_box", "box_of", "frame", "grown", "made_for", "mark", "pick",
    "placement", "top_outside",
]  # fmt: skip

#: Most pixels a plane of a result layer holds for a view's result: over this (the size
#: over which the reader opens a plane lazily, 4096 x 4096), a view's result layer covers
#: the view only. 64 MiB of 32-bit labels.
FULL_PIXELS = 4096 * 4096
#: The result layer's metadata key: ``{"image": weakref.ref(layer), "name", "box"}``.
KEY = "napari_unet_result_of"


def placement(layer, k: int) -> dict:
    """The geometry of the last ``k`` axes of ``layer``, as napari's layer arguments.

    Scale and translate, and the rotation, shear and affine matrices restricted to those
    axes: a result of a channels-first image (the channels left out) lies on its pixels.
    """
    n = layer.ndim
    if k > n:  # more axes than the image (a package's probability channels first)
        return _leading(placement(layer, n), k - n)
    last = list(range(n - k, n))
    return {
        "scale": np.asarray(layer.scale, dtype=float)[-k:],
        "translate": np.asarray(layer.translate, dtype=float)[-k:],
        "rotate": np.asarray(layer.rotate, dtype=float)[np.ix_(last, last)],
        "shear": shear_matrix(layer.shear, n)[np.ix_(last, last)],
        "affine": np.asarray(layer.affine.set_slice(last).affine_matrix, dtype=float),
        "units": units_of(layer, k),
    }


def _leading(where: dict, extra: int) -> dict:
    """``where`` with ``extra`` leading axes left as they are (scale 1, no move)."""

    def grown(matrix: np.ndarray) -> np.ndarray:
        out = np.eye(len(matrix) + extra)
        out[extra:, extra:] = matrix
        return out

    return {
        "scale": np.r_[np.ones(extra), where["scale"]],
        "translate": np.r_[np.zeros(extra), where["translate"]],
        **{key: grown(where[key]) for key in ("rotate", "shear", "affine")},
        "units": ("pixel",) * extra + tuple(where["units"]),
    }


def mark(layer, image, box: tuple | None) -> None:
    """Note in ``layer`` that it holds a result of ``image`` (in ``box``, None: whole)."""
    layer.metadata[KEY] = {"image": weakref.ref(image), "name": image.name, "box": box}


def _mark(layer) -> dict:
    mark_ = getattr(layer, "metadata", {}).get(KEY)
    return mark_ if isinstance(mark_, dict) else {}


def made_for(layer, image) -> bool:
    """Whether ``layer`` is a result the dock made for the image layer ``image`` itself."""
    ref = _mark(layer).get("image")
    return callable(ref) and ref() is image


def box_of(layer) -> tuple | None:
    """The part ``(y0, y1, x0, x1)`` of its image that result ``layer`` covers; None: all."""
    box = _mark(layer).get("box")
    return tuple(int(v) for v in box) if box is not None else None


def _region(index: list, full: tuple) -> tuple | None:
    """The view's box of a result written at ``index``, where it gets a layer of its own."""
    parts = list(index[-2:])
    if len(parts) < 2 or not all(isinstance(p, slice) for p in parts):
        return None
    if full[-2] * full[-1] <= FULL_PIXELS:  # a small image: a layer of its whole plane
        return None
    (ys, xs) = parts
    return (ys.start, ys.stop, xs.start, xs.stop)


def _union(a: tuple, b: tuple) -> tuple:
    return (min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3]))


def _shape(full: tuple, box: tuple) -> tuple:
    return (*full[:-2], box[1] - box[0], box[3] - box[2])


def frame(own, full: tuple, index: list) -> tuple:
    """``(shape, index, box, fresh)``: the result layer's shape, where the result goes in it.

    ``own``: the dock's layer for this result now (or None); ``full``: the image's result
    shape. A view of a big image: a layer of its box, or of the box holding it and ``own``'s
    (grown, :func:`grown`) while that holds at most :data:`FULL_PIXELS`; ``fresh``: too far
    from ``own``'s box, a new layer. Else the whole image's layer (``box`` None), as before.
    """
    region = _region(index, full)
    if region is None or (own is not None and box_of(own) is None and own.data.shape == full):
        return full, index, None, False
    old = box_of(own) if own is not None else None
    box, fresh = region, False
    if old is not None and own.data.shape == _shape(full, old):
        both = _union(old, region)
        box, fresh = (both, False) if _area(both) <= FULL_PIXELS else (region, True)
    ys, xs = index[-2:]
    y0, x0 = box[0], box[2]
    inside = [slice(ys.start - y0, ys.stop - y0), slice(xs.start - x0, xs.stop - x0)]
    return _shape(full, box), [*index[:-2], *inside], box, fresh


def pick(owns: list, full: tuple, index: list) -> tuple:
    """``(i, frame)``: the first of the dock's layers ``owns`` the view goes into.

    ``owns``: the dock's layers of this result (None: none yet), its own name's first. The
    first that holds the view or can grow to (:func:`frame`, not fresh); else the first's
    frame (fresh: a new layer).
    """
    for i, own in enumerate(owns):
        framed = frame(own, full, index)
        if not framed[3]:
            return i, framed
    return 0, frame(owns[0], full, index)


def _area(box: tuple) -> int:
    return (box[1] - box[0]) * (box[3] - box[2])


def grown(data, old: tuple, box: tuple) -> np.ndarray:
    """``data`` (covering ``old``) in a new array covering ``box``, zeros around it."""
    data = np.asarray(data)
    out = np.zeros(_shape(data.shape, box), data.dtype)
    y, x = old[0] - box[0], old[2] - box[2]
    out[..., y : y + data.shape[-2], x : x + data.shape[-1]] = data
    return out


def at_box(where: dict, box: tuple | None) -> dict:
    """The image's geometry (:func:`placement`) moved to ``box``'s corner.

    Its pixel ``(y0, x0)`` moved through the image's scale, shear and rotation (napari's
    ``rotate @ shear @ scale``), so the layer lies on those pixels of the image.
    """
    if box is None:
        return where
    k = len(where["scale"])
    linear = where["rotate"] @ where["shear"] @ np.diag(where["scale"])
    corner = np.zeros(k)
    corner[-2:] = box[0], box[2]
    return {**where, "translate": where["translate"] + linear @ corner}


def top_outside(data, index: list) -> int:
    """The highest id of ``data`` outside the part ``index`` (a plane's int, slices); 0: none.

    That part is about to be replaced, so its own ids do not count: a plane or view predicted
    again gets the ids it had, and an identical result changes no pixel (no undo step).
    Before, the new ids went past the old result's each time (6, 12, 18... for the same six
    cells), every pixel of it changed, and each run added a step of napari's undo (30 MB for
    a 1000 x 1000 plane). Only the pixels outside the part are read, in views of ``data``.
    """
    top, inside = 0, []
    for axis, part in enumerate(index):
        n = data.shape[axis]
        if isinstance(part, slice):
            start, stop, step = part.indices(n)
            if step != 1:  # not a box: every id counts (not made by the dock)
                return int(np.max(data, initial=0))
        else:  # a plane
            start = int(part) % n
            stop = start + 1
        for side in (slice(0, start), slice(max(stop, start), n)):
            top = max(top, int(np.max(data[(*inside, side)], initial=0)))
        inside.append(slice(start, stop))
    return top
