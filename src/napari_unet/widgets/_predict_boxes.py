"""The Predict dock's post-processing boxes: threshold, min area, split joined, seed level.

A model file may recommend any value its check accepts (``POSTPROCESS_VALUES`` in
:mod:`napari_unet.core.models.filecheck`): a threshold of 0.4251, a split of 25 px. The
boxes show 3 decimals over wide ranges; a value past a box's range is shown at its end and
the model line says so (:func:`past_note`). While a box still shows the recommendation, a
run uses the file's exact value, as ``nu.segment`` and ``napari-unet predict`` do
(:class:`~napari_unet.widgets._predict_display.PredictDisplay`). Before, the boxes rounded
to 2 decimals (a threshold of 0.425 ran as 0.42: another segmentation), and a value past
their narrow ranges (a split of 25 px, a seed level of 0.97) raised a traceback and kept
the previous model's values.
"""

from __future__ import annotations

import math

from magicgui.widgets import FloatSpinBox, SpinBox

#: Each box: the post-processing key, its label, lowest, highest, step and decimals (None:
#: whole pixels). Threshold and seed level are between 0 and 1 (excluded), as the file check.
BOXES = {
    "threshold": ("threshold", 0.001, 0.999, 0.05, 3),
    "min_size": ("min area (px²)", 0, 1_000_000_000, 1, None),
    "split": ("split joined (px)", 0.0, 1000.0, 0.5, 2),
    "seed_level": ("seed level", 0.001, 0.999, 0.05, 3),
}


def make_boxes(post) -> dict:
    """``key -> box`` for each post-processing setting, showing ``post``'s values."""
    boxes = {}
    for key, (label, low, high, step, decimals) in BOXES.items():
        value = getattr(post, key)
        if decimals is None:
            boxes[key] = SpinBox(label=label, min=low, max=high, step=step, value=value)
            continue
        box = FloatSpinBox(label=label, min=low, max=high, step=step, value=value)
        box.native.setDecimals(decimals)  # then the range again: Qt rounded it to 2 decimals
        box.min, box.max, box.value = low, high, value
        boxes[key] = box
    return boxes


def shown_as(box, value):
    """What ``box`` shows for ``value``: at the end of its range if past it, rounded."""
    value = min(max(value, box.min), box.max)
    if isinstance(box, FloatSpinBox):
        return round(float(value), box.native.decimals())
    return int(value)


def same(a, b) -> bool:
    """Whether two box values are the same (a box's float may differ in the last digit)."""
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)


def past_note(past: dict) -> str:
    """The model line's note on recommendations past their box (``label -> value``)."""
    if not past:
        return ""
    what = ", ".join(f"{label} {value:g}" for label, value in past.items())
    return f"; recommends {what}, past the box: used until you change it"
