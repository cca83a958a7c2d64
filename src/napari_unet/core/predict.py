"""Seamless tiled prediction of images of any size.

``predict(model, image)`` returns class probabilities; ``iter_predict`` is its generator
twin that yields :class:`PredictProgress` events and returns the same array (the GUI and the
command line wrap it). Tiles follow :mod:`napari_unet.core.tiling`: abutting overlap-tiles
with real neighbouring context for valid networks (equal to a whole-image prediction), and
blended overlapping tiles for same-padded ones. Dask arrays go to
:mod:`napari_unet.core.predict_dask` and come back lazy.

Accepted layouts: ``(H, W)``; ``(H, W, C)`` (RGB last) or ``(C, H, W)``; stacks ``(Z, H, W)``,
``(Z, C, H, W)`` or ``(Z, H, W, C)``, predicted plane by plane. Probabilities have the class
axis first: ``(n_classes, *stack, H, W)``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Generator
from dataclasses import dataclass

import numpy as np

from napari_unet.core import tiling
from napari_unet.core.device import PRECISIONS, autocast_dtype
from napari_unet.core.device import choose_device as resolve_device
from napari_unet.core.errors import InputError
from napari_unet.core.layout import Layout, array_namespace, layout
from napari_unet.core.normalize import Stats, check_spec, compute_stats

__all__ = [
    "PRECISIONS",
    "Layout",
    "PredictProgress",
    "TileRunner",
    "auto_tile",
    "autocast_dtype",
    "iter_predict",
    "layout",
    "model_info",
    "plan",
    "predict",
    "predict_region",
    "resolve_device",
]

#: Rough activation memory of a U-Net at inference, bytes per input pixel per base channel
#: (measured: a 32-channel, 4-pooling U-Net on 2048x2048 peaks near 1 kB per pixel).
BYTES_PER_PIXEL_PER_CHANNEL = 40


@dataclass(frozen=True)
class PredictProgress:
    """Progress of a prediction: ``done`` of ``total`` tiles (over all planes)."""

    done: int
    total: int
    plane: int = 0
    n_planes: int = 1


def model_info(model) -> tuple[object, int, int, int]:
    """``(geometry, in_channels, n_classes, base_channels)`` of a model of the family."""
    try:
        geometry, in_ch, n_cls = model.geometry, int(model.in_channels), int(model.n_classes)
    except AttributeError as exc:
        raise InputError(
            f"{type(model).__name__} is not a napari-unet model (it needs .geometry, "
            ".in_channels and .n_classes)"
        ) from exc
    config = getattr(model, "config", {}) or {}
    base = int(config.get("base_channels", 32)) if isinstance(config, dict) else 32
    return geometry, in_ch, n_cls, base


def _memory_budget(device) -> float:
    """Bytes the tiles of one batch may use."""
    if device.type == "cuda":
        import torch

        free, _ = torch.cuda.mem_get_info(device)
        return 0.5 * free
    try:
        import psutil

        available = psutil.virtual_memory().available
    except ImportError:  # pragma: no cover - psutil comes with napari
        available = 4 << 30
    return min(0.15 * available, 1.25 * (1 << 30))


def auto_tile(model, device=None, batch: int = 1, precision: str = "fp32") -> int:
    """The largest legal tile whose activations fit the memory budget of ``device``."""
    import torch

    geometry, _, _, base = model_info(model)
    device = torch.device(device) if device is not None else torch.device("cpu")
    reduced = precision != "fp32" and device.type == "cuda"
    bpp = BYTES_PER_PIXEL_PER_CHANNEL * base * (0.6 if reduced else 1)
    side = int(math.sqrt(_memory_budget(device) / (bpp * max(batch, 1))))
    side = min(side, 4096)
    legal = geometry.legal_sizes(geometry.min_input_size, max(side, geometry.min_input_size))
    return legal[-1] if legal else geometry.min_input_size


class TileRunner:
    """Runs the network on batches of tiles; halves the batch on CUDA out-of-memory."""

    def __init__(self, model, device, precision: str, batch: int) -> None:
        self.model, self.device = model, device
        self.dtype = autocast_dtype(device, precision)
        self.batch = max(1, int(batch))

    def __call__(self, tiles: np.ndarray) -> np.ndarray:
        """Class probabilities (N, K, h, w) float32 for normalised tiles (N, C, H, W)."""
        import torch

        outs, i = [], 0
        while i < len(tiles):
            chunk = tiles[i : i + self.batch]
            try:
                outs.append(self._forward(torch, chunk))
            except torch.OutOfMemoryError as exc:
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                if self.batch == 1:
                    raise InputError(
                        f"out of memory on {self.device} even for one tile of "
                        f"{tiles.shape[-2]}x{tiles.shape[-1]} pixels; choose a smaller tile"
                    ) from exc
                self.batch //= 2
                continue
            i += len(chunk)
        return np.concatenate(outs)

    def _forward(self, torch, chunk: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(chunk)).to(self.device)
        with torch.inference_mode():
            if self.dtype is not None:
                with torch.autocast(self.device.type, dtype=self.dtype):
                    logits = self.model(x)
            else:
                logits = self.model(x)
            logits = logits.float()
            probs = torch.sigmoid(logits) if logits.shape[1] == 1 else torch.softmax(logits, 1)
        return probs.cpu().numpy()


def plan(model, shape: tuple[int, int], tile: int | None = None, overlap: int | None = None):
    """The per-axis tile plans for an ``(H, W)`` image (``tile=None``: one whole tile)."""
    geometry = model_info(model)[0]
    return [tiling.plan_axis(int(n), geometry, tile, overlap) for n in shape]


def predict_region(
    source: np.ndarray,
    origin: tuple[int, int],
    full_shape: tuple[int, int],
    region: tuple[tuple[int, int], tuple[int, int]],
    plans,
    stats: Stats,
    runner: TileRunner,
    n_classes: int,
) -> Generator[int, None, np.ndarray]:
    """Predict output pixels ``region`` of one plane from the pixels ``source`` holds.

    ``source`` is a ``(C, h, w)`` block of a plane of ``full_shape`` starting at global
    ``origin``; it must hold every real pixel the region's tiles read (the mirror at the true
    border maps outside reads inside). Yields the number of tiles finished per batch and
    returns ``(n_classes, region_h, region_w)`` probabilities.
    """
    (ay, by), (ax, bx) = region
    ytiles, xtiles = plans[0].tiles(ay, by), plans[1].tiles(ax, bx)
    out = np.zeros((n_classes, by - ay, bx - ax), np.float32)
    index = [
        [_local_index(t, n, o, s) for t in ts]
        for ts, n, o, s in zip((ytiles, xtiles), full_shape, origin, source.shape[1:], strict=True)
    ]
    pairs = [(i, j) for i in range(len(ytiles)) for j in range(len(xtiles))]
    k = 0
    while k < len(pairs):
        batch = pairs[k : k + runner.batch]
        k += len(batch)
        x = np.stack([stats.apply(source[:, index[0][i]][:, :, index[1][j]]) for i, j in batch])
        probs = runner(x)
        for (i, j), p in zip(batch, probs, strict=True):
            ty, tx = ytiles[i], xtiles[j]
            ys = slice(ty.out_start - ay, ty.out_stop - ay)
            xs = slice(tx.out_start - ax, tx.out_stop - ax)
            crop = p[:, ty.offset : ty.offset + ys.stop - ys.start]
            crop = crop[:, :, tx.offset : tx.offset + xs.stop - xs.start]
            if ty.weights is None:
                out[:, ys, xs] = crop
            else:
                out[:, ys, xs] += crop * (ty.weights[:, None] * tx.weights[None, :])
        yield len(batch)
    if ytiles[0].weights is not None:
        out /= _weight_sum(ytiles, ay, by)[:, None] * _weight_sum(xtiles, ax, bx)[None, :]
    return out


def _local_index(t, length: int, origin: int, size: int):
    """Index of a tile's input pixels in a block: a slice when no mirroring is needed."""
    if t.in_start >= 0 and t.in_stop <= length:
        return slice(t.in_start - origin, t.in_stop - origin)
    idx = tiling.mirror_indices(t.in_start, t.in_stop, length) - origin
    if idx.min() < 0 or idx.max() >= size:
        raise RuntimeError("block too small for the mirror at the image border")  # a bug
    return idx


