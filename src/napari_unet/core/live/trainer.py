"""Training while the user paints: one background thread that learns from every stroke.

:class:`LiveTrainer` fine-tunes a model on the annotations of one image plane, step after
step, for as long as it runs. The GUI hands it what changed (:meth:`LiveTrainer.update`: the
box a stroke touched, a copy of its labels) and asks for the prediction of what is in view
(:meth:`LiveTrainer.request_view`); everything else happens on the trainer's thread, between
two steps, so the network is never used by two threads at once:

- updates are applied (targets and weight maps recomputed in the box, :mod:`.data`) before the
  next step: a stroke is in the next batch (within 0.1-0.3 s on 2 CPU cores, default network);
- batches mix three kinds of crops (:class:`LiveSampler`): centred in the recently updated
  boxes (the newest most often), on pixels where the last prediction of the view disagreed
  with the annotations, and anywhere in the annotated region (nothing is forgotten);
- the view is predicted again when asked (the user panned or zoomed) or when the model has
  trained :attr:`LiveConfig.refresh_steps` steps since the last prediction; the result goes
  to ``on_view`` and its disagreements with the annotations steer the sampler.

Pause, resume and stop keep the model; :meth:`LiveTrainer.save` writes it at any moment.
Plain threads, no Qt: the callbacks are called from the trainer's thread.
"""

from __future__ import annotations

import copy
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from napari_unet.core.live.config import LiveConfig
from napari_unet.core.live.data import Box, LiveData, check_plane, other_pairs
from napari_unet.core.live.saved import file_metadata, start_metadata
from napari_unet.core.training.sampling import CropSampler

__all__ = ["LiveConfig", "LiveSampler", "LiveTrainer", "ViewResult"]


@dataclass(frozen=True)
class ViewResult:
    """A prediction of the view: labels of ``box`` and the step of the model that made it."""

    labels: np.ndarray
    box: Box
    step: int
    seconds: float


class LiveSampler(CropSampler):
    """Crops of a :class:`LiveData`: recent boxes, disagreements, then the whole region."""

    def __init__(
        self, data: LiveData, input_size: int, output_size: int, config: LiveConfig, others=()
    ):
        from napari_unet.core.training.augment import AugmentConfig

        self.data, self.config = data, config
        super().__init__([data.pair()], input_size, output_size, AugmentConfig())
        # the other annotated images: plain crops of their annotated regions
        self.others = CropSampler(list(others), input_size, output_size, AugmentConfig())

    def sample(self, rng: np.random.Generator) -> tuple:
        """One augmented crop, its centre chosen as the class text says."""
        pair = self.data.pair()
        if self.others.pairs and rng.random() < self.config.other_share:
            return self.others.sample(rng)
        u = rng.random()
        now = time.monotonic()
        recent = [b for t, b in self.data.recent if now - t < self.config.recent_s]
        if u < self.config.recent_share and recent:
            k = min(int(rng.exponential(2.0)), len(recent) - 1)  # the newest most often
            y0, y1, x0, x1 = recent[k]
            return self.crop(pair, int(rng.integers(y0, y1)), int(rng.integers(x0, x1)), rng)
        errors = self.data.errors
        if u < self.config.recent_share + self.config.error_share and len(errors):
            cy, cx = errors[int(rng.integers(len(errors)))]
            return self.crop(pair, int(cy), int(cx), rng)
        self.pairs = [pair]
        return super().sample(rng)


