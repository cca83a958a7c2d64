"""Training settings: :class:`TrainConfig`, architecture presets, the learning-rate schedule.

:class:`TrainConfig` holds every setting (JSON-able, stored in model files); the trainer
(:mod:`napari_unet.core.training.trainer`) reads it. No torch at import.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field, fields

import numpy as np

from napari_unet.core.device import PRECISIONS
from napari_unet.core.errors import InputError, check_int
from napari_unet.core.images.normalize import DEFAULT as DEFAULT_NORMALIZATION
from napari_unet.core.inference.keywords import checks_keywords
from napari_unet.core.models.heads import head_of
from napari_unet.core.training.augment import AugmentConfig
from napari_unet.core.training.targets import WeightMapSettings

#: Architecture presets (model configs without ``in_channels``, which the data decides).
PRESETS: dict[str, dict] = {
    "tiny": {"arch": "unet", "base_channels": 8, "depth": 3, "padding": "same", "batch_norm": True},
    "small": {
        "arch": "unet",
        "base_channels": 16,
        "depth": 4,
        "padding": "same",
        "batch_norm": True,
    },
    "standard": {
        "arch": "unet",
        "base_channels": 32,
        "depth": 5,
        "padding": "same",
        "batch_norm": True,
    },  # fmt: skip
    "paper": {"arch": "unet", "base_channels": 64, "depth": 5, "padding": "valid"},
}
#: The preset trained when none is chosen.
DEFAULT_PRESET = "small"
OPTIMIZERS = ("adam", "sgd")
#: Learning rate of each optimiser when none is given.
DEFAULT_LR = {"adam": 1e-3, "sgd": 1e-2}
#: Fraction of the largest image's rows held out for validation when no validation image
#: is given (the command line and the Train dock).
HOLDOUT_FRACTION = 0.2
SCHEDULES = ("constant", "cosine", "poly")
#: The largest ``seed``: torch seeds with a signed 64-bit integer.
MAX_SEED = 2**63 - 1
#: Where training crops are cut and augmented: ``host`` (numpy/scipy threads), ``device``
#: (torch on the training device, :mod:`~napari_unet.core.training.device_sampling`) or
#: ``auto`` (the device on CUDA, the host elsewhere; docs/training.md).
AUGMENT_PLACES = ("auto", "host", "device")


@checks_keywords("training")  # a misspelt setting: an InputError (before, a TypeError)
@dataclass(frozen=True)
class TrainConfig:
    """Every training setting (JSON-able via :meth:`to_dict`; stored in model files).

    Defaults were chosen by measurement on the shared DSB2018 nuclei (docs/training.md):
    Adam at 1e-3 with a cosine decay reaches a useful model in a few hundred steps; the
    paper's SGD with momentum 0.99 (``optimizer="sgd", lr=0.01``) gets there more slowly.
    ``prefetch`` batches are prepared ahead by each of ``workers`` threads; 0 (the default)
    chooses: one on a CPU, where the network needs the cores, and up to four on a CUDA GPU,
    which one thread cannot keep busy (docs/training.md). ``augment_on`` says where crops
    are cut and augmented (:data:`AUGMENT_PLACES`).

    ``lr`` None (or ``"auto"``, stored as None): the trainer chooses the rate, the
    optimiser's default from scratch and, when fine-tuning, a tenth of it if the start model
    already segments its training annotations (:mod:`napari_unet.core.training.lr_choice`);
    a resumed run keeps the rate of the run it continues. A number is always used as given.
    """

    model: dict = field(default_factory=lambda: dict(PRESETS[DEFAULT_PRESET]))
    steps: int = 500
    batch_size: int = 4
    crop_size: int = 128
    optimizer: str = "adam"
    lr: float | str | None = None
    momentum: float = 0.99
    weight_decay: float = 0.0
    schedule: str = "cosine"
    warmup_steps: int = 20
    w0: float = WeightMapSettings.w0
    sigma: float = WeightMapSettings.sigma
    gap: int = WeightMapSettings.gap
    dice_weight: float = 0.0
    augment: dict = field(default_factory=lambda: AugmentConfig().to_dict())
    fg_bias: float = 0.7
    val_every: int = 50
    val_fraction: float = 0.0
    seed: int = 0
    device: str = "auto"
    precision: str = "auto"
    prefetch: int = 2
    workers: int = 0
    augment_on: str = "auto"
    normalization: dict = field(default_factory=lambda: dict(DEFAULT_NORMALIZATION))
    event_interval: float = 0.25

    def __post_init__(self) -> None:
        if isinstance(self.model, str):
            if self.model not in PRESETS:
                raise InputError(
                    f"unknown architecture preset {self.model!r}; known: {', '.join(PRESETS)}"
                )
            object.__setattr__(self, "model", dict(PRESETS[self.model]))
        if isinstance(self.lr, str) and self.lr.strip().lower() == "auto":
            object.__setattr__(self, "lr", None)
        for name, (choices, what) in _CHOICES.items():
            if getattr(self, name) not in choices:
                raise InputError(f"{what} must be one of {choices}, got {getattr(self, name)!r}")
        for name, low in _INTEGERS.items():
            note = "(0: automatic)" if name == "workers" else ""
            object.__setattr__(self, name, check_int(name, getattr(self, name), low, note))
        if self.seed > MAX_SEED:  # before: passed, then torch failed ("Overflow when unpacking")
            raise InputError(f"seed must be an integer in [0, 2**63 - 1], got {self.seed}")
        for name, (low, high, closed) in _NUMBERS.items():
            value = getattr(self, name)
            if value is not None or name != "lr":  # lr None: chosen by the trainer
                object.__setattr__(self, name, _number(name, value, low, high, closed))
        AugmentConfig.from_dict(self.augment)

    @property
    def base_lr(self) -> float:
        """``lr``, else the optimiser's default (the rate from scratch; see ``lr``)."""
        return float(DEFAULT_LR[self.optimizer] if self.lr is None else self.lr)

    def to_dict(self) -> dict:
        """JSON-able settings."""
        return copy.deepcopy(asdict(self))

    def pair_options(self) -> dict:
        """Keyword arguments of :func:`~napari_unet.core.training.pairs.make_pairs` for these."""
        return {
            "normalization": dict(self.normalization),
            "w0": self.w0,
            "sigma": self.sigma,
            "gap": self.gap,
            "head": head_of(self.model),
        }

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """Rebuild from :meth:`to_dict` output (unknown keys are an error)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise InputError(f"unknown training setting(s): {', '.join(unknown)}")
        return cls(**d)


#: Settings with a fixed set of values, and what they are called in messages.
_CHOICES = {
    "optimizer": (OPTIMIZERS, "optimizer"),
    "schedule": (SCHEDULES, "schedule"),
    "precision": (("auto", *PRECISIONS), "precision"),
    "augment_on": (AUGMENT_PLACES, "augment_on"),
}
#: Whole-number settings and their smallest value.
_INTEGERS = {
    "steps": 1, "batch_size": 1, "crop_size": 1, "val_every": 1, "warmup_steps": 0,
    "gap": 0, "seed": 0, "prefetch": 0, "workers": 0,
}  # fmt: skip
#: Number settings: (low, high, whether high itself is allowed); low is allowed except for lr.
_NUMBERS = {
    "lr": (0.0, 10.0, False),
    "momentum": (0.0, 1.0, False),
    "weight_decay": (0.0, math.inf, False),
    "w0": (0.0, math.inf, False),
    "sigma": (1e-6, math.inf, False),
    "dice_weight": (0.0, math.inf, False),
    "fg_bias": (0.0, 1.0, True),
    "val_fraction": (0.0, 1.0, False),
    "event_interval": (0.0, math.inf, False),
}


def _number(name: str, value, low: float, high: float, closed: bool) -> float:
    """``value`` as a float in its range; InputError otherwise (booleans are not numbers)."""
    number = isinstance(value, int | float | np.number) and not isinstance(value, bool)
    try:  # 10**400 is no float: an OverflowError before
        ok = number and math.isfinite(float(value))
    except OverflowError:
        ok = False
    ok = ok and (low < value if name == "lr" else low <= value)
    ok = ok and (value <= high if closed else value < high)
    if not ok:
        what = "learning rate" if name == "lr" else name
        lower = "(" if name == "lr" else "["
        upper = f"{high:g}]" if closed else f"{high:g})"
        raise InputError(f"{what} must be a number in {lower}{low:g}, {upper}, got {value!r}")
    return float(value)


def refuse_one_class(head: str, n_classes, what: str) -> None:
    """InputError for a ``paper`` network of one output class (a sigmoid): it cannot train.

    The package builds, saves and segments with one, but the paper's loss needs two classes
    (background, cell): training it failed with a raw IndexError. ``what`` names it.
    """
    import numbers

    one = isinstance(n_classes, numbers.Integral) and not isinstance(n_classes, bool)
    if head == "paper" and one and n_classes == 1:
        raise InputError(
            f"a one-class model cannot be trained here ({what} has a single output class; "
            "the paper's loss needs two, background and cell): train a two-class model "
            "(leave n_classes out), or fine-tune one such as 'nuclei'"
        )


def learning_rate(config: TrainConfig, step: int, base: float | None = None) -> float:
    """The rate at ``step`` (1-based): linear warm-up, then the schedule, from ``base``.

    ``base``: the run's base rate (None: ``config.base_lr``).
    """
    base = config.base_lr if base is None else base
    total = config.steps
    warm = min(1.0, step / config.warmup_steps) if config.warmup_steps else 1.0
    t = min(1.0, max(0.0, step - config.warmup_steps) / max(1, total - config.warmup_steps))
    if config.schedule == "cosine":
        f = 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * t))
    elif config.schedule == "poly":
        f = max(0.02, (1 - t) ** 0.9)
    else:
        f = 1.0
    return base * warm * f
