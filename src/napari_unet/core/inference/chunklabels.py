"""Instance labels of an image bigger than memory, chunk by chunk, ids consistent across chunks.

The paper head's post-processing (``postprocess.probabilities_to_labels``: foreground
components, small ones removed, optional split of joined cells, growth over the
separation gaps) is done in three block-wise steps whose result equals the whole-image one:

1. :func:`label_block`: each block's foreground components (4-connected, the block alone),
   their pixel counts, boxes and the ids on the block's four edges.
2. :func:`merge_blocks`: the components that touch across a block face are joined (a
   union-find over the face pairs, as a sparse graph's connected components), sizes and
   boxes summed over the joined pieces, components under ``min_size`` dropped, and one
   lookup table maps every block's local ids to global ids 1..N.
3. :func:`finish_block`: each block with a ``margin`` around it, its ids looked up, is split
   (:func:`~napari_unet.core.inference.postprocess.split_joined`, only objects whose box fits
   the margin, so every block sees them whole and splits them alike) and grown over the gaps
   (:func:`~napari_unet.core.inference.postprocess.close_gaps`); the block's own pixels are
   kept. Piece ``k`` of object ``g`` is id ``g + k * N``, the same in every block.

dask-image's ``ndmeasure.label`` does step 1-2 for connected components, but not the size
filter, the split or the gap growth, and it is not a dependency: the merge is written here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from napari_unet.core.errors import InputError
from napari_unet.core.inference.postprocess import close_gaps, split_joined

__all__ = ["BlockLabels", "Merge", "finish_block", "label_block", "merge_blocks", "split_slack"]

#: Pixels between a split object's box and the window edge: the split reads the distance
#: map smoothed with sigma 1 (4 px) of pixels up to a few px outside the object.
SPLIT_SLACK = 16


def split_slack() -> int:
    """The pixels a split object needs around its box (see :data:`SPLIT_SLACK`)."""
    return SPLIT_SLACK


@dataclass(frozen=True)
class BlockLabels:
    """What the merge needs of one block's local labels (ids 1..n)."""

    n: int
    sizes: np.ndarray  # (n,) pixel counts of ids 1..n
    boxes: np.ndarray  # (n, 4) y0, x0, y1, x1 in image pixels
    top: np.ndarray
    bottom: np.ndarray
    left: np.ndarray
    right: np.ndarray


def label_block(foreground: np.ndarray, threshold: float, origin=(0, 0)):
    """``(local labels, BlockLabels)`` of one block's foreground probabilities."""
    from scipy import ndimage
    from skimage.measure import label

    labels = label(np.asarray(foreground) > threshold, connectivity=1).astype(np.int32)
    n = int(labels.max())
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:].astype(np.int64)
    boxes = np.zeros((n, 4), np.int64)
    for k, box in enumerate(ndimage.find_objects(labels)):
        boxes[k] = (box[0].start, box[1].start, box[0].stop, box[1].stop)
    boxes += np.array([origin[0], origin[1], origin[0], origin[1]], np.int64)
    edges = (labels[0].copy(), labels[-1].copy(), labels[:, 0].copy(), labels[:, -1].copy())
    return labels, BlockLabels(n, sizes, boxes, *edges)


@dataclass(frozen=True)
class Merge:
    """The global ids of every block's local ids."""

    offsets: np.ndarray  # (rows, cols) first provisional id - 1 of each block
    lut: np.ndarray  # provisional id -> global id (0: background or dropped)
    boxes: np.ndarray  # (N + 1, 4) box of each global id (row 0 unused)
    n: int  # global ids 1..N
    n_dropped: int  # components under min_size

    def lookup(self, local: np.ndarray, block: tuple[int, int]) -> np.ndarray:
        """Global ids of ``block``'s local labels."""
        offset = int(self.offsets[block])
        return self.lut[np.where(local > 0, local.astype(np.int64) + offset, 0)]


def merge_blocks(blocks: dict, grid: tuple[int, int], min_size: int) -> Merge:
    """Join the components that touch across block faces; drop those under ``min_size``.

    ``blocks`` maps each ``(row, col)`` of the ``grid`` to its :class:`BlockLabels`.
    """
    from scipy import sparse
    from scipy.sparse.csgraph import connected_components

    rows, cols = grid
    counts = np.array([[blocks[r, c].n for c in range(cols)] for r in range(rows)], np.int64)
    offsets = (np.cumsum(counts.ravel()) - counts.ravel()).reshape(rows, cols)
    total = int(counts.sum())
    pairs = []
    for r in range(rows):
        for c in range(cols):
            here = blocks[r, c]
            for other, a, b in (
                ((r, c + 1), here.right, "left"),
                ((r + 1, c), here.bottom, "top"),
            ):
                if other[0] >= rows or other[1] >= cols:
                    continue
                b_ids = getattr(blocks[other], b)
                touch = (a > 0) & (b_ids > 0)
                if touch.any():
                    pairs.append(
                        np.stack([a[touch] + offsets[r, c], b_ids[touch] + offsets[other]])
                    )
    edges = np.concatenate(pairs, axis=1) if pairs else np.zeros((2, 0), np.int64)
    graph = sparse.coo_matrix(
        (np.ones(edges.shape[1], np.int8), (edges[0], edges[1])), shape=(total + 1,) * 2
    )
    _, comp = connected_components(graph, directed=False)  # node 0 (background): comp 0
    sizes = np.concatenate([[0]] + [blocks[k].sizes for k in _order(grid)])
    boxes = np.concatenate([np.zeros((1, 4), np.int64)] + [blocks[k].boxes for k in _order(grid)])
    n_comp = int(comp.max()) + 1
    comp_size = np.bincount(comp, weights=sizes, minlength=n_comp)
    keep = comp_size >= min_size if min_size > 1 else comp_size > 0
    keep[0] = False
    final = np.cumsum(keep) * keep
    n = int(final.max(initial=0))
    out_boxes = np.zeros((n + 1, 4), np.int64)
    out_boxes[:, :2] = np.iinfo(np.int64).max
    ids = final[comp][1:]
    kept = ids > 0
    np.minimum.at(out_boxes[:, 0], ids[kept], boxes[1:][kept, 0])
    np.minimum.at(out_boxes[:, 1], ids[kept], boxes[1:][kept, 1])
    np.maximum.at(out_boxes[:, 2], ids[kept], boxes[1:][kept, 2])
    np.maximum.at(out_boxes[:, 3], ids[kept], boxes[1:][kept, 3])
    out_boxes[0] = 0
    dropped = int(((comp_size > 0) & ~keep).sum())
    return Merge(offsets, final[comp].astype(np.int64), out_boxes, n, dropped)


