"""Optimiser state for resuming training, as safetensors + JSON (never pickle).

``torch.optim.Optimizer.state_dict()`` is a nested dict of tensors and plain values. The
tensors are flattened to ``state.<param index>.<name>`` entries of a safetensors file;
everything else (param groups, scalar state such as Adam's step when it is a number, the
trainer's own resume information) goes into the file's JSON metadata.
"""

from __future__ import annotations

import copy
import json
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from napari_unet.core.errors import InputError
from napari_unet.core.models.tensorwrite import write_tensors
from napari_unet.core.training.resume_checks import (
    FORMAT,
    load_optimizer,
    resumed_config,
    training_block,
)

if TYPE_CHECKING:
    from napari_unet.core.training.events import TrainResult


def side_file(model_path: str | os.PathLike, ending: str) -> Path:
    """``NAME`` + ``ending`` beside a model file: NAME is its name less ``.safetensors``.

    A name with another ending keeps it whole (``v1.0`` -> ``v1.0.optim.safetensors``):
    before, ``v1.0`` and ``v1.1`` shared one optimiser state and log, and the second run
    destroyed the first one's resume. A folder (``.``, ``""``) is refused (InputError).
    """
    p = Path(model_path)
    if p.name in ("", ".", "..") or p.is_dir():  # before: a ValueError ("has an empty name")
        raise InputError(f"cannot write {p}: it is a folder; give a file name")
    return p.with_name((p.stem if _safetensors(p) else p.name) + ending)


def _safetensors(p: Path) -> bool:
    return p.suffix.lower() == ".safetensors"


def optimizer_path(model_path: str | os.PathLike, previous: bool = False) -> Path:
    """Where the optimiser state of a model file lives: ``NAME.optim.safetensors`` beside it.

    ``previous``: the state the last save replaced, ``NAME.optim.prev.safetensors``, kept
    so that a crash between the two writes of a save still leaves a matching pair.
    NAME as :func:`side_file` says.
    """
    return side_file(model_path, (".optim.prev" if previous else ".optim") + ".safetensors")


def save_optimizer(path: str | os.PathLike, state_dict: dict, extra: dict | None = None) -> Path:
    """Write an optimiser ``state_dict`` (and JSON-able ``extra``) atomically.

    Parameters
    ----------
    path : path-like
        Destination ``.safetensors`` file.
    state_dict : dict
        ``optimizer.state_dict()``.
    extra : dict, optional
        JSON-able resume information (step, config, ...).

    Returns
    -------
    pathlib.Path
        The written path.
    """
    import torch

    tensors: dict[str, Any] = {}
    plain: dict[str, dict] = {}
    for idx, st in state_dict.get("state", {}).items():
        plain[str(idx)] = {}
        for name, value in st.items():
            if isinstance(value, torch.Tensor):
                tensors[f"state.{idx}.{name}"] = value.detach().cpu().contiguous()
            else:
                plain[str(idx)][name] = value
    meta = {
        "format": FORMAT,
        "param_groups": json.dumps(state_dict.get("param_groups", [])),
        "plain_state": json.dumps(plain),
        "extra": json.dumps(extra or {}),
    }
    return write_tensors(path, tensors, meta)


def best_path(path: str | Path) -> Path:
    """Where the best model of a run with output ``path`` goes: ``NAME.best.safetensors``.

    NAME as :func:`side_file` says (``v1.0`` -> ``v1.0.best.safetensors``; before,
    ``v1.best.0``).
    """
    p = Path(path)
    return side_file(p, ".best" + (p.suffix if _safetensors(p) else ".safetensors"))


