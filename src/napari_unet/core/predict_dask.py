"""Lazy, chunked prediction of dask arrays (Zarr stores, huge images, clusters).

The image is rechunked so chunk borders fall on the tile grid, then dask's overlap
machinery hands every chunk its neighbours' pixels (``depth`` = the context a tile reads,
``boundary="none"``): each chunk is predicted with exactly the tiles a whole-image
prediction would use for it, mirrored at the true image border only. The result equals the
numpy prediction, stays lazy, and can be stored straight to Zarr. Memory is bounded by a few
chunks at a time; with a ``dask.distributed`` scheduler address the same graph runs on a
cluster (the model travels once per worker, as one graph key).
"""

from __future__ import annotations

import uuid
from collections.abc import Generator
from dataclasses import dataclass

import numpy as np

from napari_unet.core.errors import InputError
from napari_unet.core.normalize import check_spec, compute_stats
from napari_unet.core.predict import (
    PredictProgress,
    TileRunner,
    auto_tile,
    layout,
    model_info,
    plan,
    predict_region,
    resolve_device,
)

#: Target output chunk side (pixels): large chunks mean fewer re-computed blended tiles.
CHUNK = 2048


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


def _starts(chunks: tuple[int, ...]) -> list[int]:
    return list(np.cumsum((0, *chunks[:-1])))


