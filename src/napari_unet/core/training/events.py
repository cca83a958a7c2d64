"""What a training run yields and returns: progress events and :class:`TrainResult`.

The trainer (:mod:`napari_unet.core.training.trainer`) yields the frozen event dataclasses
below (the GUI, the command line and tests read them) and returns a :class:`TrainResult`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from napari_unet.core.models.carried import attach
from napari_unet.core.training.config import TrainConfig

__all__ = [
    "Checkpoint",
    "Evaluation",
    "Preview",
    "TrainResult",
    "TrainStarted",
    "TrainStep",
]


@dataclass(frozen=True)
class TrainStarted:
    """Training begins: sizes, where it runs, and its base learning rate and why.

    ``lr_reason`` says where ``lr`` comes from: the user, the optimiser's default, the run
    it resumes, or the automatic fine-tuning choice with the start model's AP50 on the
    training annotations (:mod:`napari_unet.core.training.lr_choice`).
    """

    start_step: int
    total_steps: int
    device: str
    input_size: int
    output_size: int
    n_pairs: int
    n_val: int
    lr: float = 0.0
    lr_reason: str = ""
    n_cells: int = 0  # the annotated cells trained on (a cell the hold-out cuts: in both)
    n_val_cells: int = 0  # those validated on


@dataclass(frozen=True)
class TrainStep:
    """Progress of the optimisation (throttled; ``loss`` averages the steps since the last)."""

    step: int
    total_steps: int
    loss: float
    lr: float
    images_per_s: float
    elapsed_s: float


@dataclass(frozen=True)
class Evaluation:
    """Validation metrics at ``step`` (``val_loss``, ``pixel_iou``, ``ap50``, ...)."""

    step: int
    metrics: dict


@dataclass(frozen=True)
class Checkpoint:
    """A model file written: ``kind`` is ``"best"``, ``"last"`` or ``"fallback"``.

    ``"fallback"``: the output could not be written at the end of the run, and the weights
    were saved to ``path`` instead (beside it, or in the temporary folder).
    """

    step: int
    path: Path
    kind: str


@dataclass(frozen=True)
class Preview:
    """Instance labels predicted by the current weights for the preview image."""

    step: int
    labels: np.ndarray
    origin: Any = None


@dataclass
class TrainResult:
    """What a run returns: the trained model and everything needed to resume it.

    Attributes
    ----------
    model : torch.nn.Module
        The network with the weights of the last step (on the CPU, eval mode).
    history : dict
        ``{"train": [{step, loss, lr, images_per_s}...], "val": [{step, **metrics}...]}``.
    best_metrics : dict or None
        Validation metrics of the best evaluation (highest AP50, then lowest loss).
    steps_done : int
        Total optimisation steps of the model (continues across resumes).
    stopped : bool
        True if the stop flag ended the run early.
    config : TrainConfig
        The settings of the run.
    metadata : dict
        Model-file metadata (normalisation, classes, provenance, metrics).
    optimizer_state : dict
        ``optimizer.state_dict()`` for resuming.
    best_state : dict or None
        State dict of the best model (CPU tensors).
    run_id : str
        Identifies the run across resumes; the model file and its optimiser state both
        record it, so a resume never pairs weights with another run's optimiser.
    saved_to : pathlib.Path or None
        The file the last weights were written to (the output, a fallback, or None when
        no output was given or the run trained no step).
    """

    model: Any
    history: dict
    best_metrics: dict | None
    steps_done: int
    stopped: bool
    config: TrainConfig
    metadata: dict
    optimizer_state: dict
    best_state: dict | None = None
    run_id: str = ""
    saved_to: Path | None = None

    def __post_init__(self) -> None:
        attach(self.model, self.metadata)  # segment(result.model, image) reads the run's

    def best_model(self):
        """A copy of the model with the best validation weights (the last if none).

        It carries :meth:`best_metadata`, which calls given the model alone use.
        """
        m = copy.deepcopy(self.model)
        if self.best_state is not None:
            m.load_state_dict(self.best_state)
        return attach(m, self.best_metadata())

    def best_metadata(self) -> dict:
        """The metadata to use :meth:`best_model` with.

        The run's, but when the best is the start model of a fine-tune (step 0) with the
        post-processing that model's file recommends, as it was scored.
        """
        meta = dict(self.metadata)
        post = (self.best_metrics or {}).get("postprocess")
        if post is not None:
            meta["postprocess"] = post
        return meta
