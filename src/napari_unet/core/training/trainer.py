"""The trainer: a generator of typed progress events that returns the trained model.

:func:`iter_train` yields :class:`~napari_unet.core.training.events.TrainStarted`, throttled
:class:`~napari_unet.core.training.events.TrainStep` events (a few per second at most),
``Evaluation``, ``Checkpoint`` and ``Preview`` events, and returns a
:class:`~napari_unet.core.training.events.TrainResult`; :func:`train` drains it for scripts.
The GUI runs it in a napari thread worker, the command line behind a progress bar.

Stop is cooperative: ``stop`` (a ``threading.Event`` or a callable) is checked before every
step and between validation tiles; the generator then returns with the weights as trained
so far (a validation pass cut short records no score). A result (or
the model file written with its optimiser state) resumes where it stopped. Ctrl-C (a
``KeyboardInterrupt``) in a script or notebook saves as a stop does, then is raised again.
"""

from __future__ import annotations

import copy
import time
import uuid
import warnings
from collections.abc import Callable, Generator
from dataclasses import replace
from pathlib import Path
from typing import Any

from napari_unet.core.errors import InputError
from napari_unet.core.files import check_outputs
from napari_unet.core.models.heads import head_of
from napari_unet.core.models.pretrained import resolve_model
from napari_unet.core.progress import drain
from napari_unet.core.training.checkpoint import (
    best_path,
    check_model_name,
    load_resume,
    optimizer_path,
    save_snapshot,
    with_start_normalization,
)
from napari_unet.core.training.config import TrainConfig, learning_rate
from napari_unet.core.training.datarecord import record_data
from napari_unet.core.training.events import (
    Checkpoint,
    Evaluation,
    TrainResult,
    TrainStarted,
    TrainStep,
)
from napari_unet.core.training.lr_choice import choose_lr, recommended_postprocess
from napari_unet.core.training.output_claim import claimed
from napari_unet.core.training.pairs import TrainPair, for_head
from napari_unet.core.training.run_loop import run_all
from napari_unet.core.training.sampling import BatchPrefetcher
from napari_unet.core.training.setup import (
    Stop,
    batch_workers,
    check_config,
    check_pairs,
    check_stop,
    crop_sizes,
    init_model,
    make_optimizer,
    make_sampler,
    no_holdout_beside,
    start_file,
    step_random,
)

__all__ = ["batch_workers", "iter_train", "train"]


