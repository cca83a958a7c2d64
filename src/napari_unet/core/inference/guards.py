"""Checks a :class:`~napari_unet.core.inference.plan.Predictor` makes of its settings and model.

Kept apart from the plan itself: the seconds a responsive tile may take, weights the tiles
cannot meet, and the evaluation mode a prediction runs in.
"""

from __future__ import annotations

import contextlib

from napari_unet.core.errors import InputError

__all__ = ["check_seconds", "check_weights", "eval_mode"]


def check_seconds(value) -> float:
    """A positive, finite number of seconds."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = float("nan")
    if isinstance(value, bool) or not 0 < seconds < float("inf"):
        raise InputError(f"tile_seconds must be a positive number of seconds; got {value!r}")
    return seconds


def check_weights(model) -> None:
    """Refuse weights the tiles cannot meet: not loaded (meta), or not float32."""
    param = next(iter(model.parameters()), None)
    if param is None:
        return
    if param.device.type == "meta":
        raise InputError(
            "the model's weights are not loaded (it lives on the meta device); load a model "
            "file with load_model or pretrained"
        )
    if str(param.dtype) != "torch.float32":
        raise InputError(
            f"the model's weights are {str(param.dtype).replace('torch.', '')}; prediction "
            "needs float32 weights (call model.float(); precision='fp16' or 'bf16' gives "
            "reduced precision on a CUDA GPU)"
        )


@contextlib.contextmanager
def eval_mode(model):
    """Evaluation mode for the duration, then the model's former mode."""
    was_training = bool(getattr(model, "training", False))
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def on_device(model, device):
    """``model`` if its weights are on ``device``, else a copy moved there (the model stays).

    ``module.to`` moves a network in place: predicting a GPU model with ``device="cpu"``
    (or a CPU one with ``"auto"``) moved the caller's own network, which then trained or
    predicted on the other device.
    """
    import copy

    import torch

    first, want = next(iter([*model.parameters(), *model.buffers()]), None), torch.device(device)
    if first is None or (
        first.device.type == want.type and want.index in (None, first.device.index)
    ):
        return model
    return copy.deepcopy(model).to(device)
