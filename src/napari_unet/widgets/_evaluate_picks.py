"""The Evaluate section's own picks: a prediction with its own image's ground truth.

Layers are told apart by the names the docks give them: Predict's ``"<image> segmentation"``
(or ``"<image> segmentation (...)"``) and ``"<image> annotations"`` (or ``"<image> ground
truth"``). Before, the section opened in a window holding two images' layers scored one
image's annotations against the other's segmentation (the first Labels layer as ground truth,
the last as prediction), and a ground truth picked for image A's prediction was kept for
image B's next prediction.
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass
from typing import Any

from napari_unet.widgets._evaluate_text import kept_pick, segmentations_of, truth_of

__all__ = [
    "Pair",
    "image_of",
    "mixed",
    "own_pair",
    "pick_defaults",
    "picked",
    "prediction_image",
    "sensible_pair",
    "suggest",
]

_SEGMENTATION = re.compile(r"(.+) segmentation(?: \(.*)?", re.S)
_TRUTH = re.compile(r"(.+) (?:annotations|ground truth)", re.S)


def prediction_image(name: str) -> str | None:
    """``"img"`` for ``"img segmentation"`` or ``"img segmentation (nuclei)"``, else None."""
    found = _SEGMENTATION.fullmatch(name)
    return found.group(1) if found else None


def image_of(layer) -> str | None:
    """The image a Labels layer belongs to by its name (a prediction's or annotations')."""
    found = _TRUTH.fullmatch(layer.name)
    return prediction_image(layer.name) or (found.group(1) if found else None)


def mixed(prediction, gt) -> bool:
    """Whether their names say they belong to two images, or that their roles are swapped."""
    image, truth = image_of(prediction), image_of(gt)
    if image is not None and truth is not None and image != truth:
        return True
    swapped = prediction_image(gt.name) is not None and _TRUTH.fullmatch(prediction.name)
    return bool(swapped)


@dataclass(frozen=True)
class Pair:
    """A prediction, its ground truth (None: unpicked) and the image without one, if any."""

    prediction: Any
    gt: Any
    missing: str | None = None


def own_pair(prediction, layers: list) -> Pair:
    """``prediction`` with its image's ground truth; for a layer of no image, the first other.

    The first other Labels layer is never one of another image (then none is picked); with
    no other, the prediction itself (the status asks for two layers).
    """
    others = [lyr for lyr in layers if lyr is not prediction]
    image = image_of(prediction)
    if image is not None:
        gt = truth_of(image, others)
        return Pair(prediction, gt, None if gt is not None else image)
    if not others:  # one Labels layer: on both sides (the status says to choose two)
        return Pair(prediction, prediction)
    return Pair(prediction, next((lyr for lyr in others if not mixed(prediction, lyr)), None))


def sensible_pair(layers: list) -> Pair:
    """The pair to show when nothing is picked: the newest prediction with its ground truth.

    Without a ground truth for any prediction, the newest prediction and none (``missing``
    names its image); without predictions named by Predict, the first Labels layer against
    the last (annotations are usually added first), unless their names say they belong to
    two images or have their roles swapped: then none. One layer: it on both sides.
    """
    predictions = [lyr for lyr in layers if prediction_image(lyr.name) is not None]
    for prediction in reversed(predictions):
        pair = own_pair(prediction, layers)
        if pair.gt is not None:
            return pair
    if predictions:
        return own_pair(predictions[-1], layers)
    if len(layers) < 2:
        return Pair(*(layers[:1] * 2 or [None, None]))
    gt, prediction = layers[0], layers[-1]
    return Pair(prediction, None if mixed(prediction, gt) else gt)


def _alive(ref):
    return ref() if ref is not None else None


def picked(panel, prediction) -> None:
    """The user picked ``prediction`` (or the ground truth, then None) in the Evaluate panel.

    A ground truth the dock picked for the previous prediction gives way to this one's own
    (never another image's); the ground truth the user picked is now for this prediction's
    image (by its name; else the ground truth's, else the image last suggested). Before, it
    was for the image last suggested: picked with image A's prediction, it was kept for
    image B's next prediction.
    """
    if prediction is not None:
        panel._pred_pick = weakref.ref(prediction)
        if prediction is not panel._ground_truth.value:  # else the status says choose two
            pick_defaults(panel)
    pick, gt = panel._gt_pick, panel._ground_truth.value
    if pick is None or gt is None or _alive(pick[0]) is not gt:
        return
    pred = panel._prediction.value
    image = image_of(pred) if pred is not None else None
    panel._gt_pick = (pick[0], image or image_of(gt) or panel._image)


def pick_defaults(panel) -> None:
    """Keep the user's ground truth or a sensible pair, else pick one (or none, said so).

    Looked at again as layers come, go or are renamed: before, ``"<image> annotations"``
    made after a prediction of an image without them was never picked.
    """
    panel.reset_choices()
    layers = [lyr for _, lyr in panel._labels_choices()]
    pred, gt = panel._prediction.value, panel._ground_truth.value
    users = gt is not None and panel._gt_pick is not None and _alive(panel._gt_pick[0]) is gt
    if pred is None or users or (gt not in (None, pred) and not mixed(pred, gt)):
        return
    if _alive(panel._pred_pick) is pred:  # the user's or the dock's: its own ground truth
        pair = own_pair(pred, layers)
    else:
        pair = sensible_pair(layers)
    panel._gt_missing, panel._unpaired = pair.missing, pair.gt is None and not pair.missing
    panel._ground_truth.reset_choices()  # "(none)" offered while none is picked
    panel._prediction.value, panel._ground_truth.value = pair.prediction, pair.gt
    if pair.missing or pair.gt not in (None, pair.prediction):
        panel._pred_pick = weakref.ref(pair.prediction)


def suggest(panel, image_name: str, prediction: str | None) -> None:
    """Pick the image's segmentations, ground truth and region (``EvaluateWidget.suggest``)."""
    panel.reset_choices()
    names = {lyr.name: lyr for _, lyr in panel._region_choices() if lyr is not None}
    ours = segmentations_of(image_name, [lyr for _, lyr in panel._labels_choices()])
    main = names.get(prediction) if prediction else None
    main = main if main in ours else (ours[-1] if ours else None)
    if main is not None:
        panel._prediction.value, panel._pred_pick = main, weakref.ref(main)
    choices = panel._ground_truth.choices  # before, "<image> ground truth" was not picked
    gt = kept_pick(panel._gt_pick, choices, image_name, main) or truth_of(image_name, choices)
    panel._image = image_name
    panel._gt_missing, panel._unpaired = (image_name if gt is None else None), False
    panel._ground_truth.reset_choices()  # "(none)" offered while there are no annotations
    panel._ground_truth.value = gt  # never another image's annotations
    panel._compare.reset_choices()  # the ground truth is not offered to compare with,
    if main is not None:  # so it is left out (before, a segmentation as ground truth failed)
        panel._compare.value = [ly for ly in ours if ly in panel._compare.choices]
    region = names.get(f"{image_name} annotated region")
    panel._region.value = region if region in panel._region.choices else None