class _Run:
    """The state of one training run: model, optimiser, sampler, history, best weights."""

    def __init__(self, pairs, config: TrainConfig, val, init, resume, output, stop) -> None:
        import torch

        from napari_unet.core.device import autocast_dtype, choose_device, describe_device
        from napari_unet.core.training.datarecord import fingerprint
        from napari_unet.core.training.validation import split_holdout

        config = no_holdout_beside(config, val)
        self.model, source = init_model(config, pairs[0].image.shape[0], init, resume)
        # The network trained, not the preset asked for: a fine-tuned or resumed network
        # keeps its own (before, provenance named the default preset's architecture).
        config = replace(config, model=copy.deepcopy(dict(self.model.config)))
        self.config = config
        self.head = head_of(self.model)  # the targets follow the network's head
        settings = (self.head, config.w0, config.sigma, config.gap, config.normalization)
        pairs = for_head(pairs, *settings)
        val = None if val is None else for_head(val, *settings)
        annotated = pairs
        if val is None:
            pairs, val = split_holdout(pairs, config.val_fraction)
        self.pairs, self.val = pairs, val
        self.device = choose_device(config.device)
        self.s_in, self.s_out = crop_sizes(self.model, config, self.device)
        precision = config.precision
        if precision == "auto":
            precision = "fp16" if self.device.type == "cuda" else "fp32"
        self.amp_dtype = autocast_dtype(self.device, precision)
        self.model.to(self.device).train()
        # Before the first step: the rate (fine-tuning scores the start model on `annotated`;
        # a stop meanwhile ends the scoring, and the run before its first step).
        self.lr = choose_lr(config, self.model, annotated, self.device, init=init,
                            resume=resume, stop=stop)  # fmt: skip
        self.opt = make_optimizer(config, self.model, self.lr.lr)
        self.scaler = torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None
        self.step, self.stopped = 0, False
        # Fine-tuning is scored from step 0: the start model is the best until beaten, with
        # the post-processing its file recommends (as the user would get it).
        self.fine_tunes = init is not None and resume is None
        self.start_post = recommended_postprocess(init) if self.fine_tunes else None
        self.run_id = uuid.uuid4().hex
        self.history: dict = {"train": [], "val": []}
        self.best_metrics, self.best_state, self._start_best = None, None, None
        if resume is not None:
            self._continue(resume)
        self.start = self.step
        self.val_data = fingerprint(val)
        seen = (self.best_metrics or {}).get("val_data", self.val_data)
        if seen != self.val_data and val:  # without validation, the best so far stays
            # Scores on other validation data (the annotations were corrected or extended)
            # cannot be compared: the best of this run starts afresh, and says so.
            msg = "validation differs from the run's first part: the best model starts over"
            warnings.warn(msg, UserWarning, stacklevel=2)
            self.best_metrics, self.best_state = None, None
        self.deep = bool(self.model.config.get("deep_supervision", False))
        self.output = Path(output) if output is not None else None
        self.device_name = describe_device(self.device)
        self.meta = {
            "normalization": dict(config.normalization),
            "separation_gap": config.gap,
            "provenance": {
                "trained_by": "napari-unet train",
                "source": source,
                "config": config.to_dict(),
                "lr": self.lr.lr,
                "lr_reason": self.lr.reason,
                "start_ap50": self.lr.start_ap50,
                "device": self.device_name,
                "run_id": self.run_id,  # which run wrote a file (checkpoint.drop_replaced)
            },
        }
        record_data(self.meta, pairs, val, resume)  # its data (every part's), size, background
        self._loss, self._n, self._images = None, 0, 0
        self._t0 = self._last = time.perf_counter()

    def _continue(self, resume: TrainResult) -> None:
        if resume.optimizer_state and resume.config.optimizer == self.config.optimizer:
            try:
                self.opt.load_state_dict(copy.deepcopy(resume.optimizer_state))
            except (ValueError, KeyError, RuntimeError) as exc:
                raise InputError(
                    f"the saved optimiser state does not fit this model ({exc}); continue "
                    "from the weights with --init (fine-tune) instead of --resume"
                ) from None
        self.run_id = resume.run_id or self.run_id
        self.step = resume.steps_done
        self.history = copy.deepcopy(resume.history)
        # Without the best weights in hand (no NAME.best beside a resumed file holds them)
        # the run's best starts afresh rather than name weights it cannot give.
        if resume.best_state is not None:
            self.best_metrics, self.best_state = resume.best_metrics, resume.best_state

    def started(self) -> TrainStarted:
        """The first event of the run."""
        c, n = self.config, (len(self.pairs), len(self.val))
        cells = [sum(p.n_cells for p in group) for group in (self.pairs, self.val)]
        return TrainStarted(self.step, c.steps, self.device_name, self.s_in, self.s_out, *n,
                            self.lr.lr, self.lr.reason, *cells)  # fmt: skip

    def prefetcher(self) -> BatchPrefetcher:
        """Batches of augmented crops, prepared ahead in threads."""
        c = self.config
        sampler, workers = make_sampler(c, self.pairs, self.s_in, self.s_out, self.device)
        return BatchPrefetcher(sampler, c.batch_size, c.seed, self.step, c.prefetch, workers)

    def train_step(self, batch: dict) -> TrainStep | None:
        """One optimisation step; a (throttled) progress event, or None."""
        import torch

        from napari_unet.core.training.device_sampling import as_device_tensor
        from napari_unet.core.training.losses import head_loss

        step = self.step + 1  # counted once the weights moved (an interrupt saves as done)
        lr = learning_rate(self.config, step, self.lr.lr)
        for g in self.opt.param_groups:
            g["lr"] = lr
        x, tgt, w, extra = (
            as_device_tensor(batch[k], self.device) if k in batch else None
            for k in ("image", "target", "weights", "extra")
        )
        amp = self.amp_dtype
        random = step_random(self.model, self.config.seed, step, self.device)
        with random, torch.autocast(self.device.type, dtype=amp, enabled=amp is not None):
            out = self.model.forward_all(x) if self.deep else self.model(x)
        loss = head_loss(out, tgt, w, extra, self.config.dice_weight, self.head)
        self.opt.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.opt)
            self.scaler.update()
        else:
            loss.backward()
            self.opt.step()
        self.step = step
        self._loss = loss.detach() if self._loss is None else self._loss + loss.detach()
        self._n += 1
        self._images += self.config.batch_size
        return self._step_event(lr)

    def _step_event(self, lr: float) -> TrainStep | None:
        now, steps = time.perf_counter(), self.config.steps
        if now - self._last < self.config.event_interval and self.step not in (1, steps):
            return None
        rate = self._images / max(now - self._last, 1e-9)
        ev = TrainStep(self.step, steps, float(self._loss) / self._n, lr, rate, now - self._t0)
        self.history["train"].append({"step": self.step, "loss": ev.loss, "lr": lr})
        self._loss, self._n, self._images, self._last = None, 0, 0, time.perf_counter()
        return ev

    def validate(self, preview, stop=None) -> Generator[Any, None, None]:
        """Evaluate on the validation pairs, keep the best weights, refresh the preview."""
        from napari_unet.core.training.validation import better, evaluate_pairs, preview_event

        started = time.perf_counter()
        if self.val:
            own = {} if self.step or not self.start_post else {"postprocess": self.start_post}
            meta = self.meta | own  # the start model (step 0) with its own post-processing
            norm = self.config.normalization
            metrics = evaluate_pairs(self.model, self.val, norm, self.device, meta, stop)
            if metrics is None:  # a stop cut it short: no score, no best, no preview
                self.stopped = True
                return
            self.history["val"].append({"step": self.step, **metrics})
            yield Evaluation(self.step, metrics)
            if better(metrics, self.best_metrics):
                self.best_metrics = {"step": self.step, **metrics, "val_data": self.val_data}
                self.best_metrics |= own  # best_metadata() hands it on with the weights
                self.best_state = {
                    k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()
                }
                # The start model's score (step 0) is written once a step has trained:
                # a run stopped before it replaced an earlier run's NAME.best with it.
                self._start_best = meta if self.step == self.start else None
                if self.output is not None and self._start_best is None:
                    yield from self._save_best(self.model, meta)
        shown = None if preview is None else preview_event(
            self.model, preview, self.step, self.config, self.device, stop)  # fmt: skip
        if shown is not None:
            yield shown
        # Steps' time only: reset here, the progress throttle and img/s saw no steps at all
        # when validation came every few fast steps (frozen at step 1; 10,870 img/s).
        self._last += time.perf_counter() - started

    def save_start_best(self) -> Generator[Checkpoint, None, None]:
        """Write the start model's best (step 0) once a step has trained and none beat it."""
        meta, self._start_best = self._start_best, None
        if meta is None or self.output is None or self.step == self.start:
            self._start_best = meta
            return
        from napari_unet.core.models import build_model

        model = build_model(dict(self.model.config))  # the best weights, on the CPU
        model.load_state_dict(self.best_state)
        yield from self._save_best(model, meta)

    def _save_best(self, model, meta: dict) -> Generator[Checkpoint, None, None]:
        """Write the best weights beside the output; if that fails, warn and go on.

        The best weights stay in memory (``best_model()``); the end of the run still saves
        the last ones, to the output or a fallback file.
        """
        path, step = best_path(self.output), self.best_metrics["step"]
        try:
            save_snapshot(path, model, meta, step, self.best_metrics)
        except (OSError, InputError) as exc:
            warnings.warn(
                f"could not save the best model of step {step} to {path} ({exc}); "
                "training goes on and keeps it in memory",
                RuntimeWarning,
                stacklevel=2,
            )
            return
        yield Checkpoint(step, path, "best")

    def result(self) -> TrainResult:
        """The trained model (CPU, eval mode) and everything needed to resume."""
        self.model.eval()
        self.meta["provenance"]["steps"] = self.step
        last = self.history["val"][-1] if self.history["val"] else None
        self.meta["metrics"] = {"best": self.best_metrics, "last": last}
        return TrainResult(
            model=self.model.cpu(),
            history=self.history,
            best_metrics=self.best_metrics,
            steps_done=self.step,
            stopped=self.stopped,
            config=self.config,
            metadata=self.meta,
            optimizer_state=copy.deepcopy(self.opt.state_dict()),  # a snapshot, not shared
            best_state=self.best_state,
            run_id=self.run_id,
        )


