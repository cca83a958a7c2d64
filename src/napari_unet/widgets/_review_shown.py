"""What the Review dock's labels layer shows now: a mark it writes, read by Live and Train.

The Review dock shows each image in the same layers (:func:`~napari_unet.widgets.
_review_layers.show_item`): the labels layer gets the next image's labels, and the image
layer its pixels, or, for a grey image after a colour one (and back), a second image layer
is shown and the first hidden, renamed ``"a (hidden until the next grey image)"``. Each
step writes :data:`KEY` into the labels layer's metadata: which step it is (a number that
changes with every image shown), the image layer and its name, and where the labels came
from (``"prediction (nuclei)"``, ``"reviewed"``, ``"file a_labels.tif"``). Before, the
other docks could not tell:

- the Live dock went on training the hidden image's pixels with the next image's labels,
  and its prediction of the old image was accepted into them;
- the Train dock paired the hidden image with the next image's labels;
- *also train on other annotated images* took a prediction not reviewed yet as annotations.
"""

from __future__ import annotations

import itertools
import weakref

__all__ = ["KEY", "foreign_labels", "mark_shown", "predicted_labels", "shown_step"]

#: The labels layer's metadata key: ``{"step", "image", "name", "source"}``.
KEY = "napari_unet_review_shown"
_steps = itertools.count(1)


def mark_shown(labels_layer, image_layer, source: str) -> None:
    """Note in ``labels_layer`` that it shows, from now on, the labels of ``image_layer``."""
    labels_layer.metadata[KEY] = {
        "step": next(_steps),
        "image": weakref.ref(image_layer),
        "name": image_layer.name,
        "source": str(source),
    }


def _mark(labels) -> dict | None:
    mark = getattr(labels, "metadata", {}).get(KEY) if labels is not None else None
    return mark if isinstance(mark, dict) else None


def shown_step(labels) -> int | None:
    """Which image the Review dock shows in ``labels`` (changes with each; None: not Review's)."""
    mark = _mark(labels)
    return None if mark is None else mark.get("step")


def foreign_labels(image, labels) -> str | None:
    """Why ``labels`` are not ``image``'s: the Review dock's labels of another image (or None).

    The image the Review dock showed them with, or an image of its name, is theirs.
    """
    mark = _mark(labels)
    if mark is None or image is None:
        return None
    ref, name = mark.get("image"), mark.get("name")
    if (callable(ref) and ref() is image) or image.name == name:
        return None
    return (f"{labels.name!r} holds the Review dock's labels of the image {name!r}, not of "
            f"{image.name!r}: choose the image {name!r} with them")  # fmt: skip


def predicted_labels(labels) -> bool:
    """Whether ``labels`` show the Review dock's prediction of an image not reviewed yet."""
    mark = _mark(labels)
    return mark is not None and str(mark.get("source", "")).startswith("prediction")