def check_model_name(path: str | Path) -> Path:
    """``path``; refused, before any work, if it names a model file as an image (``model.tif``).

    Before, ``model.tif`` and ``model.best.tif`` were written, and ``predict`` on their folder
    then read them as damaged images. A name without an ending is kept. A run's optimiser
    state (``NAME.optim.safetensors``) is refused too: written over, run NAME lost its resume.
    """
    from napari_unet.core.images.io import IMAGE_SUFFIXES

    p = Path(path)
    if p.name.lower().endswith((".optim.safetensors", ".optim.prev.safetensors")):
        run = p.name[: p.name.lower().index(".optim")]
        raise InputError(f"{p.name} is the optimiser state of the run {run!r} (kept for "
                         "--resume), not a model file: choose another name")  # fmt: skip
    if p.suffix.lower() in IMAGE_SUFFIXES:
        raise InputError(
            f"a model file ends in .safetensors; {p.name} looks like an image (it would be "
            f"read as one): choose a name such as {p.with_suffix('.safetensors').name}"
        )
    return p


def save_snapshot(path: Path, model, meta: dict, step: int, metrics: dict | None) -> None:
    """Write a model file of the weights at ``step`` (e.g. the best so far) with ``metrics``."""
    from napari_unet.core.models.modelfile import save_model

    m = copy.deepcopy(meta)
    m["provenance"]["steps"] = step
    m.setdefault("metrics", {})["at_save"] = metrics
    save_model(path, model, **m)


def save_result(result: TrainResult, path: str | Path) -> Path:
    """Write the last weights to ``path`` and the optimiser state beside it (for resuming).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    from napari_unet.core.models.modelfile import save_model

    path = Path(path)
    meta = copy.deepcopy(result.metadata)
    meta["training"] = {
        "steps_done": result.steps_done,
        "stopped": result.stopped,
        "history": result.history,
        "best_metrics": result.best_metrics,
        "run_id": result.run_id,
    }
    # The optimiser state first, the one it replaces kept as .prev, then the model: a crash
    # at any moment leaves a model whose state is one of the two (load_resume picks it).
    optim = optimizer_path(path)
    if optim.exists():
        os.replace(optim, optimizer_path(path, previous=True))
    extra = {"steps_done": result.steps_done, "config": result.config.to_dict()}
    save_optimizer(optim, result.optimizer_state, extra | {"run_id": result.run_id})
    save_model(path, result.model, **meta)
    return path


def save_final(result: TrainResult, path: Path) -> tuple[Path, str]:
    """Save the run's last weights to ``path``; if that fails, to a fallback file.

    The outputs were checked before training, but a disk can fill up or a folder vanish
    during a long run, or another program write ``path`` meanwhile (it is not replaced:
    :mod:`~napari_unet.core.training.output_claim`): then the weights go to a free
    ``NAME.unsaved-TIME.safetensors`` beside ``path`` or, failing that, in the temporary
    folder. Returns the file written and its kind (``"last"`` or ``"fallback"``).
    """
    import tempfile
    import time

    from napari_unet.core.training.output_claim import changed, wrote

    try:
        if changed(path):  # a model another program wrote since this run claimed the file
            raise InputError(f"{path.name} was written by another program while this run "
                             "trained; it is not replaced")  # fmt: skip
        saved = save_result(result, path)
        wrote(path)  # the run's own file now (a later save replaces it)
        return saved, "last"
    except Exception as exc:  # noqa: BLE001 - whatever failed, the fallback is tried
        first = exc  # the reason (a full disk, ...): the caller says only where it went
        warnings.warn(f"could not save the model to {path} ({exc})", RuntimeWarning, 2)
    name = f"{path.stem}.unsaved-{time.strftime('%Y%m%d-%H%M%S')}"
    for folder in (path.parent, Path(tempfile.gettempdir())):
        target, k = folder / f"{name}.safetensors", 2
        while target.exists() or optimizer_path(target).exists():  # a free name
            target, k = folder / f"{name}-{k}.safetensors", k + 1
        try:
            return save_result(result, target), "fallback"
        except (OSError, InputError):
            continue
    raise InputError(f"could not save the trained model to {path} ({first}) nor a fallback file")


def finish_run(result: TrainResult, output: Path | None, start: int, in_place: bool) -> list:
    """Save the end of a run (finished, stopped or interrupted); its ``Checkpoint`` events.

    A run that trained no step writes nothing. Otherwise the carried best of a resumed run
    (:func:`save_carried_best`), then the last weights (:func:`save_final`); once those are
    in ``output``, the files a replaced run left beside it go (:func:`drop_replaced`),
    unless the run continues that file in place (``in_place``).
    """
    from napari_unet.core.training.events import Checkpoint

    if output is None or result.steps_done <= start:
        return []
    events = []
    if (carried := save_carried_best(result, output, start)) is not None:
        events.append(Checkpoint(result.best_metrics["step"], carried, "best"))
    result.saved_to, kind = save_final(result, output)
    events.append(Checkpoint(result.steps_done, result.saved_to, kind))
    if kind == "last" and not in_place:
        drop_replaced(result, output)
    return events


def drop_replaced(result: TrainResult, output: Path) -> None:
    """Remove what a replaced run left beside ``output``: its best model, its optimiser state.

    Called once this run's model is in ``output`` (so a crash before leaves the old run's
    files together). ``NAME.best`` goes unless it holds this run's best or was written by
    this run; ``NAME.optim.prev`` unless it is this run's. Before, a run without
    validation (or stopped before its first) left the replaced run's ``NAME.best``
    beside the new model, where "best" named another run's weights.
    """
    from napari_unet.core.models.modelfile import read_metadata

    best = best_path(output)
    if best.is_file() and not holds_best(output, result.best_metrics):
        try:
            run = (read_metadata(best).get("provenance") or {}).get("run_id")
        except (InputError, OSError):
            run = None
        if run != result.run_id:
            _remove(best)
    prev = optimizer_path(output, previous=True)
    if prev.is_file() and optimizer_run(prev) != result.run_id:
        _remove(prev)


def optimizer_run(path: Path) -> str | None:
    """The run id an optimiser-state file records (its header only), or None."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            extra = json.loads((f.metadata() or {}).get("extra", "{}"))
    except Exception:  # noqa: BLE001 - safetensors raises its own error types
        return None
    return extra.get("run_id") if isinstance(extra, dict) else None


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except OSError as exc:
        warnings.warn(f"could not remove {path}, left by a replaced run ({exc})", RuntimeWarning, 3)


