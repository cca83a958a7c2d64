"""The settings of live training, :class:`LiveConfig`, checked when made.

Before, none was checked: a ``batch_size`` of 0 or 2.5, or a ``crop_size`` of 0, killed the
trainer's thread (the error only in :attr:`LiveTrainer.error`), an ``lr`` of -1 or NaN
failed in torch, a ``seed`` of -1 in numpy. Now each is an :class:`InputError` when the
config is made, in the words :class:`~napari_unet.core.training.config.TrainConfig` uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from napari_unet.core.errors import check_int
from napari_unet.core.live.view import VIEW_MAX_PIXELS
from napari_unet.core.training.config import _number

__all__ = ["LiveConfig"]


@dataclass(frozen=True)
class LiveConfig:
    """Settings of live training (defaults chosen for 2 CPU cores; docs/live.md).

    Raises
    ------
    InputError
        A setting of the wrong type or out of its range (:data:`_INTEGERS`, :data:`_NUMBERS`).
    """

    lr: float = 1e-3
    batch_size: int = 4
    crop_size: int = 128
    #: Share of crops centred in recently updated boxes, and on disagreement pixels.
    recent_share: float = 0.3
    error_share: float = 0.15
    #: Seconds after which an updated box no longer counts as recent.
    recent_s: float = 30.0
    #: Share of crops from the other annotated images, when some are given.
    other_share: float = 0.3
    #: Steps after which the view is predicted again without being asked.
    refresh_steps: int = 25
    #: The model shown, saved and snapshot is an exponential moving average of the trained
    #: weights with this decay per step (0: the trained weights themselves). With a few
    #: cells and a constant rate the weights swing from batch to batch; the average does not.
    ema: float = 0.98
    #: Arithmetic of the view's prediction: "auto" is bf16 on a CPU with bf16 matrix units
    #: (about 2x faster, the same objects; core.live.view), else fp32; or "fp32", "bf16".
    view_precision: str = "auto"
    #: The most pixels of the view predicted (its centre; core.live.view.capped_view).
    view_max_pixels: int = VIEW_MAX_PIXELS
    seed: int = 0

    def __post_init__(self) -> None:
        for name, low in _INTEGERS.items():
            object.__setattr__(self, name, check_int(name, getattr(self, name), low))
        for name, (low, high, closed) in _NUMBERS.items():
            object.__setattr__(self, name, _number(name, getattr(self, name), low, high, closed))


#: Whole-number settings and their smallest value.
_INTEGERS = {"batch_size": 1, "crop_size": 1, "refresh_steps": 1, "view_max_pixels": 1, "seed": 0}
#: Number settings: (low, high, whether high itself is allowed), as TrainConfig's; low is
#: allowed except for lr. ``view_precision`` is checked by the trainer (``"auto"`` resolved).
_NUMBERS = {
    "lr": (0.0, 10.0, False),
    "recent_share": (0.0, 1.0, True),
    "error_share": (0.0, 1.0, True),
    "recent_s": (0.0, math.inf, False),
    "other_share": (0.0, 1.0, True),
    "ema": (0.0, 1.0, False),
}
