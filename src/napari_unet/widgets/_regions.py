"""An annotated-region layer read on the pixel grid of the labels it marks.

A Shapes layer's vertices are in its own data coordinates. napari draws them where its
scale and translate put them, so a rectangle drawn over the left half of labels with a
pixel size of 0.5 um (or a translate) covers other pixels of those labels than its
vertices read as indices: the docks scored, weighted and trained the wrong cells (a Shapes
layer made with napari's button has scale 1 whatever the image's). The vertices are
mapped through the world coordinates into the labels' pixels; a Labels region must share
the labels' grid. Rotated, sheared or affine-transformed layers are accepted only when both
layers are transformed alike.
"""

from __future__ import annotations

import numpy as np

from napari_unet.core.errors import InputError

__all__ = ["check_same_grid", "last_axes", "same_geometry", "shapes_in_pixels"]


def shapes_in_pixels(shapes, like=None, plane=None) -> list[np.ndarray]:
    """The vertices of Shapes layer ``shapes`` in the pixel coordinates of layer ``like``.

    ``like``: the Labels (or Image) layer the region marks; None keeps the vertices as they
    are. The trailing axes the two layers share are mapped (a 2D shape on a stack keeps
    marking every plane). ``plane``: ``(image, index)`` when 2D labels annotate one plane of
    the stack ``image`` (the Live dock): a shape drawn on that plane (its leading
    coordinate, in the image's pixels) keeps its last two axes, a shape of another plane
    gets no vertices (it marks nothing), and a 2D shape stays. Before, napari's *New shapes*
    on a stack (3D vertices) was refused as a region of the 2D labels.

    Otherwise shapes with more axes than ``like`` keep its last axes (:func:`last_axes`):
    napari's *New shapes* over a channel-first (C, Y, X) image gives 3D vertices whose
    leading coordinate is the channel slider's; before, the Train dock refused them as a
    region of the 2D labels. A stack's (Z, Y, X) labels with 3D shapes keep their planes.
    """
    vertices = [np.asarray(v, dtype=float) for v in shapes.data]
    if like is not None and not same_geometry(shapes, like):
        _check_plain(shapes, like)
        out = []
        for v in vertices:
            k = min(v.shape[1], like.ndim)
            world = v[:, -k:] * _axes(shapes.scale, k) + _axes(shapes.translate, k)
            mapped = v.copy()
            mapped[:, -k:] = (world - _axes(like.translate, k)) / _axes(like.scale, k)
            out.append(mapped)
        vertices = out
    if plane is not None:
        vertices = [_on_plane(v, shapes, *plane) for v in vertices]
    return vertices if like is None else [last_axes(v, like.ndim) for v in vertices]


def last_axes(v: np.ndarray, n: int) -> np.ndarray:
    """Vertices ``v`` (N x D) on their last ``n`` axes: those of the layer they mark.

    The leading coordinates dropped place the shape on the viewer's other sliders (a
    channel, or the plane the Live dock has already picked); fewer axes stay as they are.
    """
    return v[:, -n:] if v.ndim == 2 and v.shape[1] > n else v


def _on_plane(v: np.ndarray, shapes, image, index: int | None) -> np.ndarray:
    """A shape's last two axes if it lies on plane ``index`` of ``image``, else none."""
    if index is None or v.ndim != 2 or v.shape[1] <= 2 or image.ndim < 3:
        return v
    world = v[0, -3] * float(shapes.scale[-3]) + float(shapes.translate[-3])
    at = (world - float(image.translate[-3])) / float(image.scale[-3])
    return last_axes(v if int(round(at)) == int(index) else v[:0], 2)


def check_same_grid(region, like, what: str = "the annotated region") -> None:
    """Refuse a Labels ``region`` that does not lie on the pixels of layer ``like``.

    ``what`` names the layer in the message (the Live dock checks its annotations with it).
    """
    if like is None or same_geometry(region, like):
        return
    k = min(region.ndim, like.ndim)
    same = np.allclose(_axes(region.scale, k), _axes(like.scale, k)) and np.allclose(
        _axes(region.translate, k), _axes(like.translate, k)
    )
    if not same or not (_plain(region) and _plain(like)):
        hint = ", or draw it as a Shapes layer" if what == "the annotated region" else ""
        raise InputError(
            f"{what} {region.name!r} does not lie on the pixels of "
            f"{like.name!r} (their scale, translate or rotation differ); give "
            f"{region.name!r} the same scale and translate as {like.name!r}{hint}"
        )


def _axes(values, k: int) -> np.ndarray:
    return np.asarray(values, dtype=float)[-k:]


def same_geometry(a, b) -> bool:
    """Whether two layers of the same dimensions place their pixels alike."""
    if a.ndim != b.ndim:
        return False
    pairs = ((a.scale, b.scale), (a.translate, b.translate), (a.rotate, b.rotate),
             (a.shear, b.shear), (a.affine.affine_matrix, b.affine.affine_matrix))
    return all(np.allclose(x, y) for x, y in pairs)


def _plain(layer) -> bool:
    """No rotation, shear or affine transform: pixels map to the world by scale, translate."""
    n = layer.ndim
    return (
        np.allclose(layer.rotate, np.eye(n))
        and np.allclose(layer.shear, 0)
        and np.allclose(layer.affine.affine_matrix, np.eye(n + 1))
    )


def _check_plain(shapes, like) -> None:
    if not (_plain(shapes) and _plain(like)):
        raise InputError(
            f"the annotated region {shapes.name!r} and {like.name!r} are rotated, sheared "
            "or transformed differently; draw the region on a Shapes layer with the same "
            f"transform as {like.name!r}"
        )
