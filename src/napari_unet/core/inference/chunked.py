"""Lazy, chunked prediction of dask arrays (Zarr stores, huge images, clusters).

The image is rechunked so chunk borders fall on the tile grid, then dask's overlap
machinery hands every chunk its neighbours' pixels (``depth`` = the context a tile reads,
``boundary="none"``): each chunk is predicted by
:func:`~napari_unet.core.inference.runner.predict_region` with exactly the tiles a
whole-image prediction would use for it, mirrored at the true image border only. The result
equals the in-memory prediction, stays lazy, and can be stored straight to Zarr. Memory is
bounded by a few chunks at a time; with a ``dask.distributed`` scheduler address the same
graph runs on a cluster (the model travels once per worker, as one graph key).

Called through :class:`~napari_unet.core.inference.plan.Predictor`, which fixes the settings.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from napari_unet.core.images.layout import check_not_a_name
from napari_unet.core.images.normalize import check_pixels, compute_stats
from napari_unet.core.inference.cluster import iter_tasks
from napari_unet.core.inference.runner import (
    PredictProgress,
    TileRunner,
    predict_region,
)
from napari_unet.core.inference.tiling import check_region

__all__ = ["iter_store", "iter_tasks", "lazy_probabilities"]

#: Held while a block is predicted: dask's threads run one block at a time per process.
_ONE_BLOCK = threading.Lock()


@dataclass(frozen=True)
class _Job:
    """Everything a chunk task needs besides the model and pixels (small, picklable)."""

    plans: tuple
    full_shape: tuple[int, int]
    chunks: tuple[tuple[int, ...], tuple[int, ...]]
    depth: tuple[int, int]
    stats: tuple
    n_classes: int
    device: str
    precision: str
    batch: int
    flips: bool = False


def _starts(chunks: tuple[int, ...]) -> list[int]:
    return list(np.cumsum((0, *chunks[:-1])))


def _shortest(step: int, context: int) -> int:
    """The shortest chunk that can feed the mirror at the border and its neighbours' depth."""
    return max(context, step) + step


