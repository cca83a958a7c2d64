"""Random augmented training crops, and batches prepared ahead in a thread.

:class:`CropSampler` draws crops of a size the network accepts from
:class:`~napari_unet.core.training.pairs.TrainPair` s, biased towards annotated cells, with the
augmentation of :mod:`napari_unet.core.training.augment`; :class:`BatchPrefetcher` prepares batches
ahead in daemon threads so data preparation overlaps the training step.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

import numpy as np

from napari_unet.core.training import augment as aug
from napari_unet.core.training.pairs import TrainPair


class CropSampler:
    """Random augmented crops of the training pairs.

    Parameters
    ----------
    pairs : list of TrainPair
        Training data.
    input_size, output_size : int
        Crop side fed to the network and the side of its output (equal for "same"
        padding; the target is the central ``output_size`` window of the input crop).
    augment : AugmentConfig
        Augmentation settings (``NO_AUGMENT`` for none).
    fg_bias : float
        Probability that a crop is centred on an annotated cell pixel; otherwise it is
        centred on a random pixel of the annotated region.
    """

    def __init__(
        self,
        pairs: list[TrainPair],
        input_size: int,
        output_size: int,
        augment: aug.AugmentConfig = aug.NO_AUGMENT,
        fg_bias: float = 0.7,
    ) -> None:
        self.pairs = pairs
        self.input_size = int(input_size)
        self.output_size = int(output_size)
        self.augment = augment
        self.fg_bias = float(fg_bias)
        area = np.array([max(p.region_index.size, 1) for p in pairs], np.float64)
        self._p = area / area.sum()

    def draw_center(self, rng: np.random.Generator) -> tuple[int, int, int]:
        """A random pair index and the crop centre ``(row, col)`` in it (see ``fg_bias``)."""
        k = int(rng.choice(len(self.pairs), p=self._p))
        pair = self.pairs[k]
        idx = pair.fg_index if (pair.fg_index.size and rng.random() < self.fg_bias) else None
        if idx is None:
            idx = pair.region_index if pair.region_index.size else np.arange(pair.labels.size)
        cy, cx = np.unravel_index(int(idx[rng.integers(idx.size)]), pair.shape)
        return k, int(cy), int(cx)

    def top_left(self, cy: int, cx: int, rng: np.random.Generator) -> tuple[int, int]:
        """The first pixel of a crop centred near ``(cy, cx)`` (jittered by up to 2 px)."""
        s = self.input_size
        return int(cy - s // 2 + rng.integers(-2, 3)), int(cx - s // 2 + rng.integers(-2, 3))

    def sample(self, rng: np.random.Generator) -> tuple:
        """One crop: image ``(C, S, S)`` float32, target, weights and extra ``(O, O)``.

        ``extra`` is the pair's regression target resampled (linear), or None.
        """
        k, cy, cx = self.draw_center(rng)
        return self.crop(self.pairs[k], cy, cx, rng)

    def crop(self, pair: TrainPair, cy: int, cx: int, rng: np.random.Generator) -> tuple:
        """The augmented crop of ``pair`` centred near ``(cy, cx)`` (as :meth:`sample`)."""
        s, o = self.input_size, self.output_size
        grid = aug.sampling_grid(self.top_left(cy, cx, rng), s, self.augment, rng)
        image = aug.resample(pair.coeffs, grid, order=3, prefiltered=True)
        h = (s - o) // 2
        inner = grid[:, h : h + o, h : h + o]
        target = aug.resample(pair.target, inner, order=0)
        weights = aug.resample(pair.weights, inner, order=1)
        np.maximum(weights, 0, out=weights)
        # Weight 0 where the target was read from an unannotated pixel: interpolated, the
        # weights of a warped crop reached across a region's edge (its uncorrected labels).
        weights *= aug.resample((pair.weights > 0).view(np.uint8), inner, order=0)
        extra = None if pair.extra is None else aug.resample(pair.extra, inner, order=1)
        image = aug.augment_intensity(image, self.augment, rng)
        return image, target, weights, extra

    def batch(self, batch_size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """A batch: ``image`` (B, C, S, S), ``target`` (B, O, O) int64, ``weights``.

        Pairs with a regression target add ``extra`` (B, O, O) float32.
        """
        crops = [self.sample(rng) for _ in range(batch_size)]
        batch = {
            "image": np.stack([c[0] for c in crops]),
            "target": np.stack([c[1] for c in crops]).astype(np.int64),
            "weights": np.stack([c[2] for c in crops]),
        }
        if crops[0][3] is not None:
            batch["extra"] = np.stack([c[3] for c in crops]).astype(np.float32)
        return batch


class BatchPrefetcher:
    """Prepare batches ahead in daemon threads (bounded queues), reproducibly.

    Batch ``i`` is drawn with ``numpy.random.default_rng([seed, i])``, so the sequence of
    batches is the same whether it is prepared inline or by any number of threads.

    Parameters
    ----------
    sampler : CropSampler
        The crop source.
    batch_size : int
        Crops per batch.
    seed : int
        Base seed.
    start : int
        Index of the first batch (the step a resumed run continues from).
    depth : int
        Batches each thread prepares ahead; 0 prepares each batch inline when asked (no
        thread).
    workers : int
        Preparation threads. Thread ``k`` makes batches ``start + k``, ``start + k +
        workers``, ...; :meth:`get` takes them in order. SciPy's resampling releases the
        GIL, so more threads help when one cannot keep up with a fast GPU.
    """

    def __init__(
        self,
        sampler: CropSampler,
        batch_size: int,
        seed: int,
        start: int = 0,
        depth: int = 2,
        workers: int = 1,
    ) -> None:
        self.sampler, self.batch_size, self.seed = sampler, batch_size, seed
        self._start = self._next = start
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._queues: list[queue.Queue] = []
        if depth > 0:
            n = max(int(workers), 1)
            for k in range(n):
                q: queue.Queue = queue.Queue(maxsize=depth)
                t = threading.Thread(
                    target=self._run, args=(start + k, n, q), name=f"napari-unet-batches-{k}",
                    daemon=True,
                )  # fmt: skip
                self._queues.append(q)
                self._threads.append(t)
            for t in self._threads:
                t.start()

    def _make(self, i: int) -> dict[str, np.ndarray]:
        return self.sampler.batch(self.batch_size, np.random.default_rng([self.seed, i]))

    def _run(self, i: int, every: int, out: queue.Queue) -> None:
        while not self._stop.is_set():
            try:
                item: Any = self._make(i)
            except BaseException as exc:  # hand the error to the consumer
                item = exc
            while not self._stop.is_set():
                try:
                    out.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if isinstance(item, BaseException):
                return
            i += every

    def get(self) -> dict[str, np.ndarray]:
        """The next batch (waits for its thread if it is behind)."""
        if not self._threads:
            batch = self._make(self._next)
            self._next += 1
            return batch
        k = (self._next - self._start) % len(self._threads)
        while True:
            try:
                item = self._queues[k].get(timeout=0.5)
                break
            except queue.Empty:
                if not self._threads[k].is_alive():
                    raise RuntimeError("the batch preparation thread ended unexpectedly") from None
        self._next += 1
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self) -> None:
        """Stop the threads and wait for them (at most a few seconds each)."""
        self._stop.set()
        for t in self._threads:
            t.join(timeout=5)
