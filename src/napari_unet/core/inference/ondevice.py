"""Tiled prediction with the work on the device: upload, normalise, cut, blend, activate.

On a GPU the numpy path of :func:`~napari_unet.core.inference.runner.predict_region` keeps
the GPU waiting: the host normalises and cuts every tile, copies it over, waits for the
probabilities and stitches them. Here the host only copies the raw pixels into pinned memory,
strip by strip: each strip goes over on a side CUDA stream (``non_blocking``) and is
normalised there while the tiles of the strips before it are computed; tiles are cut from
the block by indexing on the device (mirrored edges included), run in batches, and their
probabilities (softmax/sigmoid on the device) are blended into a device array that comes
back to the host once. The same code runs on CPU tensors (no stream, no pinned memory, no
copy of the source), which is how the tests check it equals the numpy path.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator

import numpy as np

from napari_unet.core.images.normalize import Stats, working_dtype
from napari_unet.core.inference import tiling

__all__ = ["DeviceBlock", "predict_region_on_device"]

#: Bytes of raw pixels per upload strip: small enough that the first tiles start early.
STRIP_BYTES = 16 << 20


def _torchable(source: np.ndarray) -> tuple[np.ndarray, int | None]:
    """``source`` as a dtype every torch device converts, and the mask that restores it.

    16- and 32-bit unsigned pixels go over as they are, viewed as signed (no copy, no wider
    transfer) and are restored on the device by widening and masking the sign bits away.
    Pixels in the other byte order (big-endian files) are swapped first: torch reads only
    its own, and viewed as signed their bytes would be read the wrong way round.
    """
    if not source.dtype.isnative:
        source = source.astype(source.dtype.newbyteorder("="))
    kind, size = source.dtype.kind, source.dtype.itemsize
    if kind == "u" and size in (2, 4):
        return source.view(np.int16 if size == 2 else np.int32), (1 << 8 * size) - 1
    if kind not in "biuf" or (kind in "uf" and size > 4 and source.dtype != np.float64):
        return source.astype(np.float64), None
    return source, None


class DeviceBlock:
    """A ``(C, h, w)`` block of raw pixels, normalised on ``device`` strip by strip on demand.

    :meth:`rows` makes sure rows ``[0, stop)`` are on the device and normalised (and the
    next strip is on its way), then returns the float32 ``(C, h, w)`` tensor.
    """

    def __init__(self, source: np.ndarray, device, stats: Stats) -> None:
        import torch

        self.torch, self.device = torch, device
        if min(source.strides, default=0) < 0:  # torch reads any view but a flipped one
            source = np.ascontiguousarray(source)
        # Wide pixels on a large offset: subtracted in float64 (see working_dtype), where
        # the device has it (Apple's MPS has not).
        wide = working_dtype(source.dtype) is np.float64 and device.type != "mps"
        self.work = torch.float64 if wide else torch.float32
        self.source, self.mask = _torchable(source)
        c, h, w = self.source.shape
        self.cuda = device.type == "cuda"
        self.stream = torch.cuda.Stream(device) if self.cuda else None
        self.off = torch.tensor(stats.offset, dtype=self.work, device=device)[:, None, None]
        self.scale = torch.tensor(stats.scale, dtype=self.work, device=device)[:, None, None]
        self.low, self.high = float(stats.low), float(stats.high)
        self.data = torch.empty((c, h, w), dtype=torch.float32, device=device)
        step = max(1, STRIP_BYTES // max(1, c * w * self.source.itemsize))
        self.strips = [(a, min(a + step, h)) for a in range(0, h, step)]
        self.sent, self.events = 0, []

    def rows(self, stop: int):
        """The normalised block, with at least rows ``[0, stop)`` ready for the main stream."""
        need = next((k for k, (_, b) in enumerate(self.strips) if b >= stop), len(self.strips) - 1)
        while self.sent <= min(need + 1, len(self.strips) - 1):
            self._send(*self.strips[self.sent])
            self.sent += 1
        if self.cuda:
            self.torch.cuda.current_stream(self.device).wait_event(self.events[need])
        return self.data

    def finish(self) -> None:
        """Make the main stream wait for every strip sent (before the block may be freed)."""
        if self.cuda and self.events:
            self.torch.cuda.current_stream(self.device).wait_event(self.events[-1])

    def _send(self, a: int, b: int) -> None:
        torch = self.torch
        host = torch.from_numpy(self.source[:, a:b])
        if not self.cuda:  # on the CPU no copy: the block is read where it lies
            self._normalise(host.to(self.device), a, b)
            return
        pinned = torch.empty(host.shape, dtype=host.dtype, pin_memory=True)
        pinned.copy_(host)
        self.stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(self.stream):
            self._normalise(pinned.to(self.device, non_blocking=True), a, b)
            event = torch.cuda.Event()
            event.record(self.stream)
        self.events.append(event)

    def _normalise(self, raw, a: int, b: int) -> None:
        """Rows ``[a, b)`` of the block from their raw pixels: ``(x - offset) / scale``, float32."""
        torch = self.torch
        if self.mask is not None:  # unsigned pixels viewed as signed: widen, drop the sign
            raw = raw.to(torch.int32 if self.mask == 0xFFFF else torch.int64) & self.mask
        if self.work is torch.float32:
            torch.sub(raw.to(torch.float32), self.off, out=self.data[:, a:b])
            self.data[:, a:b] /= self.scale
        else:  # divided before the cast: a float64 image of tiny values (Stats.apply)
            self.data[:, a:b] = torch.sub(raw.to(self.work), self.off) / self.scale
        if self.high > 0:  # bright specks and dark outliers (Stats.apply)
            self.data[:, a:b].clamp_(min=self.low, max=self.high)


def predict_region_on_device(
    source: np.ndarray,
    origin: tuple[int, int],
    full_shape: tuple[int, int],
    region,
    plans,
    stats: Stats,
    runner,
    n_classes: int,
) -> Generator[int, None, np.ndarray]:
    """:func:`~napari_unet.core.inference.runner.predict_region` with the work on ``runner.device``.

    Same arguments, progress and result (numpy ``(n_classes, h, w)`` float32). The raw
    pixels go over once; everything after that (normalisation, tiles, mirrored edges,
    network, activation, blending) runs on the device; only the result comes back.
    """
    import torch

    device = runner.device
    grid = tiling.RegionTiles(plans, region, origin, full_shape, source.shape[1:])
    with runner.timer("upload"):
        block = DeviceBlock(source, device, stats)
        index = [[_on(torch, ix, device) for ix in axis] for axis in grid.index]
        last = [_last_row(ix) for ix in grid.index[0]]
        fades = [[_on(torch, t.weights, device) for t in ts] for ts in (grid.ytiles, grid.xtiles)]
        out = torch.zeros((n_classes, *grid.shape), dtype=torch.float32, device=device)
    for batch in grid.batches(runner.batch):
        with runner.timer("upload"):
            data = block.rows(max(last[i] for i, _ in batch))
        with runner.timer("tiles"):
            x = torch.stack([data[:, index[0][i]][:, :, index[1][j]] for i, j in batch])
        probs = runner.run(x)
        with runner.timer("stitch"):
            for (i, j), p in zip(batch, probs, strict=True):
                ys, xs, crop = grid.place(i, j)
                if grid.blended:  # the same window as the numpy path, made on the device
                    out[:, ys, xs] += p[crop] * (fades[0][i][:, None] * fades[1][j][None, :])
                else:
                    out[:, ys, xs] = p[crop]
        yield len(batch)
    with runner.timer("stitch"):
        block.finish()
        if grid.blended:
            out /= torch.from_numpy(grid.weight_total()).to(device)
    with runner.timer("download"):
        return _to_host(torch, out)


def _on(torch, array, device):
    """An index or window on the device: slices and None stay as they are."""
    if array is None or isinstance(array, slice):
        return array
    return torch.from_numpy(array).to(device)


def _last_row(index) -> int:
    """One past the last block row a tile index reads."""
    return index.stop if isinstance(index, slice) else int(index.max()) + 1


def _to_host(torch, out) -> np.ndarray:
    """The device array as numpy (one transfer; the CPU tensor itself when on the CPU)."""
    if out.device.type == "cpu":
        return out.numpy()
    with contextlib.suppress(RuntimeError):  # pinned memory may be refused: plain copy below
        host = torch.empty(out.shape, dtype=out.dtype, pin_memory=True)
        host.copy_(out, non_blocking=True)
        torch.cuda.current_stream(out.device).synchronize()
        return np.array(host.numpy())
    return out.cpu().numpy()
