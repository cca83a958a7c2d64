"""The network on batches of normalised tiles, and the tile size that fits the memory.

:class:`TileRunner` turns ``(N, C, H, W)`` tiles into probabilities (as the network's head
says: softmax over classes, sigmoid for one class or a regression map) on a device, halving
its batch on CUDA out-of-memory;
:func:`auto_tile` picks the largest legal tile whose activations fit the device's budget,
:func:`responsive_tile` the largest the network runs in a given time (for interactive use).
"""

from __future__ import annotations

import math
import time
import weakref
from collections.abc import Generator
from dataclasses import dataclass

import numpy as np

from napari_unet.core.device import autocast_dtype
from napari_unet.core.errors import InputError
from napari_unet.core.images.normalize import Stats
from napari_unet.core.inference import tiling
from napari_unet.core.models.heads import activate, head_of

__all__ = [
    "PredictProgress",
    "TileRunner",
    "auto_tile",
    "responsive_tile",
    "model_info",
    "predict_region",
]

#: Rough activation memory of a U-Net at inference, bytes per input pixel per base channel
#: (measured: a 32-channel, 4-pooling U-Net on 2048x2048 peaks near 1 kB per pixel).
BYTES_PER_PIXEL_PER_CHANNEL = 40


@dataclass(frozen=True)
class PredictProgress:
    """Progress of a prediction: ``done`` of ``total`` tiles (or chunks, over all planes)."""

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


def responsive_tile(
    model, device=None, seconds: float = 0.5, precision: str = "fp32", largest: int | None = None
) -> int:
    """The largest legal tile the network runs in about ``seconds`` on ``device``.

    For interactive use: progress moves and a cancel acts after every tile. The network is
    timed on a tile of about 512 pixels (the best of two runs, after a warm-up) and the time
    taken to grow with the pixels: on the CPU that tile is already past the caches (tiles
    up to about 460 px cost 0.4 us per pixel, larger ones 1.5-2 us), so smaller tiles only
    come out faster than estimated. Never above ``largest`` (default: :func:`auto_tile`, the
    memory limit), never below the smallest legal tile of at least 128 pixels. Timings are
    kept per model, device and precision.
    """
    import torch

    geometry, in_ch, _, _ = model_info(model)
    device = torch.device(device) if device is not None else torch.device("cpu")
    largest = largest or auto_tile(model, device, 1, precision)
    key = (device.type, device.index, precision)
    cache = _TILE_TIMES.setdefault(model, {})
    if key not in cache:
        probe = min(geometry.nearest_legal(512), largest)
        cache[key] = (probe, _time_tile(model, device, precision, in_ch, probe))
    probe, spent = cache[key]
    per_pixel = spent / probe**2
    fits = [s for s in geometry.legal_sizes(128, largest) if per_pixel * s * s <= seconds]
    return fits[-1] if fits else min(geometry.nearest_legal(128), largest)


#: Per model (weakly held): {(device type, index, precision): (tile, seconds per tile)}.
_TILE_TIMES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _time_tile(model, device, precision: str, in_channels: int, side: int) -> float:
    """Seconds one forward pass of a ``side`` x ``side`` tile takes (best of two)."""
    import torch

    runner = TileRunner(model, device, precision, 1)
    tile = np.zeros((1, in_channels, side, side), np.float32)
    times, was_training = [], model.training
    model.eval()
    try:
        for _ in range(3):  # the first run warms up (allocations, kernel selection)
            start = time.perf_counter()
            runner(tile)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            times.append(time.perf_counter() - start)
    finally:
        model.train(was_training)
    return min(times[1:])


class TileRunner:
    """Runs the network on batches of tiles; halves the batch on CUDA out-of-memory.

    With ``flips`` (test-time augmentation) each tile is also predicted flipped up-down,
    left-right and both, and the four probabilities (flipped back) are averaged: four
    forward passes per tile.
    """

    def __init__(self, model, device, precision: str, batch: int, flips: bool = False) -> None:
        self.model, self.device, self.flips = model, device, bool(flips)
        self.head = head_of(model)
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
            probs = activate(self._logits(torch, x).float(), self.head)
            if self.flips:
                for dims in ((2,), (3,), (2, 3)):
                    flipped = self._logits(torch, torch.flip(x, dims))
                    probs += torch.flip(activate(flipped.float(), self.head), dims)
                probs /= 4
        return probs.cpu().numpy()

    def _logits(self, torch, x):
        if self.dtype is not None:
            with torch.autocast(self.device.type, dtype=self.dtype):
                return self.model(x)
        return self.model(x)


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