def _axis_chunks(length: int, step: int, context: int, target: int) -> tuple[int, ...]:
    """Chunks that are multiples of ``step``; the last absorbs a remainder too small to mirror."""
    size = max(step, target // step * step, -(-2 * context // step) * step)
    chunks = [size] * (length // size)
    rest = length - sum(chunks)
    if rest:
        chunks.append(rest)
    # A last chunk too short to feed the mirror or its neighbour's depth joins its neighbour.
    while len(chunks) > 1 and chunks[-1] < _shortest(step, context):
        last = chunks.pop()
        chunks[-1] += last
    return tuple(chunks)


def _region_chunks(
    length: int, region: tuple[int, int], step: int, context: int, target: int
) -> tuple[int, ...]:
    """:func:`_axis_chunks` of an axis whose grid starts at the region's first pixel.

    Cut to the region, the chunks are then a regular grid that only its last chunk breaks,
    so store chunks of the first chunk's size are each written by one block. The chunks
    before the region are never computed; a part before it too short to be a chunk joins the
    region's first block (which then predicts those few rows too).
    """
    start = region[0]
    inner = _axis_chunks(length - start, step, context, target)
    if start == 0:
        return inner
    lead = _axis_chunks(start, step, context, target)
    if len(lead) == 1 and lead[0] < _shortest(step, context):
        return (start + inner[0], *inner[1:])
    chunks = [*lead, *inner]
    if chunks[-1] < _shortest(step, context):  # a region near the end: one short chunk,
        last = chunks.pop()  # which dask's overlap would regrid (blocks then misplaced)
        chunks[-1] += last
    return tuple(chunks)


def _predict_block(block: np.ndarray, model, job: _Job, block_info=None) -> np.ndarray:
    """Predict one overlapped chunk ``(1, C, h + depth, w + depth)`` -> ``(1, K, h, w)``."""
    import torch

    from napari_unet.core.progress import drain

    _, _, iy, ix = block_info[None]["chunk-location"]
    plane_index = block_info[None]["array-location"][0][0]
    regions, origins = [], []
    for axis, i in ((0, iy), (1, ix)):
        a = _starts(job.chunks[axis])[i]
        regions.append((a, a + job.chunks[axis][i]))
        origins.append(max(a - job.depth[axis], 0))
    source = block[0]
    check_pixels(source)
    device = torch.device(job.device)
    # The runner predicts with an evaluation copy on the device: the caller's model keeps
    # its device and mode. One block at a time per process: each one's tiles are sized
    # for the whole memory budget and torch already uses every core.
    with _ONE_BLOCK:
        runner = TileRunner(model, device, job.precision, job.batch, job.flips)
        stats = job.stats[plane_index]
        probs = drain(
            predict_region(source, tuple(origins), job.full_shape, tuple(regions), job.plans,
                           stats, runner, job.n_classes)
        )  # fmt: skip
    return probs[None]


def lazy_probabilities(predictor, image, region=None, stats=None):
    """Lazy ``(n_classes, *stack, H, W)`` probabilities of ``image`` with ``predictor``'s settings.

    See :meth:`napari_unet.core.inference.plan.Predictor.lazy_probabilities`.
    """
    import dask
    import dask.array as da

    check_not_a_name(image)  # before: "got shape ()" (predict_to_zarr given a path)
    given = isinstance(image, da.Array)  # lazily read (a store), or the caller's dask array
    if not given:
        image = da.from_array(np.asarray(image), chunks="auto")
    lay = predictor.layout(image)
    planes = lay.planes
    stored = tuple(int(c) for c in planes.chunksize[-2:])
    n_planes, _, h, w = (int(s) for s in planes.shape)
    (y0, y1), (x0, x1) = check_region(region, (h, w))
    plans = tuple(predictor.plans((h, w)))
    # Blocks start at the region's first pixel (see _region_chunks). Off the tile grid of a
    # valid network, a block's first and last tiles reach up to a step further out.
    depth = tuple(
        max(p.context) + (p.step if a % p.step and not p.blend else 0)
        for p, a in zip(plans, (y0, x0), strict=True)
    )
    chunks = tuple(
        _region_chunks(n, r, p.step, d, predictor.chunk)
        for n, r, p, d in zip((h, w), ((y0, y1), (x0, x1)), plans, depth, strict=True)
    )
    if given:
        _warn_big_chunks(stored, tuple(int(c[0]) for c in chunks), (h, w))
    planes = planes.rechunk((1, -1, *chunks))
    if stats is None:  # known: one per plane
        stats = tuple(compute_stats(planes[p], predictor.spec) for p in range(n_planes))
    # One chunk along an axis: the block already holds the whole axis (no depth needed).
    depth = tuple(d if len(c) > 1 else 0 for d, c in zip(depth, chunks, strict=True))
    n_cls, device = predictor.n_classes, str(predictor.device)
    job = _Job(plans, (h, w), chunks, depth, stats, n_cls, device, predictor.precision,
               predictor.batch, predictor.flips)  # fmt: skip
    ghost = da.overlap.overlap(
        planes,
        depth={0: 0, 1: 0, 2: depth[0], 3: depth[1]},
        boundary={0: "none", 1: "none", 2: "none", 3: "none"},
    )
    if ghost.numblocks != planes.numblocks:  # regridded by dask: blocks would be misplaced
        raise RuntimeError(f"chunks {chunks} were regridded by dask's overlap ({ghost.chunks})")
    model = dask.delayed(predictor.model, name=f"napari-unet-model-{uuid.uuid4().hex}", pure=False)
    out = da.map_blocks(
        _predict_block,
        ghost,
        model,
        job,
        chunks=((1,) * n_planes, (n_cls,), *chunks),
        dtype=np.float32,
        name=f"napari-unet-predict-{uuid.uuid4().hex}",
        meta=np.empty((0, 0, 0, 0), np.float32),
    )
    out = da.moveaxis(out, 1, 0)[..., y0:y1, x0:x1]
    return out.reshape((n_cls, *lay.stack_shape, y1 - y0, x1 - x0))


#: Input chunks holding at least this many prediction blocks are warned about.
BIG_CHUNK_BLOCKS = 4


def _warn_big_chunks(stored, block, shape) -> None:
    """Warn when the input's chunks are much larger than the prediction blocks.

    Every block reads (and decodes) the whole input chunks it overlaps: a store of one chunk
    or of full-width rows is read once per block, and a task's memory is the input chunk,
    not the block.
    """
    import warnings

    held = (min(stored[0], shape[0]) * min(stored[1], shape[1])) / (block[0] * block[1])
    if held >= BIG_CHUNK_BLOCKS and (shape[0] > block[0] or shape[1] > block[1]):
        warnings.warn(
            f"the input is stored in chunks of {stored[0]} x {stored[1]} px, much larger "
            f"than the prediction blocks ({block[0]} x {block[1]} px): each block reads "
            "whole input chunks, so they are read again for every block and a task's memory "
            "is the input chunk. Rechunk the store first, e.g. nu.write_image('slide.zarr', "
            f"nu.read_image(PATH, lazy=True).rechunk({max(block)})) (see docs/predict.md, "
            "'Whole-slide images and clusters')",
            UserWarning,
            stacklevel=3,
        )


def iter_store(
    probs, path, scheduler=None, overwrite: bool = False
) -> Generator[object, None, object]:
    """Compute lazy ``probs`` chunk by chunk into a new Zarr store at ``path``, with progress.

    ``scheduler``: None (this process, one chunk after another), a ``dask.distributed``
    scheduler address or a ``distributed.Client``. The store's chunks are the array's first
    chunk along each axis, so every chunk of the store is written by exactly one block (a
    last block that absorbed a remainder fills whole store chunks too): blocks written in
    parallel on a cluster never share a store chunk. Yields
    :class:`~napari_unet.core.inference.runner.PredictProgress` per chunk and returns the
    stored array, read back lazily. The store is filled beside ``path`` and renamed onto it
    when complete: a run stopped or failed part-way leaves ``path`` as it was. Only a store
    napari-unet wrote so (marked) or an empty folder is replaced: anything else at ``path``
    is refused (:func:`~napari_unet.core.inference.probstore.check_store_output`).
    """
    import dask.array as da
    import zarr

    from napari_unet.core.files import atomic_folder
    from napari_unet.core.inference.probstore import check_store_output, mark_probabilities

    check_store_output(path, overwrite=overwrite)  # before, any folder was replaced

    chunks = tuple(int(c[0]) for c in probs.chunks)
    if not all(_aligned(c, size) for c, size in zip(probs.chunks, chunks, strict=True)):
        probs = probs.rechunk(chunks)  # blocks that would share a store chunk: regrid them
    blocks = list(np.ndindex(*probs.numblocks))
    path = Path(path).resolve()  # tasks may run in workers started in another folder
    with atomic_folder(path, overwrite=overwrite) as tmp:  # not one written meanwhile
        store = zarr.open_array(
            str(tmp), mode="w", shape=probs.shape, chunks=chunks, dtype=np.float32
        )
        writes = [_store_block(probs, store, b) for b in blocks]
        for done, _ in enumerate(iter_tasks(writes, scheduler), start=1):
            yield PredictProgress(done, len(blocks))
        mark_probabilities(tmp)
    return da.from_zarr(str(path))


def _aligned(chunks: tuple[int, ...], size: int) -> bool:
    """Whether every block border along an axis but the array's end is a store chunk border."""
    return all(int(a) % size == 0 for a in np.cumsum(chunks)[:-1])


def _store_block(probs, store, index):
    """A delayed write of block ``index`` of ``probs`` into the Zarr array ``store``."""
    import dask

    region = _block_region(probs, index)
    block = probs.blocks[index]

    def write(values, region=region):
        store[region] = values
        return region

    return dask.delayed(write)(block)


def _block_region(array, index) -> tuple[slice, ...]:
    """The slices of block ``index`` of a dask ``array``."""
    return tuple(
        slice(int(sum(c[:i])), int(sum(c[: i + 1])))
        for c, i in zip(array.chunks, index, strict=True)
    )