class LiveTrainer:
    """Fine-tunes ``model`` on the annotations of one plane, continuously, in a thread.

    Parameters
    ----------
    model : torch.nn.Module
        The start model (a copy is trained; the caller's is not changed).
    metadata : dict or None
        Its model-file metadata (normalisation, head, post-processing); None: the metadata
        a loaded ``model`` carries (:mod:`~napari_unet.core.models.carried`).
    raw : numpy.ndarray
        The plane, ``(C, H, W)`` as the model reads it (``C``: its input channels).
    config : LiveConfig, optional
    on_view, on_progress : callable, optional
        ``on_view(ViewResult)`` after each prediction of the view; ``on_progress(step,
        loss)`` every few steps.
    others : sequence of (image, labels), optional
        Other annotated images to train on at the same time (a share
        :attr:`LiveConfig.other_share` of the crops). Each image in any layout
        :func:`~napari_unet.core.training.pairs.make_pairs` takes, its labels 2D; what
        counts as annotated is what live painting marks: the labelled cells and a ring of
        :data:`~napari_unet.core.live.data.RING` pixels of background around each. Their
        targets are built on the trainer's thread before the first step.
    resume : LiveTrainer, optional
        A stopped run to continue (Stop, then Start on the same image): its trained
        weights, their average, its optimiser state and its step count are taken over
        (``model`` gives the network's shape), and its metadata (``metadata`` is not used:
        the weights are the stopped run's model). :attr:`start_step` says where it went on.
    """

    def __init__(
        self,
        model,
        metadata: dict | None,
        raw: np.ndarray,
        config: LiveConfig | None = None,
        on_view: Callable | None = None,
        on_progress: Callable | None = None,
        others=(),
        resume: LiveTrainer | None = None,
    ) -> None:
        import torch

        from napari_unet.core.live.view import view_precision
        from napari_unet.core.models.carried import carried
        from napari_unet.core.models.heads import head_of

        self.config = config or LiveConfig()
        self.view_precision = view_precision(self.config.view_precision)  # bad ones: here
        self.metadata = start_metadata(carried(model, metadata))  # the live run's own id
        if resume is not None:  # its own (continued weights are that run's model)
            self.metadata = copy.deepcopy(resume.metadata)
        check_plane(raw, int(model.in_channels))  # not a dead thread later
        # channels_last: the view's prediction takes 0.70 s instead of 1.28 s for 1024 x 1024
        # with the built-in network on 2 CPU cores (training steps about 10% faster too)
        self.model = copy.deepcopy(model).cpu().train().to(memory_format=torch.channels_last)
        self.average = copy.deepcopy(self.model).eval()  # what is shown and saved
        self.head = head_of(self.model)
        self.data = LiveData(raw, self.metadata.get("normalization"), self.head)
        self.on_view, self.on_progress = on_view, on_progress
        self._opt = torch.optim.Adam(self.model.parameters(), lr=self.config.lr)
        self._updates: queue.Queue = queue.Queue()
        self._view: Box | None = None
        self._view_forced = False
        self._cond = threading.Condition()
        self._model_lock = threading.Lock()  # held by a step or a prediction of the view
        self._paused = self._stopped = False
        self.error: Exception | None = None  # what ended the thread, if not stop()
        self.step = 0
        self.last_view_step = -1
        self.loss: float | None = None
        self.applied_at: dict[int, float] = {}  # update id -> when training first used it
        self._next_id = 0
        self._sampler = None
        self._others = list(others)
        self.other_pairs: list = []  # built on the thread
        self._rng = np.random.default_rng(self.config.seed)
        self.start_step = 0  # the steps of the run continued (resume)
        if resume is not None:  # its model, optimiser, steps and annotated background
            from napari_unet.core.live.resume import take_over

            take_over(self, resume)
        self._thread = threading.Thread(target=self._run, name="napari-unet live", daemon=True)
        self._thread.start()

    # -- called by the GUI ------------------------------------------------------------------
    def update(
        self, box: Box, labels: np.ndarray, mask: np.ndarray | None = None, undone=False
    ) -> int:
        """Hand over what a stroke (or an undo: ``undone``) changed, as copies; the update's id."""
        box = self.data.checked(box, labels, mask, undone)  # wrong: raises here, not on the thread
        with self._cond:
            uid = self._next_id
            self._next_id += 1
            self._updates.put((uid, time.monotonic(), box, labels, mask, undone))
            self._cond.notify_all()
        return uid

    def set_region(self, region: np.ndarray) -> int:
        """Hand over the areas marked as annotated (a copy of the whole plane's mask).

        Painted cells stay annotated whatever the region; of several regions queued before
        the thread takes them, only the newest is applied. Returns the update's id.
        """
        return self.update(None, np.array(region))  # checked there: shape, dtype

    @property
    def last_update(self) -> int:
        """The id of the latest update handed over (-1: none yet)."""
        return self._next_id - 1

    def request_view(self, box: Box, force: bool = True) -> None:
        """Predict ``box`` (the view plus its halo) soon: now if ``force``, else when due."""
        with self._cond:
            self._view = self.data.checked(box)
            self._view_forced = self._view_forced or force
            self._cond.notify_all()

    def pause(self) -> None:
        """Stop taking steps (updates and view requests are still handled)."""
        with self._cond:
            self._paused = True

    def resume(self) -> None:
        """Take steps again."""
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    @property
    def paused(self) -> bool:
        """Whether training is paused."""
        return self._paused

    def stop(self, timeout: float = 30.0) -> bool:
        """End the thread after the current step; True if it ended. The model is kept."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        """Whether the thread runs (not stopped)."""
        return self._thread.is_alive()

    def snapshot(self):
        """A copy of the model as trained so far (eval mode, CPU), carrying what save writes.

        Before, the copy carried the start file's metadata.
        """
        import torch

        from napari_unet.core.models.carried import attach

        with self._model_lock:  # not in the middle of a step
            model = copy.deepcopy(self.average).eval()
            meta = file_metadata(self.metadata, self.step, self.config.lr)
        model = model.to(memory_format=torch.contiguous_format)  # as model files store it
        return attach(model, meta)

    def save(self, path) -> object:
        """Write the model trained so far to a model file (atomically); returns the path."""
        from napari_unet.core.models.carried import carried
        from napari_unet.core.models.modelfile import save_model

        model = self.snapshot()
        return save_model(path, model, **carried(model))

    # -- the thread -------------------------------------------------------------------------
    def _run(self) -> None:
        from napari_unet.core.device import keep_freed_memory

        try:
            with keep_freed_memory():  # steps reuse the memory freed by the step before
                self._loop()
        except Exception as exc:  # noqa: BLE001 - shown by the GUI; the model is kept
            self.error = exc

    def _loop(self) -> None:
        while True:
            with self._cond:  # held only to wait: the GUI's calls never wait for a step
                while not self._stopped and not self._has_work():
                    self._cond.wait(0.2)
                if self._stopped:
                    return
                view = self._due_view()
                train = not self._paused
            with self._model_lock:
                self._apply_updates()
                if view is not None:
                    self._predict_view(view)
                if train and self.data.annotated:
                    self._train_step()

    def _has_work(self) -> bool:
        if not self._updates.empty() or self._view_forced:
            return True
        return not self._paused and self.data.annotated

    def _apply_updates(self) -> None:
        queued = []  # in order; of the regions (a whole plane's mask each) only the newest
        while not self._updates.empty():
            queued.append(self._updates.get_nowait())
        last = max((k for k, u in enumerate(queued) if u[2] is None), default=-1)
        for k, (uid, _t, box, labels, mask, undone) in enumerate(queued):
            if box is not None:
                self.data.update(box, labels, mask, undone)
            elif k == last:  # it replaces the regions queued before it (a drag queued many)
                self.data.set_region(labels)
            self.applied_at[uid] = time.monotonic()

    def _due_view(self) -> Box | None:
        if self._view is None:
            return None
        due = self.step - self.last_view_step >= self.config.refresh_steps
        if self._view_forced or (due and self.data.annotated):
            self._view_forced = False
            return self._view
        return None

    def _predict_view(self, box: Box) -> None:
        from napari_unet.core.inference.plan import Predictor
        from napari_unet.core.inference.postprocess import Postprocess
        from napari_unet.core.live.view import view_labels, view_probabilities

        t0 = time.perf_counter()
        y0, y1, x0, x1 = box
        predictor = Predictor(  # the plane as training reads it: its light kept
            self.average, metadata=self.metadata, channel_axis=0,
            precision=self.view_precision, background="keep",
        )  # fmt: skip
        post = Postprocess.for_model(self.metadata)
        region = ((y0, y1), (x0, x1))
        probs = view_probabilities(predictor, self.data.raw, region, lambda: self._stopped)
        if probs is None:
            return
        labels = view_labels(predictor, probs, post, self.metadata)
        self.data.set_errors((y0, x0), labels, self._rng)
        self.last_view_step = self.step
        if self.on_view is not None:
            self.on_view(ViewResult(labels, box, self.step, time.perf_counter() - t0))

    def _sampler_for(self):
        if self._sampler is None:
            import torch

            from napari_unet.core.training.config import TrainConfig
            from napari_unet.core.training.setup import crop_sizes

            cfg = TrainConfig(crop_size=self.config.crop_size)
            s_in, s_out = crop_sizes(self.model, cfg, torch.device("cpu"))
            self.other_pairs = other_pairs(self._others, self.metadata, self.model, self.head)
            self._sampler = LiveSampler(self.data, s_in, s_out, self.config, self.other_pairs)
        return self._sampler

    def _average(self) -> None:
        # The first steps count more (as in Adam's bias correction): no long lag at start.
        decay = min(self.config.ema, (1 + self.step) / (10 + self.step))
        _ema(self.average, self.model, decay)

    def _train_step(self) -> None:
        import torch

        from napari_unet.core.training.losses import head_loss

        batch = self._sampler_for().batch(self.config.batch_size, self._rng)
        x, tgt, w = (torch.from_numpy(batch[k]) for k in ("image", "target", "weights"))
        extra = torch.from_numpy(batch["extra"]) if "extra" in batch else None
        out = self.model(x)
        loss = head_loss(out, tgt, w, extra, 0.0, self.head)
        self._opt.zero_grad(set_to_none=True)
        loss.backward()
        self._opt.step()
        self._average()
        self.step += 1
        self.loss = float(loss.detach())
        if self.on_progress is not None and self.step % 5 == 0:
            self.on_progress(self.step, self.loss)


def _ema(average, model, decay: float) -> None:
    """``average = decay * average + (1 - decay) * model``; buffers (batch norm) copied."""
    import torch

    with torch.no_grad():
        for a, p in zip(average.parameters(), model.parameters(), strict=True):
            a.mul_(decay).add_(p, alpha=1.0 - decay)
        for a, b in zip(average.buffers(), model.buffers(), strict=True):
            a.copy_(b)