def _weight_sum(tiles, start: int, stop: int) -> np.ndarray:
    total = np.zeros(stop - start, np.float32)
    for t in tiles:
        total[t.out_start - start : t.out_stop - start] += t.weights
    return total


def iter_predict(
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
    region: tuple[tuple[int, int], tuple[int, int]] | None = None,
    plane: int | None = None,
) -> Generator[PredictProgress, None, np.ndarray]:
    """Generator twin of :func:`predict`: yields progress, returns the probabilities.

    Parameters are those of :func:`predict`, plus ``region`` (``((y0, y1), (x0, x1))``:
    predict only these output pixels, e.g. the current view) and ``plane`` (the flat index
    of the one stack plane to predict). The result then covers just that region/plane.
    """
    if array_namespace(image) is not np:
        from napari_unet.core.predict_dask import predict_dask

        return predict_dask(
            model, image, tile=tile, batch=batch, device=device, precision=precision,
            channel_axis=channel_axis, normalization=normalization, metadata=metadata,
            overlap=overlap,
        )  # fmt: skip
    geometry, in_ch, n_cls, _ = model_info(model)
    lay = layout(np.asarray(image), in_ch, channel_axis)
    spec = check_spec(normalization or (metadata or {}).get("normalization"))
    torch_device = resolve_device(device)
    batch = batch or 1
    tile = tile or auto_tile(model, torch_device, batch, precision)
    h, w = lay.planes.shape[-2:]
    plans = plan(model, (h, w), tile, overlap)
    region = region or ((0, h), (0, w))
    planes = range(lay.planes.shape[0]) if plane is None else [plane]
    if plane is not None and not 0 <= plane < lay.planes.shape[0]:
        raise InputError(f"plane {plane} is out of range (the stack has {lay.planes.shape[0]})")
    per_plane = len(plans[0].tiles(*region[0])) * len(plans[1].tiles(*region[1]))
    total = per_plane * len(planes)
    (y0, y1), (x0, x1) = region
    out = np.zeros((n_cls, len(planes), y1 - y0, x1 - x0), np.float32)
    runner = TileRunner(model.to(torch_device), torch_device, precision, batch)
    was_training = bool(getattr(model, "training", False))
    model.eval()
    done, last = 0, 0.0
    try:
        for k, p in enumerate(planes):
            source = lay.planes[p]
            if source.dtype.kind == "f" and not np.isfinite(source).all():
                raise InputError(
                    "the image contains NaN or infinite values; replace them (for example "
                    "with 0) before predicting"
                )
            stats = compute_stats(source, spec)
            gen = predict_region(source, (0, 0), (h, w), region, plans, stats, runner, n_cls)
            while True:
                try:
                    done += next(gen)
                except StopIteration as stop:
                    out[:, k] = stop.value
                    break
                now = time.monotonic()
                if now - last > 0.2 or done == total:
                    last = now
                    yield PredictProgress(done, total, k, len(planes))
    finally:
        model.train(was_training)
    if plane is not None or not lay.stack_shape:
        return out[:, 0]
    return out.reshape((n_cls, *lay.stack_shape, *out.shape[-2:]))


