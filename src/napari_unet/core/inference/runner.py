"""The network on batches of normalised tiles, and the tile size that fits the memory.

:class:`TileRunner` turns ``(N, C, H, W)`` tiles into probabilities (as the network's head
says: softmax over classes, sigmoid for one class or a regression map) on a device, halving
its batch on CUDA out-of-memory;
:func:`auto_tile` picks the largest legal tile whose activations fit the device's budget,
:func:`responsive_tile` the largest the network runs in a given time (for interactive use).
"""

from __future__ import annotations

import contextlib
import math
import time
import weakref
from collections.abc import Generator
from dataclasses import dataclass

import numpy as np

from napari_unet.core.device import autocast_dtype, keep_freed_memory
from napari_unet.core.errors import InputError
from napari_unet.core.images.normalize import Stats
from napari_unet.core.inference import tiling
from napari_unet.core.inference.ondevice import predict_region_on_device
from napari_unet.core.models.fused import inference_copy
from napari_unet.core.models.heads import activate, head_of

__all__ = [
    "PredictProgress",
    "TileRunner",
    "auto_batch",
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


def _memory_budget(device, exact: bool = False) -> float:
    """Bytes the tiles of one batch may use (``exact``: tiles of any size give equal results).

    On the CPU the tiles of a same-padded network may use 15% of the available memory, at
    most 1.25 GiB (their size sets the blending, so it stays as it was). Valid networks tile
    exactly, so there the tile is chosen for speed alone: 25%, at most 4 GiB, since larger
    tiles compute fewer halo pixels (the paper's network on 2048 x 2048: a 1212 px tile
    instead of 700 px was 1.15x faster, 3.4 instead of 1.5 GB peak, equal bit for bit).
    """
    if device.type == "cuda":
        import torch

        free, _ = torch.cuda.mem_get_info(device)
        return 0.5 * free
    try:
        import psutil

        available = psutil.virtual_memory().available
    except ImportError:  # pragma: no cover - psutil comes with napari
        available = 4 << 30
    if exact:
        return min(0.25 * available, 4.0 * (1 << 30))
    return min(0.15 * available, 1.25 * (1 << 30))


def auto_tile(
    model, device=None, batch: int = 1, precision: str = "fp32", exact_budget: bool = True
) -> int:
    """The largest legal tile whose activations fit the memory budget of ``device``.

    ``exact_budget=False`` gives valid networks the smaller budget of same-padded ones (the
    automatic tile before issue 21; benchmarks compare with it).
    """
    import torch

    geometry = model_info(model)[0]
    device = torch.device(device) if device is not None else torch.device("cpu")
    bpp = _bytes_per_pixel(model, device, precision)
    budget = _memory_budget(device, exact=exact_budget and geometry.padding == "valid")
    side = min(int(math.sqrt(budget / (bpp * max(batch, 1)))), 4096)
    legal = geometry.legal_sizes(geometry.min_input_size, max(side, geometry.min_input_size))
    return legal[-1] if legal else geometry.min_input_size


def auto_batch(model, device, tile: int, precision: str = "fp32", largest: int = 64) -> int:
    """How many ``tile`` x ``tile`` tiles one forward pass can take within the memory budget.

    The same estimate as :func:`auto_tile`, the other way round: on a GPU small tiles are
    run together so that each pass keeps it busy. At least 1, at most ``largest``.
    """
    import torch

    device = torch.device(device)
    bpp = _bytes_per_pixel(model, device, precision)
    return int(min(max(1, _memory_budget(device) // (bpp * tile * tile)), largest))


def _bytes_per_pixel(model, device, precision: str) -> float:
    """Estimated activation bytes per input pixel of one tile (reduced precision: 0.6x)."""
    reduced = precision != "fp32" and device.type == "cuda"
    return BYTES_PER_PIXEL_PER_CHANNEL * model_info(model)[3] * (0.6 if reduced else 1)


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

    ``fast`` (the default) runs an inference copy of the network
    (:func:`~napari_unet.core.models.fused.inference_copy`: batch norm folded into the
    convolutions, channels-last memory layout), equal to the model's outputs to float
    rounding and about twice as fast on the CPU; the copy is made once per model, device and
    weights (a trained model gets a fresh one). ``fast=False`` runs the model as it is (the
    reference the benchmarks and tests compare with). ``on_device`` makes
    :func:`predict_region` normalise, cut, blend and activate on the device
    (:mod:`~napari_unet.core.inference.ondevice`); default: on every device but the CPU.
    ``timings``, a dict, collects seconds per stage (synchronising the GPU; benchmarks).
    """

    def __init__(
        self,
        model,
        device,
        precision: str,
        batch: int,
        flips: bool = False,
        fast: bool = True,
        on_device: bool | None = None,
    ) -> None:
        import torch

        self.model, self.device, self.flips = model, torch.device(device), bool(flips)
        self.head = head_of(model)
        self.dtype = autocast_dtype(self.device, precision)
        self.batch = max(1, int(batch))
        self.fast = bool(fast) and isinstance(model, torch.nn.Module)
        self.net = inference_network(model, self.device) if self.fast else model
        self.on_device = self.device.type != "cpu" if on_device is None else bool(on_device)
        self.timings: dict[str, float] | None = None

    def __call__(self, tiles: np.ndarray) -> np.ndarray:
        """Class probabilities (N, K, h, w) float32 for normalised tiles (N, C, H, W)."""
        import torch

        x = torch.from_numpy(np.ascontiguousarray(tiles, np.float32))
        return self.run(x.to(self.device)).cpu().numpy()

    def run(self, x):
        """Class probabilities (N, K, h, w) float32 of normalised tiles: a tensor, on its device."""
        import torch

        outs, i = [], 0
        with self.timer("network"):
            while i < len(x):
                chunk = x[i : i + self.batch]
                try:
                    outs.append(self._forward(torch, chunk))
                except torch.OutOfMemoryError as exc:
                    if self.device.type == "cuda":
                        torch.cuda.empty_cache()
                    if self.batch == 1:
                        raise InputError(
                            f"out of memory on {self.device} even for one tile of "
                            f"{x.shape[-2]}x{x.shape[-1]} pixels; choose a smaller tile"
                        ) from exc
                    self.batch //= 2
                    continue
                i += len(chunk)
            return outs[0] if len(outs) == 1 else torch.cat(outs)

    def _forward(self, torch, x):
        with torch.inference_mode():
            if self.fast:
                x = x.contiguous(memory_format=torch.channels_last)
            probs = activate(self._logits(torch, x).float(), self.head)
            if self.flips:
                for dims in ((2,), (3,), (2, 3)):
                    flipped = self._logits(torch, torch.flip(x, dims))
                    probs += torch.flip(activate(flipped.float(), self.head), dims)
                probs /= 4
        return probs.contiguous()

    def _logits(self, torch, x):
        if self.dtype is not None:
            with torch.autocast(self.device.type, dtype=self.dtype):
                return self.net(x)
        return self.net(x)

    @contextlib.contextmanager
    def timer(self, stage: str):
        """Add the seconds the block takes to ``timings[stage]`` (when timings are kept)."""
        if self.timings is None:
            yield
            return
        sync = _synchronize(self.device)
        sync()
        start = time.perf_counter()
        try:
            yield
        finally:
            sync()
            self.timings[stage] = self.timings.get(stage, 0.0) + time.perf_counter() - start


def _synchronize(device):
    """A function that waits for the device's queued work (nothing to wait for on the CPU)."""
    import torch

    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    if device.type == "mps":
        return torch.mps.synchronize
    return lambda: None


#: Per model (weakly held): (device, weights' identity and versions) -> its inference copy.
_NETWORKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def inference_network(model, device):
    """The model's :func:`~napari_unet.core.models.fused.inference_copy` on ``device``, cached.

    The copy is made again when the model's weights change (training steps bump the
    tensors' version counters; loading new weights replaces or bumps them; writes through
    ``p.data``, which bump no counter, change the :func:`weights_fingerprint`).
    """
    tensors = [*model.parameters(), *model.buffers()]
    key = (
        str(device),
        tuple((t.data_ptr(), t._version) for t in tensors),
        weights_fingerprint(tensors),
    )
    cached = _NETWORKS.get(model)
    if cached is not None and cached[0] == key:
        return cached[1]
    channels_last = device.type in ("cpu", "cuda")
    net = inference_copy(model, device, channels_last)
    _NETWORKS[model] = (key, net)
    return net


#: Elements of each tensor read by :func:`weights_fingerprint`.
FINGERPRINT_SAMPLES = 16


def weights_fingerprint(tensors: list) -> bytes:
    """A few evenly spaced elements of every tensor, as bytes (one transfer, no full copy).

    Before, weights changed through ``p.data`` (``p.data.mul_(0)``, weight surgery, EMA)
    went on predicting with the old inference copy. A change to none of the sampled
    elements is not seen (any whole-tensor write is). About 0.4 ms for the built-in model.
    """
    import torch

    if not tensors:
        return b""
    with torch.no_grad():
        parts = []
        for t in tensors:
            flat = t.detach().reshape(-1)
            step = max(1, flat.numel() // FINGERPRINT_SAMPLES)
            parts.append(flat[::step].to(tensors[0].device, torch.float32))  # MPS: no float64
        return torch.cat(parts).cpu().numpy().tobytes()


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
    returns ``(n_classes, region_h, region_w)`` probabilities. With ``runner.on_device`` the
    work runs on the runner's device (:func:`.ondevice.predict_region_on_device`), else here
    in numpy around the network.
    """
    hold = runner.fast and runner.device.type == "cpu"  # activations reused, not refaulted
    with keep_freed_memory() if hold else contextlib.nullcontext():
        if runner.on_device:
            return (yield from predict_region_on_device(
                source, origin, full_shape, region, plans, stats, runner, n_classes
            ))  # fmt: skip
        return (yield from _predict_region_here(source, origin, full_shape, region, plans,
                                                stats, runner, n_classes))  # fmt: skip


def _predict_region_here(
    source, origin, full_shape, region, plans, stats: Stats, runner: TileRunner, n_classes: int
) -> Generator[int, None, np.ndarray]:
    """:func:`predict_region` with numpy around the network."""
    grid = tiling.RegionTiles(plans, region, origin, full_shape, source.shape[1:])
    out = np.zeros((n_classes, *grid.shape), np.float32)
    for batch in grid.batches(runner.batch):
        with runner.timer("tiles"):
            x = np.empty((len(batch), source.shape[0], *grid.tile_shape), np.float32)
            for b, (i, j) in enumerate(batch):  # normalised (and clipped) in place
                stats.apply(grid.read(source, i, j), out=x[b])
        probs = runner(x)
        with runner.timer("stitch"):
            for (i, j), p in zip(batch, probs, strict=True):
                ys, xs, crop = grid.place(i, j)
                if grid.blended:
                    out[:, ys, xs] += p[crop] * grid.window(i, j)
                else:
                    out[:, ys, xs] = p[crop]
        yield len(batch)
    with runner.timer("stitch"):
        if grid.blended:
            out /= grid.weight_total()
    return out