def load_resume(path: str | Path) -> TrainResult:
    """Rebuild a :class:`TrainResult` from a model file and its optimiser state."""
    from napari_unet.core.models.modelfile import load_model
    from napari_unet.core.training.events import TrainResult

    model, meta = load_model(path, device="cpu")
    training = training_block(Path(path), meta.get("training", {}))  # edited: InputError
    state, extra, source = _matching_state(Path(path), training)
    # background and object_size: what a resumed run records of its data (datarecord)
    kept = ("normalization", "provenance", "class_names", "separation_gap", "background",
            "object_size")  # fmt: skip
    keep = {k: v for k, v in meta.items() if k in kept}
    return TrainResult(
        model=model,
        history=training.get("history", {"train": [], "val": []}),
        best_metrics=training.get("best_metrics"),
        steps_done=int(extra.get("steps_done", training.get("steps_done", 0))),
        stopped=bool(training.get("stopped", False)),
        config=resumed_config(source, extra),  # the file read: NAME.optim.prev after a crash
        metadata=keep,
        optimizer_state=state,
        best_state=_best_beside(Path(path), training.get("best_metrics")),
        run_id=str(training.get("run_id", "")),
    )


def _best_beside(path: Path, best_metrics: dict | None) -> dict | None:
    """The weights of ``NAME.best`` beside ``path`` when it holds the run's recorded best.

    Without them a run resumed in place took its first evaluation for the best and wrote
    it over the first part's best model, however much worse it scored. A run saved before
    names kept their ending (``v1.0``: its best ``v1.best.0``) is looked for there too.
    """
    from napari_unet.core.models.modelfile import load_model

    older = path.with_name(f"{path.stem}.best{path.suffix}")  # as saved before: v1.best.0
    kept = [best_path(path)] + ([older] if path.suffix and not _safetensors(path) else [])
    for best in (b for b in kept if _records(b, best_metrics)):
        try:
            model, _ = load_model(best, device="cpu")
        except (InputError, OSError):
            continue
        return {k: v.detach().clone() for k, v in model.state_dict().items()}
    return None