def _axis_chunks(length: int, step: int, context: int, target: int) -> tuple[int, ...]:
    """Chunks that are multiples of ``step``; the last absorbs a remainder too small to mirror."""
    size = max(step, target // step * step, -(-2 * context // step) * step)
    chunks = [size] * (length // size)
    rest = length - sum(chunks)
    if rest:
        chunks.append(rest)
    # A chunk shorter than the context (or the last tile's step) cannot feed the mirror at
    # the border or its neighbours' depth: merge it into its neighbour.
    while len(chunks) > 1 and chunks[-1] < max(context, step) + step:
        last = chunks.pop()
        chunks[-1] += last
    return tuple(chunks)


def _predict_block(block: np.ndarray, model, job: _Job, block_info=None) -> np.ndarray:
    """Predict one overlapped chunk ``(1, C, h + depth, w + depth)`` -> ``(1, K, h, w)``."""
    import torch

    plane, _, iy, ix = block_info[None]["chunk-location"]
    plane_index = block_info[None]["array-location"][0][0]
    regions, origins = [], []
    for axis, i in ((0, iy), (1, ix)):
        a = _starts(job.chunks[axis])[i]
        b = a + job.chunks[axis][i]
        regions.append((a, b))
        origins.append(max(a - job.depth[axis], 0))
    source = block[0]
    if source.dtype.kind == "f" and not np.isfinite(source).all():
        raise InputError(
            "the image contains NaN or infinite values; replace them (for example with 0) "
            "before predicting"
        )
    device = torch.device(job.device)
    runner = TileRunner(model.to(device).eval(), device, job.precision, job.batch)
    gen = predict_region(
        source,
        tuple(origins),
        job.full_shape,
        tuple(regions),
        job.plans,
        job.stats[plane_index],
        runner,
        job.n_classes,
    )
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value[None]


def predict_dask(
    model,
    image,
    tile: int | None = None,
    batch: int | None = None,
    device=None,
    precision: str = "fp32",
    channel_axis: int | None = None,
    normalization: dict | None = None,
    metadata: dict | None = None,
    overlap: int | None = None,
    chunk: int = CHUNK,
):
    """Lazy class probabilities ``(n_classes, *stack, H, W)`` of a dask (or numpy) image.

    Parameters are those of :func:`napari_unet.core.predict.predict`, plus ``chunk``: the
    target output chunk side. Normalisation statistics are computed now (per plane, on a
    regular subsample); the network runs when the result is computed or stored.

    Returns
    -------
    dask.array.Array
        float32 probabilities, chunked like the (rechunked) input planes.
    """
    import dask
    import dask.array as da

    if not isinstance(image, da.Array):
        image = da.from_array(np.asarray(image), chunks="auto")
    _, in_ch, n_cls, _ = model_info(model)
    lay = layout(image, in_ch, channel_axis)
    spec = check_spec(normalization or (metadata or {}).get("normalization"))
    torch_device = resolve_device(device)
    batch = batch or 1
    tile = tile or auto_tile(model, torch_device, batch, precision)
    planes = lay.planes
    n_planes, _, h, w = (int(s) for s in planes.shape)
    plans = tuple(plan(model, (h, w), tile, overlap))
    depth = tuple(max(p.context) for p in plans)
    chunks = tuple(
        _axis_chunks(n, p.step, d, chunk) for n, p, d in zip((h, w), plans, depth, strict=True)
    )
    planes = planes.rechunk((1, -1, *chunks))
    stats = tuple(compute_stats(planes[p], spec) for p in range(n_planes))
    # One chunk along an axis: the block already holds the whole axis (no depth needed).
    depth = tuple(d if len(c) > 1 else 0 for d, c in zip(depth, chunks, strict=True))
    job = _Job(plans, (h, w), chunks, depth, stats, n_cls, str(torch_device), precision, batch)
    ghost = da.overlap.overlap(
        planes,
        depth={0: 0, 1: 0, 2: depth[0], 3: depth[1]},
        boundary={0: "none", 1: "none", 2: "none", 3: "none"},
    )
    model_key = dask.delayed(model, name=f"napari-unet-model-{uuid.uuid4().hex}", pure=False)
    out = da.map_blocks(
        _predict_block,
        ghost,
        model_key,
        job,
        chunks=((1,) * n_planes, (n_cls,), *chunks),
        dtype=np.float32,
        name=f"napari-unet-predict-{uuid.uuid4().hex}",
        meta=np.empty((0, 0, 0, 0), np.float32),
    )
    out = da.moveaxis(out, 1, 0)
    if lay.stack_shape:
        return out.reshape((n_cls, *lay.stack_shape, h, w))
    return out[:, 0]


def iter_predict_to_zarr(
    model, image, path, scheduler: str | None = None, **kwargs
) -> Generator[PredictProgress, None, object]:
    """Predict ``image`` chunk by chunk into a Zarr store at ``path``, yielding progress.

    Parameters
    ----------
    model, image
        As for :func:`predict_dask`.
    path : path-like
        The ``.zarr`` store to create (replaced if it exists).
    scheduler : str, optional
        A ``dask.distributed`` scheduler address (``"tcp://host:8786"``); default: this
        process, one chunk after another (the network uses all cores for each chunk).
    **kwargs
        Arguments of :func:`predict_dask`.

    Returns
    -------
    dask.array.Array
        The stored probabilities, read back lazily from ``path``.
    """
    import dask.array as da
    import zarr

    probs = predict_dask(model, image, **kwargs)
    store = zarr.open_array(
        str(path), mode="w", shape=probs.shape, chunks=probs.chunksize, dtype=np.float32
    )
    blocks = list(np.ndindex(*probs.numblocks))
    total = len(blocks)
    if scheduler:
        try:
            from distributed import Client, as_completed
        except ImportError as exc:
            raise InputError(
                "a scheduler address needs dask.distributed: pip install distributed"
            ) from exc
        with Client(scheduler) as client:
            futures = [client.compute(_store_block(probs, store, b)) for b in blocks]
            for done, fut in enumerate(as_completed(futures), start=1):
                fut.result()
                yield PredictProgress(done, total)
    else:
        import dask

        for done, b in enumerate(blocks, start=1):
            dask.compute(_store_block(probs, store, b), scheduler="synchronous")
            yield PredictProgress(done, total)
    return da.from_zarr(str(path))


def _store_block(probs, store, index):
    """A delayed write of block ``index`` of ``probs`` into the Zarr array ``store``."""
    import dask

    region = tuple(
        slice(int(sum(c[:i])), int(sum(c[: i + 1])))
        for c, i in zip(probs.chunks, index, strict=True)
    )
    block = probs.blocks[index]

    def write(values, region=region):
        store[region] = values
        return region

    return dask.delayed(write)(block)


def predict_to_zarr(model, image, path, scheduler: str | None = None, **kwargs):
    """Drain :func:`iter_predict_to_zarr`; return the stored probabilities (lazy)."""
    gen = iter_predict_to_zarr(model, image, path, scheduler=scheduler, **kwargs)
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value
