"""Constant margins: a black (or white) border of padding is no part of the image.

Registration and drift correction, stitching with a missing tile or a canvas enlarged in
Fiji leave whole rows and columns of one value at a plane's edges. Fed to the network as
image, the step at the margin's edge makes false objects (at a real image edge the tiler
mirrors the content instead), the margin drags the 1st percentile of the normalisation to
its value, and ``object_size="auto"`` then mis-estimates: on DSB2018 image 006 a 16 px
black border took AP50 from 0.80 to 0.00.

So prediction of an image in memory treats the inside of such a margin as the image: the
margin is found per plane (:func:`~napari_unet.core.images.contrast.constant_margin`, which
leaves a value common inside too alone: that is background, not padding), the planes are
cut to the inside they share, predicted as an image of their own (normalisation, uneven
light, object size and mirroring at its edges as for any image), and the results pasted
back: labels 0 and the probabilities of background in the margin, at the input's shape.

Left as they were: a margin thinner than :data:`MIN_MARGIN` (a row of equal values can be
genuine background), a lazy (dask) image, a prediction of a region (the current view), and
what one plane of a stack has beyond the margin all its planes share.
"""

from __future__ import annotations

import copy

import numpy as np

from napari_unet.core.images.contrast import constant_margin
from napari_unet.core.images.layout import is_lazy

__all__ = ["MIN_MARGIN", "inside_box", "iter_inside", "iter_probabilities", "plane_margin"]

#: Fewer rows (or columns) of one value than this at an edge are no margin.
MIN_MARGIN = 2


def plane_margin(plane) -> tuple[int, int, int, int] | None:
    """Widths ``(top, bottom, left, right)`` of the constant margin of a ``(C, H, W)`` plane.

    A margin of one value in every channel (on each side the narrowest); sides under
    :data:`MIN_MARGIN` count as none. None when no side has a margin, and when an edge holds
    NaN or infinity: no padding, the plane is refused whole as any non-finite image is
    (before, a band of inf along an edge was cut off as margin and the rest segmented).
    """
    sides = np.array([np.inf] * 4)
    for channel in np.asarray(plane):
        edges = (channel[0], channel[-1], channel[:, 0], channel[:, -1])
        if not all(np.isfinite(edge).all() for edge in edges):
            return None
        found = constant_margin(channel, one_value=True)
        if found is None:
            return None
        sides = np.minimum(sides, found)
    sides = [int(s) if s >= MIN_MARGIN else 0 for s in sides]
    return tuple(sides) if any(sides) else None


def inside_box(predictor, image, region=None):
    """The inside ``((y0, y1), (x0, x1))`` the planes of ``image`` share, or None.

    None when there is no constant margin common to every plane, for a lazy image and when
    a ``region`` is asked (see the module).
    """
    if region is not None or is_lazy(image):
        return None
    planes = predictor.layout(image).planes
    _, _, h, w = (int(s) for s in planes.shape)
    common = None
    for plane in planes:
        found = plane_margin(plane)
        if found is None:
            return None
        common = found if common is None else tuple(map(min, common, found))
        if not any(common):
            return None
    top, bottom, left, right = common
    return (top, h - bottom), (left, w - right)


def _inner(predictor, image, box):
    """``(layout, predictor of the cut planes, the cut (P, C, h, w) planes)``."""
    lay = predictor.layout(image)
    (y0, y1), (x0, x1) = box
    inner = copy.copy(predictor)  # the same plan, reading the (P, C, h, w) planes as they are
    inner.channel_axis, inner.channel = 1, None
    return lay, inner, lay.planes[:, :, y0:y1, x0:x1]


def _pasted(predictor, lay, box, probs) -> np.ndarray:
    """``(K, *stack, H, W)`` probabilities: ``probs`` of the inside, background around it."""
    n, _, h, w = (int(s) for s in lay.planes.shape)
    (y0, y1), (x0, x1) = box
    k = int(probs.shape[0])
    out = np.zeros((k, n, h, w), np.float32)
    if k > 1 and predictor.foreground_class != 0:  # class 0 is the background
        out[0] = 1.0
    out[:, :, y0:y1, x0:x1] = np.reshape(probs, (k, n, y1 - y0, x1 - x0))
    return out.reshape((k, *lay.stack_shape, h, w))


def iter_inside(run, predictor, post, image, box, **kwargs):
    """``run(predictor, post, planes, None, **kwargs)`` on the inside; results pasted back.

    ``run`` returns ``(labels, foreground, probabilities)`` as
    :func:`~napari_unet.core.inference.segment.iter_labels` does; so does this, at the
    shape of ``image``, with labels 0 and background in the margin.
    """
    lay, inner, planes = _inner(predictor, image, box)
    labels, _, probs = yield from run(inner, post, planes, None, **kwargs)
    n, _, h, w = (int(s) for s in lay.planes.shape)
    (y0, y1), (x0, x1) = box
    full = np.zeros((n, h, w), np.asarray(labels).dtype)
    full[:, y0:y1, x0:x1] = np.reshape(labels, (n, y1 - y0, x1 - x0))
    probs = _pasted(predictor, lay, box, np.asarray(probs))
    return full.reshape((*lay.stack_shape, h, w)), predictor.foreground(probs), probs


def iter_probabilities(predictor, image, region=None):
    """:meth:`Predictor.iter_probabilities`, the inside of a constant margin as the image."""
    box = inside_box(predictor, image, region)
    if box is None:
        return (yield from predictor.iter_probabilities(image, region))
    lay, inner, planes = _inner(predictor, image, box)
    probs = yield from inner.iter_probabilities(planes)
    return _pasted(predictor, lay, box, probs)
