"""Training settings: :class:`TrainConfig`, architecture presets, the learning-rate schedule.

:class:`TrainConfig` holds every setting (JSON-able, stored in model files); the trainer
(:mod:`napari_unet.core.training.trainer`) reads it. No torch at import.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field, fields

from napari_unet.core.errors import InputError
from napari_unet.core.images.normalize import DEFAULT as DEFAULT_NORMALIZATION
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


@dataclass(frozen=True)
class TrainConfig:
    """Every training setting (JSON-able via :meth:`to_dict`; stored in model files).

    Defaults were chosen by measurement on the shared DSB2018 nuclei (docs/training.md):
    Adam at 1e-3 with a cosine decay reaches a useful model in a few hundred steps; the
    paper's SGD with momentum 0.99 (``optimizer="sgd", lr=0.01``) gets there more slowly.
    ``prefetch`` batches are prepared ahead by each of ``workers`` threads; 0 (the default)
    chooses: one on a CPU, where the network needs the cores, and up to four on a CUDA GPU,
    which one thread cannot keep busy (docs/training.md).
    """

    model: dict = field(default_factory=lambda: dict(PRESETS[DEFAULT_PRESET]))
    steps: int = 500
    batch_size: int = 4
    crop_size: int = 128
    optimizer: str = "adam"
    lr: float | None = None
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
    normalization: dict = field(default_factory=lambda: dict(DEFAULT_NORMALIZATION))
    event_interval: float = 0.25

    def __post_init__(self) -> None:
        if isinstance(self.model, str):
            if self.model not in PRESETS:
                raise InputError(
                    f"unknown architecture preset {self.model!r}; known: {', '.join(PRESETS)}"
                )
            object.__setattr__(self, "model", dict(PRESETS[self.model]))
        for name in ("steps", "batch_size", "crop_size", "val_every", "workers"):
            v = getattr(self, name)
            low = 0 if name == "workers" else 1
            if not isinstance(v, int) or isinstance(v, bool) or v < low:
                what = "an integer >= 0 (0: automatic)" if low == 0 else "a positive integer"
                raise InputError(f"{name} must be {what}, got {v!r}")
        if self.optimizer not in OPTIMIZERS:
            raise InputError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.lr is None:
            object.__setattr__(self, "lr", DEFAULT_LR[self.optimizer])
        if not (isinstance(self.lr, int | float) and 0 < self.lr < 10):
            raise InputError(f"learning rate must be a number in (0, 10), got {self.lr!r}")
        if self.schedule not in SCHEDULES:
            raise InputError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if not 0 <= self.val_fraction < 1:
            raise InputError(f"val_fraction must be in [0, 1), got {self.val_fraction}")
        AugmentConfig.from_dict(self.augment)

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
        }

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """Rebuild from :meth:`to_dict` output (unknown keys are an error)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise InputError(f"unknown training setting(s): {', '.join(unknown)}")
        return cls(**d)


def learning_rate(config: TrainConfig, step: int) -> float:
    """The learning rate at ``step`` (1-based): linear warm-up, then the schedule."""
    base, total = float(config.lr), config.steps
    warm = min(1.0, step / config.warmup_steps) if config.warmup_steps else 1.0
    t = min(1.0, max(0.0, step - config.warmup_steps) / max(1, total - config.warmup_steps))
    if config.schedule == "cosine":
        f = 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * t))
    elif config.schedule == "poly":
        f = max(0.02, (1 - t) ** 0.9)
    else:
        f = 1.0
    return base * warm * f
