"""The learning rate of a run when none is given ("auto"), and why.

A number the user gives is always used. Otherwise:

- **from scratch**: the optimiser's default (:data:`~napari_unet.core.training.config.DEFAULT_LR`,
  Adam 1e-3, SGD 1e-2);
- **fine-tuning** (a start model, e.g. the built-in one): before the first step the start
  model segments the training annotations themselves, by the path validation uses
  (:func:`~napari_unet.core.training.validation.evaluate_pairs`: AP at IoU 0.5 inside each
  pair's annotated region, predicted objects outside it ignored). If it already segments them
  (AP50 >= :data:`KNOWN_AP50`) the run takes a gentle rate, a tenth of the optimiser's
  default (Adam 1e-4), which keeps what the model knows; if not, the optimiser's default,
  which is needed to learn a new kind of image;
- **resuming**: the rate of the run it resumes (recorded in the model's provenance), so a
  resumed run never chooses differently from the run it continues; resumed with another
  optimiser, that rate scaled as the optimisers' defaults are (Adam 1e-3 -> SGD 1e-2).

The rule comes from two measured cases (docs/annotate.md, docs/training.md; 2 CPU cores,
2026-12-02). Fine-tuning the built-in fluorescence model on one fluorescence image, which it
already segments (AP50 0.67 on the annotations, by this module), at 1e-3 lowered its score
on other images (held-out AP50 0.801 -> 0.750 -> 0.719 after a correction turn); at 1e-4 the
correction turn raised it (0.752 -> 0.776). On one histology image, a kind it never saw (AP50
0.00 on the annotations), 1e-3 lifted the test score from 0.009 to 0.342 in a CPU minute,
1e-4 only to 0.039. The threshold 0.5 lies between the two start scores on the annotations
(0.67 and 0.00 with the trainer's defaults, which the score used until 2026-12-05; with the
post-processing the start model recommends, which it uses now, 0.82 and 0.01), which are
training images: no test image tunes it. Scoring costs one segmentation of the annotated
part of each training image (0.3 s for the 256 x 320 histology image on one CPU thread).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np

from napari_unet.core.training.config import DEFAULT_LR, TrainConfig
from napari_unet.core.training.pairs import TrainPair
from napari_unet.core.training.validation import AS_IS

__all__ = [
    "KNOWN_AP50", "LrChoice", "choose_lr", "gentle_lr", "recommended_postprocess", "start_score",
]  # fmt: skip

#: AP50 on its own training annotations from which a start model "already segments" them.
KNOWN_AP50 = 0.5
#: The gentle rate as a fraction of the optimiser's default.
GENTLE_FRACTION = 0.1
#: Pixels of image kept around an annotated region when the start model scores it.
CONTEXT_PX = 64


@dataclass(frozen=True)
class LrChoice:
    """The base learning rate of a run, why, and the start model's score (None: not scored)."""

    lr: float
    reason: str
    start_ap50: float | None = None


def gentle_lr(optimizer: str) -> float:
    """The rate for a start model that already segments its annotations (Adam: 1e-4)."""
    return DEFAULT_LR[optimizer] * GENTLE_FRACTION


def choose_lr(
    config: TrainConfig, model, pairs: list[TrainPair], device, *, init, resume, stop=None
):
    """The run's base learning rate (:class:`LrChoice`); scores ``model`` when fine-tuning.

    ``init``: the start model file (None: from scratch); ``resume``: the
    :class:`~napari_unet.core.training.events.TrainResult` the run continues, or None.
    ``stop``: the run's stop flag, checked between the images scored and the tiles of each;
    set, the scoring ends and the optimiser's default is returned unscored (the run then
    stops before its first step; before, a stop waited for the scoring of a whole image).
    """
    from napari_unet.core.training.setup import is_stopped

    if config.lr is not None:
        return LrChoice(float(config.lr), "set by the user")
    if resume is not None:
        return _resumed_lr(config, resume)
    default = DEFAULT_LR[config.optimizer]
    if init is None:
        return LrChoice(default, f"the {config.optimizer} default (training from scratch)")
    ap50 = start_score(model, pairs, config, device, recommended_postprocess(init), stop)
    if is_stopped(stop):  # the score is of part of the images, if any: not used
        return LrChoice(default, "auto: not chosen, the run was stopped before its first step")
    score = f"AP50 {ap50:.2f} on the annotations"
    if ap50 >= KNOWN_AP50:
        reason = f"auto: the start model already segments them ({score} >= {KNOWN_AP50:g}): gentle"
        return LrChoice(gentle_lr(config.optimizer), reason, ap50)
    reason = f"auto: the start model does not segment them yet ({score} < {KNOWN_AP50:g})"
    return LrChoice(default, f"{reason}: the {config.optimizer} default", ap50)