def predict(model, image, **kwargs) -> np.ndarray:
    """Class probabilities of ``image`` by seamless tiled prediction.

    Parameters
    ----------
    model : torch.nn.Module
        A network of the family (with ``geometry``, ``in_channels``, ``n_classes``).
    image : numpy.ndarray or dask.array.Array
        Raw pixels (uint8, uint16, float...) in any layout of the module docstring.
    tile : int, optional
        Input tile size (rounded up to a legal size); default: the largest that fits the
        device's free memory.
    batch : int, optional
        Tiles per forward pass (default 1; halved automatically on CUDA out-of-memory).
    device : str or torch.device, optional
        Default: CUDA if available, else CPU.
    precision : {"fp32", "fp16", "bf16"}
        Autocast precision on CUDA (CPU always runs fp32).
    channel_axis : int, optional
        The channel axis; guessed by default (see :func:`layout`).
    normalization, metadata : dict, optional
        The normalisation spec, or the model file's metadata holding it.
    overlap : int, optional
        Same-padded networks: overlap of neighbouring tiles (default: the geometry's halo).

    Returns
    -------
    numpy.ndarray or dask.array.Array
        float32 probabilities ``(n_classes, *stack, H, W)``; lazy for dask input.

    Raises
    ------
    InputError
        For empty, 1-D, non-numeric, NaN/inf input or a channel count the model cannot take.
    """
    gen = iter_predict(model, image, **kwargs)
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value
