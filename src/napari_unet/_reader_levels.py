"""Lazy overview levels for the reader: a big image stored without a pyramid.

napari reads only the chunks in view of a multiscale layer's level on screen, but a plain
(not multiscale) layer it reads whole, and its contrast limits are computed over all of it:
a single-level 60000 x 60000 OME-Zarr took 103 s and 21 GB to open. A level whose plane
is over :data:`BIG_SIDE` pixels a side, as the smallest level of a store, is given lazy
overview levels below it, each taking every ``2**k``-th pixel of y and x (as
:mod:`~napari_unet.core.images.omezarr` makes label pyramids; nothing is computed when
opening), down to at most :data:`TOP_SIDE` pixels a side. Each chunk's read keeps the
strided pixels alone (not the stored chunk, which napari's dask cache would keep). Level
0 is the store's own, at full resolution: the docks read it (``layer.data[0]``), and the
layer keeps its scale. Showing the top level still decodes each stored chunk once (it
takes pixels from all of them); a store with a pyramid of its own is spared that.
"""

from __future__ import annotations

import math

__all__ = ["BIG_SIDE", "TOP_SIDE", "plane_axes", "with_overviews"]

#: A smallest level with a plane over this many pixels a side gets overview levels.
BIG_SIDE = 4096

#: The overview levels go down until the smallest is at most this many pixels a side.
TOP_SIDE = 1024


def plane_axes(letters: str, shape: tuple[int, ...]) -> list[int]:
    """The positions of the y and x axes: named by the metadata, else the last two.

    Without axis names, a last axis of 4 or fewer (colour, as napari guesses it) is
    passed over.
    """
    ndim = len(shape)
    if len(letters) == ndim and "Y" in letters and "X" in letters:
        return [letters.index("Y"), letters.index("X")]
    last = ndim - 1 if ndim < 3 or shape[-1] > 4 else ndim - 2
    return [last - 1, last]


def with_overviews(levels: list, plane: list[int]) -> list:
    """``levels`` with lazy overview levels added below the smallest when it is big.

    Each added level is a strided view of the smallest stored level (every 2nd, 4th, ...
    pixel along the ``plane`` axes, the others whole), halving the plane's sides down to
    at most :data:`TOP_SIDE`; ``levels`` are returned as they are when the smallest's
    plane is at most :data:`BIG_SIDE` a side.
    """
    smallest = levels[-1]
    sides = [int(smallest.shape[k]) for k in plane]
    if max(sides) <= BIG_SIDE:
        return levels
    added, step = [], 2
    while not added or max(math.ceil(s / (step // 2)) for s in sides) > TOP_SIDE:
        cut = tuple(
            slice(None, None, step) if k in plane else slice(None) for k in range(smallest.ndim)
        )
        added.append(smallest[cut])
        step *= 2
    return list(levels) + _strided_reads(added)


def _strided_reads(levels: list) -> list:
    """Dask ``levels`` whose chunk reads take the strided pixels alone.

    The stride is folded into each chunk's read (dask's slice fusion, done here: napari
    turns fusion off). Before, each read returned the stored chunk whole, and napari's
    dask cache kept them: an overview of a 20000 x 20000 image held 800 MB.
    """
    import dask

    if not all(hasattr(level, "__dask_graph__") for level in levels):
        return levels
    return list(dask.optimize(*levels))
