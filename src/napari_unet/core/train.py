"""The trainer: a generator of typed progress events that returns the trained model.

``train(...)`` yields :class:`TrainStarted`, throttled :class:`TrainStep` events (a few per
second at most), :class:`Evaluation`, :class:`Checkpoint` and :class:`Preview` events, and
returns a :class:`TrainResult`; :func:`train_model` drains it for scripts. The GUI runs the
same generator in a napari thread worker, the command line behind a progress bar.

Stop is cooperative: ``stop`` (a ``threading.Event`` or a callable) is checked before every
step; the generator then returns normally with the weights as trained so far. A result (or
the model file written with its optimiser state) resumes where it stopped.
"""

from __future__ import annotations

import copy
import os
import threading
import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import numpy as np

from napari_unet.core.augment import AugmentConfig
from napari_unet.core.checkpoint import best_path, load_resume, save_result, save_snapshot
from napari_unet.core.data import TrainPair
from napari_unet.core.errors import InputError
from napari_unet.core.sampling import BatchPrefetcher, CropSampler
from napari_unet.core.train_config import (
    PRESETS,
    Checkpoint,
    Evaluation,
    Preview,
    TrainConfig,
    TrainResult,
    TrainStarted,
    TrainStep,
    learning_rate,
)


def _is_stopped(stop) -> bool:
    if stop is None:
        return False
    if isinstance(stop, threading.Event):
        return stop.is_set()
    return bool(stop())


def _init_model(config: TrainConfig, in_channels: int, init, resume):
    """Build, fine-tune-load or resume the model; check it fits the data and config."""
    from napari_unet.core.modelfile import load_model
    from napari_unet.core.models import build_model

    if resume is not None:
        return copy.deepcopy(resume.model), f"resumed at step {resume.steps_done}"
    if init is not None:
        model, meta = load_model(init, device="cpu")
        want, have = config.model, model.config
        for key in ("arch", "n_classes"):
            if key in want and want[key] != have.get(key):
                raise InputError(
                    f"cannot fine-tune from {Path(init).name}: it is a {key} "
                    f"{have.get(key)!r} model but {want[key]!r} was requested; choose a model "
                    f"file of the same architecture and class count, or train from scratch"
                )
        source = f"fine-tuned from {Path(init).name}"
    else:
        import torch

        torch.manual_seed(config.seed)
        model = build_model({**config.model, "in_channels": in_channels})
        source = "from scratch"
    if model.in_channels != in_channels:
        raise InputError(
            f"the model takes {model.in_channels} channel(s) but the images have {in_channels}"
        )
    return model, source


def batch_workers(workers: int, device) -> int:
    """Threads preparing batches: ``workers``, or for 0 one on a CPU and up to 4 on CUDA."""
    if workers:
        return workers
    if device.type != "cuda":
        return 1
    return max(1, min(4, (os.cpu_count() or 2) - 1))


def _crop_sizes(model, crop_size: int) -> tuple[int, int]:
    g = model.geometry
    s = g.nearest_legal(crop_size)
    return s, g.output_size(s)