def holds_best(path: Path, best_metrics: dict | None) -> bool:
    """Whether ``NAME.best`` beside ``path`` records ``best_metrics`` (its header only)."""
    return _records(best_path(path), best_metrics)


def _records(best: Path, best_metrics: dict | None) -> bool:
    from napari_unet.core.models.modelfile import read_metadata

    if not best_metrics or not best.is_file():
        return False
    try:
        at_save = (read_metadata(best).get("metrics") or {}).get("at_save") or {}
    except (InputError, OSError):
        return False
    return at_save == best_metrics


def save_carried_best(result: TrainResult, output: Path, start: int) -> Path | None:
    """Write a resumed run's best weights beside ``output`` when no later step beat them.

    The best of the part before ``start`` came with the run (a result, or ``NAME.best``
    beside a resumed file); ``NAME.best`` beside a new output held nothing until the
    resumed part improved on it. Returns the file written, or None.
    """
    b, path = result.best_metrics, best_path(output)
    if result.best_state is None or not b or b["step"] > start:
        return None
    if holds_best(output, b):
        return None  # already there (resumed in place)
    meta = copy.deepcopy(result.best_metadata())
    meta.pop("metrics", None)
    try:
        save_snapshot(path, result.best_model(), meta, b["step"], b)
    except (OSError, InputError) as exc:
        warnings.warn(f"could not save the best model to {path} ({exc})", RuntimeWarning, 2)
        return None
    return path


def _matching_state(path: Path, training: dict) -> tuple[dict, dict, Path]:
    """The optimiser state saved with the model ``path`` (same run, same step), its file."""
    run_id, steps = training.get("run_id", ""), training.get("steps_done")
    found, older = [], []
    if path.suffix and not _safetensors(path):  # as saved before: v1.optim beside v1.0
        older = [path.with_name(f"{path.stem}.optim{e}.safetensors") for e in ("", ".prev")]
    for candidate in (optimizer_path(path), optimizer_path(path, previous=True), *older):
        if not candidate.exists():
            continue
        state, extra = load_optimizer(candidate)
        run, step = extra.get("run_id", "?"), extra.get("steps_done")
        found.append(f"{candidate.name}: run {run}, step {step}")
        if extra.get("run_id", "") == run_id and extra.get("steps_done") == steps:
            return state, extra, candidate
    if not found:
        raise InputError(
            f"{optimizer_path(path)}: no optimiser state to resume from (file not found); "
            f"continue from these weights with --init {path.name} instead"
        )
    raise InputError(
        f"the optimiser state beside {path.name} belongs to another run or step "
        f"({'; '.join(found)}; the model: run {run_id or '?'}, step {steps}); resuming would "
        f"mix two runs. Continue from these weights with --init {path.name} instead"
    )


def with_start_normalization(config, init=None, resume=None):
    """``config`` normalising as the model a run starts from was trained to (its file says).

    A fine-tuned or resumed model reads its inputs as it learnt to; the default
    percentiles on a model trained with z-scores misjudged it (a start score of 0.33
    instead of 0.87, so the wrong learning rate) and retrained it on other numbers.
    """
    from dataclasses import replace

    from napari_unet.core.models.modelfile import read_metadata

    if resume is not None:
        found = resume.config.normalization
    elif init is not None:
        found = read_metadata(init).get("normalization")
    else:
        return config
    return replace(config, normalization=dict(found)) if found else config