#: How a resumed run's rate was chosen, before the first run's own reason.
_RESUMED = re.compile(r"(kept from the run it resumes|the \w+ rate \S+ of the run it resumes, "
                      r"scaled to \w+ \(x\S+ as their defaults\))(: )?")  # fmt: skip


def _resumed_lr(config: TrainConfig, resume) -> LrChoice:
    """The rate of the run ``resume`` continues; scaled when the optimiser changes.

    Resumed with another optimiser (``--optimizer sgd`` on an Adam run), the rate is
    scaled as the optimisers' defaults are (Adam 1e-3 -> SGD 1e-2), and the reason says
    so: before, it said "kept" of a rate ten times the run's.
    """
    provenance = resume.metadata.get("provenance", {})
    lr = float(provenance.get("lr") or resume.config.base_lr)
    origin = str(provenance.get("lr_reason", ""))
    while (found := _RESUMED.match(origin)) is not None:  # the first run's reason, once
        origin = origin[found.end() :]
    was, now = resume.config.optimizer, config.optimizer
    how = "kept from the run it resumes"
    if was != now:
        scale = DEFAULT_LR[now] / DEFAULT_LR[was]
        how = (f"the {was} rate {lr:g} of the run it resumes, scaled to {now} "
               f"(x{scale:g} as their defaults)")  # fmt: skip
        lr *= scale
    return LrChoice(lr, how + (f": {origin}" if origin else ""))


def recommended_postprocess(init) -> dict | None:
    """The post-processing the start model file recommends (None: it records none)."""
    from napari_unet.core.errors import InputError
    from napari_unet.core.models.modelfile import read_metadata
    from napari_unet.core.models.pretrained import resolve_model

    try:
        return read_metadata(resolve_model(init)).get("postprocess")
    except (InputError, OSError, TypeError):
        return None


def start_score(
    model,
    pairs: list[TrainPair],
    config: TrainConfig,
    device,
    postprocess: dict | None = None,
    stop=None,
) -> float:
    """AP50 of ``model`` on the annotated part of ``pairs``, as validation scores it.

    Each pair is cut to its annotated region and :data:`CONTEXT_PX` around it, so a small
    region of a large image costs little. The cut is taken from the pair's image normalised
    over the whole plane (as training and prediction normalise it), so it is segmented as
    it would be within the whole image, with the start model's recommended
    ``postprocess`` (as the user sees its results; before, the defaults: the brightfield
    model scored 0.16 instead of 0.31 on a histology image). ``stop`` (the run's stop flag)
    is checked before each image and between the tiles of one: once set, the scoring ends
    there and 0.0 is returned (a score of part of the images, which :func:`choose_lr` drops).
    """
    from napari_unet.core.training.setup import is_stopped
    from napari_unet.core.training.validation import evaluate_pairs

    if not any(_has_annotation(p) for p in pairs):
        return 0.0

    def parts():  # cut one at a time, as they are scored, until a stop
        for p in pairs:
            if is_stopped(stop):
                return
            part = _annotated_part(p)
            if part is not None:
                yield part

    meta = {"separation_gap": config.gap} | ({"postprocess": postprocess} if postprocess else {})
    scores = evaluate_pairs(model, parts(), AS_IS, device, meta, stop)
    return 0.0 if scores is None else float(scores["ap50"])  # None: cut short by a stop


def _has_annotation(p: TrainPair) -> bool:
    """Whether ``p`` has an annotated pixel (no region: all of it is annotated)."""
    return p.mask is None or bool(p.mask.any())


def _annotated_part(p: TrainPair) -> TrainPair | None:
    """``p`` cut to its annotated region plus context, normalised image as ``raw``."""
    if p.mask is None:
        return replace(p, raw=p.image, normalization=dict(AS_IS))
    rows, cols = np.flatnonzero(p.mask.any(axis=1)), np.flatnonzero(p.mask.any(axis=0))
    if rows.size == 0:
        return None
    h, w = p.mask.shape
    ys = slice(max(0, rows[0] - CONTEXT_PX), min(h, rows[-1] + 1 + CONTEXT_PX))
    xs = slice(max(0, cols[0] - CONTEXT_PX), min(w, cols[-1] + 1 + CONTEXT_PX))
    return TrainPair(
        image=p.image[:, ys, xs],
        labels=p.labels[ys, xs],
        mask=p.mask[ys, xs],
        target=p.target[ys, xs],
        weights=p.weights[ys, xs],
        name=p.name,
        raw=p.image[:, ys, xs],
        head=p.head,
        extra=None if p.extra is None else p.extra[ys, xs],
        normalization=dict(AS_IS),
    )