def _order(grid):
    return [(r, c) for r in range(grid[0]) for c in range(grid[1])]


def splittable(merge: Merge, margin: int, gap: int) -> np.ndarray:
    """Which global ids a block with ``margin`` sees whole, with room to split them alike."""
    sides = np.maximum(merge.boxes[:, 2] - merge.boxes[:, 0], merge.boxes[:, 3] - merge.boxes[:, 1])
    ok = sides <= margin - gap - SPLIT_SLACK
    ok[0] = False
    return ok


def finish_block(
    labels: np.ndarray, core: tuple[slice, slice], merge: Merge, split: float, gap: int,
    can_split: np.ndarray | None = None,
) -> np.ndarray:  # fmt: skip
    """The final ids of the ``core`` of a window of global ids ``labels`` (split, gaps grown).

    ``labels`` covers the block plus the margin (cut at the image's edges); ``core`` is
    where the block lies in it.
    """
    out = labels.astype(np.int64)
    if split > 0 and can_split is not None and can_split[out].any():
        out = _split_pieces(out, split, merge.n, can_split)
    if gap > 0 and out.any():
        ids = np.unique(out)
        ids = ids[ids > 0]
        grown = close_gaps(np.searchsorted(ids, out).astype(np.int32) + (out > 0), gap)
        ids = np.concatenate([[0], ids])
        out = ids[grown]
    out = out[core]
    if out.size and out.max() > np.iinfo(np.int32).max:
        raise InputError("too many objects for int32 labels after the split")
    return out.astype(np.int32)


def _split_pieces(ids: np.ndarray, split: float, n: int, can_split: np.ndarray) -> np.ndarray:
    """Piece ``k`` of each splittable object ``g`` in the window becomes ``g + k * n``."""
    uniq, compact = np.unique(ids, return_inverse=True)
    compact = compact.reshape(ids.shape).astype(np.int32)  # order kept: 0 stays 0
    pieces = split_joined(compact, split).astype(np.int64)
    inside = (ids > 0) & can_split[ids]
    if not inside.any():
        return ids
    lowest = np.full(len(uniq), np.iinfo(np.int64).max, np.int64)
    np.minimum.at(lowest, compact[inside], pieces[inside])
    rank = pieces - lowest[compact]
    out = ids.copy()
    out[inside] = ids[inside] + rank[inside] * n
    return out


def label_blockwise(foreground: np.ndarray, block: int, post, margin: int = 128) -> np.ndarray:
    """The three steps on a numpy ``(H, W)`` foreground cut in ``block``-sized blocks.

    The same arithmetic the whole-slide passes run on Zarr stores, in memory: for tests
    and for checking a block size or margin on a sample of a slide.
    """
    fg = np.asarray(foreground)
    if fg.ndim != 2:
        raise InputError(f"expected a 2D foreground; got shape {fg.shape}")
    ys = [*range(0, fg.shape[0], block), fg.shape[0]]
    xs = [*range(0, fg.shape[1], block), fg.shape[1]]
    grid = (len(ys) - 1, len(xs) - 1)
    local, found = np.zeros(fg.shape, np.int32), {}
    for r, c in np.ndindex(*grid):
        box = (slice(ys[r], ys[r + 1]), slice(xs[c], xs[c + 1]))
        local[box], found[r, c] = label_block(fg[box], post.threshold, (ys[r], xs[c]))
    merge = merge_blocks(found, grid, post.min_size)
    glob = np.zeros(fg.shape, np.int64)
    for r, c in np.ndindex(*grid):
        box = (slice(ys[r], ys[r + 1]), slice(xs[c], xs[c + 1]))
        glob[box] = merge.lookup(local[box], (r, c))
    can_split = splittable(merge, margin, post.gap) if post.split > 0 else None
    reach = max(margin if post.split > 0 else 0, 2 * post.gap + 2 if post.gap else 0)
    out = np.zeros(fg.shape, np.int32)
    for r, c in np.ndindex(*grid):
        wy0, wy1 = max(ys[r] - reach, 0), min(ys[r + 1] + reach, fg.shape[0])
        wx0, wx1 = max(xs[c] - reach, 0), min(xs[c + 1] + reach, fg.shape[1])
        core = (slice(ys[r] - wy0, ys[r + 1] - wy0), slice(xs[c] - wx0, xs[c + 1] - wx0))
        window = glob[wy0:wy1, wx0:wx1]
        out[ys[r] : ys[r + 1], xs[c] : xs[c + 1]] = finish_block(
            window, core, merge, post.split, post.gap, can_split
        )
    return out
