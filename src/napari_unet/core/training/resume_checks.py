"""What a resumed run reads from its files, checked: an edited header is an InputError.

The optimiser state (``NAME.optim.safetensors``) keeps its plain values as JSON in the
safetensors header, and the model file keeps the run's ``training`` block (history, best
scores, steps done). Both are text a user can edit: before, a key removed or a value of
another type gave a traceback (``KeyError``, ``TypeError``...), some only once steps had
trained, when the interrupted run could then not be saved either. Here each is checked
before the run starts, and a damaged one is named in one line.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from napari_unet.core.errors import InputError

__all__ = ["FORMAT", "load_optimizer", "parse_optimizer", "resumed_config", "training_block"]

FORMAT = "napari-unet-optimizer/1"

_TENSOR = re.compile(r"state\.(\d+)\.(.+)", re.DOTALL)


def load_optimizer(path: str | os.PathLike) -> tuple[dict, dict]:
    """Read a file of :func:`~napari_unet.core.training.checkpoint.save_optimizer`, checked.

    Returns
    -------
    state_dict : dict
        Ready for ``optimizer.load_state_dict``.
    extra : dict
        The JSON resume information.

    Raises
    ------
    InputError
        If the file is missing or not an optimiser-state file.
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no optimiser state to resume from (file not found)")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    except Exception as exc:  # safetensors raises its own error types
        raise InputError(f"{path}: not a readable optimiser-state file ({exc})") from exc
    if meta.get("format") != FORMAT:
        raise InputError(f"{path}: not a napari-unet optimiser-state file")
    return parse_optimizer(path, meta, tensors)  # an edited header: InputError


def _damaged(path: Path, what: str) -> InputError:
    return InputError(
        f"{path}: damaged optimiser-state file ({what}); resume from an intact copy, or "
        "continue from the model's weights with --init instead of --resume"
    )


def _json(path: Path, meta: dict, key: str, kind: type):
    """The JSON value ``meta[key]``, of type ``kind``."""
    if key not in meta:
        raise _damaged(path, f"its header has no {key!r}")
    try:
        value = json.loads(meta[key])
    except (TypeError, ValueError) as exc:
        raise _damaged(path, f"its {key!r} is not JSON: {exc}") from None
    if not isinstance(value, kind):
        raise _damaged(path, f"its {key!r} is not a {kind.__name__}: {str(value)[:60]}")
    return value


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_optimizer(path: Path, meta: dict, tensors: dict) -> tuple[dict, dict]:
    """``(state_dict, extra)`` of an optimiser-state file's header and tensors, checked."""
    plain = _json(path, meta, "plain_state", dict)
    state = {}
    for idx, values in plain.items():
        if not (isinstance(idx, str) and idx.isdigit() and isinstance(values, dict)):
            raise _damaged(path, f"its plain state holds {idx!r}: {str(values)[:60]}")
        state[int(idx)] = dict(values)
    for key, t in tensors.items():
        found = _TENSOR.fullmatch(key)
        if found is None:
            raise _damaged(path, f"a tensor is named {key!r}, not state.INDEX.NAME")
        state.setdefault(int(found.group(1)), {})[found.group(2)] = t
    groups = _json(path, meta, "param_groups", list)
    for g in groups:
        params = g.get("params") if isinstance(g, dict) else None
        if not (isinstance(params, list) and all(_whole(p) for p in params)):
            raise _damaged(path, f"a parameter group is {str(g)[:60]}")
    # JSON turns tuples (Adam's betas) into lists
    groups = [{k: (tuple(v) if isinstance(v, list) and k != "params" else v)
               for k, v in g.items()} for g in groups]  # fmt: skip
    extra = _json(path, meta, "extra", dict)
    checks = {"steps_done": (_whole, "a whole number"),
              "run_id": (lambda v: isinstance(v, str), "text"),
              "config": (lambda v: isinstance(v, dict), "a dict of settings")}  # fmt: skip
    for key, (ok, kind) in checks.items():
        if key in extra and not ok(extra[key]):
            raise _damaged(path, f"its {key} is {extra[key]!r}, not {kind}")
    return {"state": state, "param_groups": groups}, extra


def _entries(history: dict, part: str, numbers: tuple[str, ...]) -> str | None:
    """Why ``history[part]`` is no list of points (each a step and ``numbers``), or None."""
    points = history.get(part)
    if part not in history:
        return f"it has no {part!r} list"
    if not isinstance(points, list):
        return f"its {part!r} is {str(points)[:60]}, not a list"
    for p in points:
        if not (isinstance(p, dict) and _whole(p.get("step"))
                and all(_number(p.get(k)) for k in numbers)):  # fmt: skip
            return f"a {part!r} point is {str(p)[:80]}"
    return None


def training_block(path: Path, training) -> dict:
    """The ``training`` block of the model file ``path``, checked (a run it resumes)."""

    def damaged(what: str) -> InputError:
        return InputError(
            f"{path}: its training record is damaged ({what}); it cannot be resumed: "
            f"continue from its weights with --init {Path(path).name} instead"
        )

    if not isinstance(training, dict):
        raise damaged(f"not a dict: {str(training)[:60]}")
    training = dict(training)
    history = training.setdefault("history", {"train": [], "val": []})
    if not isinstance(history, dict):
        raise damaged(f"its history is {str(history)[:60]}, not a dict")
    why = _entries(history, "train", ("loss",)) or _entries(
        history, "val", ("val_loss", "pixel_iou", "ap50")
    )
    if why:
        raise damaged(f"history: {why}")
    best = training.get("best_metrics")
    if best is not None and not (
        isinstance(best, dict) and _whole(best.get("step"))
        and all(_number(best.get(k)) for k in ("ap50", "val_loss"))
    ):  # fmt: skip
        raise damaged(f"its best_metrics is {str(best)[:80]}")
    for key, ok, kind in (("steps_done", _whole, "a whole number"),
                          ("stopped", lambda v: isinstance(v, bool), "true or false"),
                          ("run_id", lambda v: isinstance(v, str), "text")):  # fmt: skip
        if key in training and not ok(training[key]):
            raise damaged(f"its {key} is {training[key]!r}, not {kind}")
    return training


def resumed_config(path: Path, extra: dict):
    """The settings the optimiser state ``path`` records (its ``extra``), checked."""
    from napari_unet.core.training.config import TrainConfig

    settings = extra.get("config")
    if not isinstance(settings, dict):
        raise _damaged(path, "its header records no training settings ('config')")
    try:
        return TrainConfig.from_dict(settings)  # each setting checked as it is made
    except (InputError, TypeError, ValueError) as exc:
        raise _damaged(path, f"its training settings: {exc}") from None