def iter_train(
    pairs: list[TrainPair],
    config: TrainConfig | None = None,
    *,
    val: list[TrainPair] | None = None,
    stop: Stop = None,
    init: str | Path | None = None,
    resume: TrainResult | str | Path | None = None,
    output: str | Path | None = None,
    preview: Any = None,
) -> Generator[Any, None, TrainResult]:
    """Train (or fine-tune, or resume) a network; yield progress events; return the result.

    Parameters
    ----------
    pairs : list of TrainPair
        Training data from :func:`napari_unet.core.training.pairs.make_pairs`.
    config : TrainConfig, optional
        Settings (defaults: :class:`TrainConfig`). ``config.steps`` is the total step
        count; a resumed run continues from the steps already done. ``config.lr`` None:
        the rate is chosen before the first step (:mod:`~napari_unet.core.training.lr_choice`;
        ``TrainStarted`` and the provenance say which and why). From ``init`` or ``resume``,
        the model file's normalisation replaces ``config.normalization`` (pairs re-made).
    val : list of TrainPair, optional
        Validation pairs; without them ``config.val_fraction`` of the largest pair is held
        out (0: none, the last model is the best); with them it is ignored (a warning; 0).
    stop : threading.Event or callable, optional
        Checked before every step and between the tiles validation predicts (also of a
        fine-tune's start model); when set the run ends and returns the model as is.
        Ctrl-C (``KeyboardInterrupt``) saves the run so too, then is raised again with the
        :class:`TrainResult` as its ``result`` attribute.
    init : path-like or str, optional
        Model file or built-in name (``"nuclei"``) to fine-tune from (same architecture);
        ``"auto"``: the built-in model for the training images.
    resume : TrainResult or path-like, optional
        A previous result, or a model file saved with its optimiser state (and its best);
        not with ``init``.
    output : path-like, optional
        Model file for the last weights (at the end, the optimiser state beside it); the
        best weights go to ``NAME.best.safetensors`` as they improve (or, resumed, at the end;
        a fine-tune's start model once a step has trained).
    preview : array or callable, optional
        An image (or a callable returning ``image`` or ``(image, origin)``) that the
        current weights segment after each evaluation, yielded as ``Preview``. A callable
        is called from the training thread: it must only read thread-safe state.

    Returns
    -------
    TrainResult
    """
    config = check_config(config or TrainConfig())  # a dict: a clear message, before any use
    if init is not None and resume is not None:  # before: init was silently ignored
        raise InputError("give either init= (fine-tune) or resume= (continue a run), not both")
    # Continuing the file it writes (NAME.best beside it is the run's own): in place.
    source = resume if isinstance(resume, str | Path) else getattr(resume, "saved_to", None)
    in_place = None not in (source, output) and Path(source).resolve() == Path(output).resolve()
    if isinstance(resume, str | Path):
        resume = load_resume(resume)
    if resume is not None and config.steps <= resume.steps_done:
        raise InputError(
            f"the model was already trained for {resume.steps_done} steps; set steps above "
            f"that to continue (steps is the total count)"
        )
    pairs, stop = check_pairs(pairs), check_stop(stop)  # before: AttributeErrors, TypeErrors
    val = check_pairs(val, "val", like=pairs)  # and the training pairs' channel count
    init = start_file(init, pairs)  # "auto": the built-in model for these images
    config = with_start_normalization(config, init and resolve_model(init), resume)
    if output is not None:  # before any work: a run must be able to keep what it trains
        paths = (check_model_name(output), best_path(output), optimizer_path(output))
        check_outputs(paths, [] if init is None else [resolve_model(init)])
    with claimed(output):  # another live run writing it: refused (InputError)
        run = _Run(pairs, config, val, init, resume, output, stop)
        return (yield from run_all(run, stop, preview, in_place))


def train(
    pairs: list[TrainPair],
    config: TrainConfig | None = None,
    *,
    progress: Callable[[Any], object] | None = None,
    **kwargs,
) -> TrainResult:
    """Run :func:`iter_train` to the end (for scripts) and return the result.

    ``progress`` is called with every event; the other arguments are those of
    :func:`iter_train`. A ``KeyboardInterrupt`` (Ctrl-C, a notebook's Interrupt), also
    one raised while ``progress`` runs, saves the run as a stop does and is raised again;
    its ``result`` attribute holds the :class:`TrainResult` (an error ``progress`` raises
    once a step has trained: alike).
    """
    return drain(iter_train(pairs, config, **kwargs), progress)