def train(
    pairs: list[TrainPair],
    config: TrainConfig | None = None,
    *,
    val: list[TrainPair] | None = None,
    stop: threading.Event | Callable[[], bool] | None = None,
    init: str | Path | None = None,
    resume: TrainResult | str | Path | None = None,
    output: str | Path | None = None,
    preview: Any = None,
) -> Generator[Any, None, TrainResult]:
    """Train (or fine-tune, or resume) a network; yield progress events; return the result.

    Parameters
    ----------
    pairs : list of TrainPair
        Training data from :func:`napari_unet.core.data.make_pairs`.
    config : TrainConfig, optional
        Settings (defaults: :class:`TrainConfig`). ``config.steps`` is the total step
        count; a resumed run continues from the steps already done.
    val : list of TrainPair, optional
        Validation pairs; without them ``config.val_fraction`` of the largest training
        pair is held out (0: no validation, the last model is the best).
    stop : threading.Event or callable, optional
        Checked before every step; when set the run ends and returns the model as is.
    init : path-like, optional
        Model file to fine-tune from (same architecture and class count).
    resume : TrainResult or path-like, optional
        A previous result, or a model file saved with its optimiser state (``.last``).
    output : path-like, optional
        Model file for the last weights (written at the end, with the optimiser state
        beside it); the best weights go to ``NAME.best.safetensors`` as they improve.
    preview : array or callable, optional
        An image (or a callable returning ``image`` or ``(image, origin)``) that the
        current weights segment after each evaluation, yielded as :class:`Preview`.

    Returns
    -------
    TrainResult
    """
    import torch

    from napari_unet.core.device import choose_device, describe_device
    from napari_unet.core.losses import segmentation_loss
    from napari_unet.core.validation import evaluate_pairs, split_holdout

    config = config or TrainConfig()
    if isinstance(resume, str | Path):
        resume = load_resume(resume)
    if resume is not None and config.steps <= resume.steps_done:
        raise InputError(
            f"the model was already trained for {resume.steps_done} steps; set steps above "
            f"that to continue (steps is the total count)"
        )
    if not pairs:
        raise InputError("no training pairs given")
    in_channels = pairs[0].image.shape[0]
    model, source = _init_model(config, in_channels, init, resume)
    s_in, s_out = _crop_sizes(model, config.crop_size)
    if val is None:
        pairs, val = split_holdout(pairs, config.val_fraction)
    device = choose_device(config.device)
    precision = config.precision
    if precision == "auto":
        precision = "fp16" if device.type == "cuda" else "fp32"
    from napari_unet.core.device import autocast_dtype

    amp_dtype = autocast_dtype(device, precision)
    model.to(device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "sgd":
        opt = torch.optim.SGD(
            params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
    else:
        opt = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    start = 0
    history: dict = {"train": [], "val": []}
    best_metrics, best_state = None, None
    if resume is not None:
        if resume.optimizer_state and resume.config.optimizer == config.optimizer:
            opt.load_state_dict(resume.optimizer_state)
        start = resume.steps_done
        history = copy.deepcopy(resume.history)
        best_metrics, best_state = resume.best_metrics, resume.best_state
    val_data = _fingerprint(val)
    if best_metrics is not None and best_metrics.get("val_data", val_data) != val_data:
        # Scores on other validation data (the annotations were corrected or extended)
        # cannot be compared: the best of this run starts afresh.
        best_metrics, best_state = None, None
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 else None
    augment = AugmentConfig.from_dict(config.augment)
    sampler = CropSampler(pairs, s_in, s_out, augment, config.fg_bias)
    deep = bool(model.config.get("deep_supervision", False))
    meta = {
        "normalization": dict(config.normalization),
        "separation_gap": config.gap,
        "provenance": {
            "trained_by": "napari-unet train",
            "source": source,
            "config": config.to_dict(),
            "data": [p.name for p in pairs],
            "validation": [p.name for p in val],
            "device": describe_device(device),
        },
    }
    yield TrainStarted(
        start, config.steps, describe_device(device), s_in, s_out, len(pairs), len(val)
    )
    prefetcher = BatchPrefetcher(
        sampler, config.batch_size, config.seed, start, config.prefetch,
        batch_workers(config.workers, device),
    )  # fmt: skip
    t0 = last_emit = time.perf_counter()
    loss_acc, n_acc, imgs_since, step, stopped = None, 0, 0, start, False
    out_path = Path(output) if output is not None else None
    try:
        while step < config.steps:
            if _is_stopped(stop):
                stopped = True
                break
            batch = prefetcher.get()
            step += 1
            lr = learning_rate(config, step)
            for g in opt.param_groups:
                g["lr"] = lr
            x = torch.from_numpy(batch["image"]).to(device, non_blocking=True)
            tgt = torch.from_numpy(batch["target"]).to(device, non_blocking=True)
            w = torch.from_numpy(batch["weights"]).to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                out = model.forward_all(x) if deep else model(x)
            loss = segmentation_loss(out, tgt, w, config.dice_weight)
            opt.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                opt.step()
            loss_acc = loss.detach() if loss_acc is None else loss_acc + loss.detach()
            n_acc += 1
            imgs_since += config.batch_size
            now = time.perf_counter()
            if now - last_emit >= config.event_interval or step == config.steps or step == 1:
                ev = TrainStep(
                    step, config.steps, float(loss_acc) / n_acc, lr,
                    imgs_since / max(now - last_emit, 1e-9), now - t0,
                )  # fmt: skip
                history["train"].append({"step": step, "loss": ev.loss, "lr": lr})
                loss_acc, n_acc, imgs_since, last_emit = None, 0, 0, time.perf_counter()
                yield ev
            if step % config.val_every == 0 or step == config.steps:
                if val:
                    metrics = evaluate_pairs(model, val, config.normalization, device, meta)
                    history["val"].append({"step": step, **metrics})
                    yield Evaluation(step, metrics)
                    if _better(metrics, best_metrics):
                        best_metrics = {"step": step, **metrics, "val_data": val_data}
                        best_state = {
                            k: v.detach().cpu().clone() for k, v in model.state_dict().items()
                        }
                        if out_path is not None:
                            p = best_path(out_path)
                            save_snapshot(p, model, meta, step, best_metrics)
                            yield Checkpoint(step, p, "best")
                if preview is not None:
                    yield _preview(model, preview, config, device, step)
                last_emit = time.perf_counter()
    finally:
        prefetcher.close()
    model.eval()
    result = TrainResult(
        model=model.cpu(),
        history=history,
        best_metrics=best_metrics,
        steps_done=step,
        stopped=stopped,
        config=config,
        metadata=meta,
        optimizer_state=opt.state_dict(),
        best_state=best_state,
    )
    meta["provenance"]["steps"] = step
    meta["metrics"] = {"best": best_metrics, "last": history["val"][-1] if history["val"] else None}
    if out_path is not None:
        save_result(result, out_path)
        yield Checkpoint(step, out_path, "last")
    return result


def _fingerprint(pairs) -> str:
    """A short hash of validation pairs (images, labels, regions) to tell data sets apart."""
    import hashlib

    h = hashlib.blake2b(digest_size=8)
    for pair in pairs or []:
        for arr in (pair.image, pair.labels, pair.mask):
            if arr is not None:
                h.update(repr((arr.shape, str(arr.dtype))).encode())
                h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def _better(metrics: dict, best: dict | None) -> bool:
    if best is None:
        return True
    return (metrics["ap50"], -metrics["val_loss"]) > (best["ap50"], -best["val_loss"])


def _preview(model, preview, config: TrainConfig, device, step: int) -> Preview:
    from napari_unet.core.validation import segment_image

    item = preview() if callable(preview) else preview
    origin = None
    if isinstance(item, tuple):
        item, origin = item
    meta = {"separation_gap": config.gap}
    labels, _ = segment_image(model, np.asarray(item), config.normalization, device, meta)
    model.train()
    return Preview(step, labels, origin)


def train_model(pairs: list[TrainPair], config: TrainConfig | None = None, **kwargs) -> TrainResult:
    """Run :func:`train` to the end (for scripts); same arguments, returns the result."""
    gen = train(pairs, config, **kwargs)
    while True:
        try:
            next(gen)
        except StopIteration as done:
            return done.value


__all__ = [
    "PRESETS",
    "Checkpoint",
    "Evaluation",
    "Preview",
    "TrainConfig",
    "TrainResult",
    "TrainStarted",
    "TrainStep",
    "batch_workers",
    "best_path",
    "learning_rate",
    "load_resume",
    "save_result",
    "train",
    "train_model",
]
