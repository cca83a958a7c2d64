"""What the Live dock trains on, read as the Predict dock reads an image layer.

napari shows a layer's axes as colour last (an RGB layer), else planes (its slider): a
``(3, H, W)`` grey layer is three planes, not three channels (it was trained on the mean of
its planes), unless the model has exactly as many input channels (more than one): then they
are its channels, as the Predict dock and the command line read them
(:func:`~napari_unet.core.annotation.axes.prediction_plan`). Live training takes one plane:

- a 2D image, grey or colour, or the plane of a stack (any number of planes) in view when
  Start is pressed; the annotations are one 2D Labels layer of the plane's size, which
  napari shows over every plane. The plane stays the same while training: the status line
  says which, and says so when the slider shows another one (the 2D annotations were
  painted for the plane trained; Stop, then Start there, to train on another plane);
- a multiscale (pyramid) layer at full resolution (``layer.data[0]``; ``np.asarray`` of
  the layer's data gives napari's lowest-resolution level);
- other annotated images (*also train on other annotated images*) by the same rule; an
  image that does not fit (a stack, annotations of another size or not 2D, channels the
  model cannot take) is left out, and the status line says which and why; so is an image
  with only a prediction (the Review dock's labels of an image it predicted, too).

Annotations that hold the Review dock's labels of another image than the one chosen (the
image layer it hid when the next image was of another kind) are refused at Start.

A deleted image or annotations layer stops training (:func:`on_layer_removed`); a deleted
annotated-region layer is no longer used (training goes on without the region).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np

from napari_unet.core.errors import InputError
from napari_unet.widgets import _layers
from napari_unet.widgets._review_shown import foreign_labels, predicted_labels

__all__ = [
    "Inputs",
    "Plane",
    "full_resolution",
    "image_planes",
    "inputs_note",
    "on_layer_removed",
    "other_annotations",
    "own_labels",
    "plane_note",
    "read_inputs",
    "region_removed",
    "trained_plane",
]


@dataclass(frozen=True)
class Plane:
    """The plane trained on: its pixels as the model reads them and where it lies."""

    raw: np.ndarray  # (C, H, W)
    shape: tuple[int, int]  # the annotations' (H, W)
    index: int | None = None  # its index in a stack (None: a 2D or colour image)
    count: int = 1  # the planes of the stack

    def describe(self) -> str:
        """``plane 2/2``, as napari's slider shows it (indices from 0), or ``""``."""
        return "" if self.index is None else f"plane {self.index}/{self.count - 1}"


@dataclass(frozen=True)
class Inputs:
    """What Start reads: the plane, the other annotated images, those left out and why."""

    image: object
    labels: object
    plane: Plane
    others: list
    names: list[str]
    left_out: list[str]
    used: list[str] = field(default_factory=list)  # the other images' labels layers


def full_resolution(layer):
    """A layer's full-resolution data (level 0 of a multiscale layer), not copied."""
    return layer.data[0] if getattr(layer, "multiscale", False) else layer.data


def image_planes(layer, in_channels: int = 1) -> tuple[object, int | None]:
    """The layer's full-resolution data and its planes (None: a 2D or colour image).

    Read as the Predict dock reads it (:func:`~napari_unet.core.annotation.axes.
    prediction_plan`): a first axis of exactly the model's ``in_channels`` (more than one)
    is its channels. Raises :class:`InputError` for axes live training cannot read.
    """
    from napari_unet.core.annotation.axes import check_named_planes, prediction_plan

    data = _layers.image_data(layer, in_channels)  # an RGB layer's alpha dropped, as Predict
    shape, rgb = tuple(int(s) for s in data.shape), bool(getattr(layer, "rgb", False))
    if rgb and len(shape) != 3:
        raise InputError(f"{layer.name!r} is a stack of colour images {shape}; live "
                         "training takes one colour image (Y x X x colour)")  # fmt: skip
    if len(shape) not in (2, 3):
        raise InputError(
            f"{layer.name!r} has shape {shape}: live training takes a 2D image, a colour "
            "image or a stack of planes (planes x Y x X; one plane is trained). For more "
            "axes open one time point, or one layer per channel"
        )
    names = getattr(layer, "axis_labels", None)
    try:  # z or t planes are no model's channels, as the Predict dock refuses them
        check_named_planes(shape, rgb, in_channels, names)
        plan, _ = prediction_plan(shape, rgb, in_channels, names)
    except InputError as exc:  # channels last, shown by napari as narrow planes
        raise InputError(f"{layer.name!r}: {exc}") from None
    return data, (shape[0] if plan.kind == "stack" else None)


def _annotations_shape(labels) -> tuple[int, int]:
    if getattr(labels, "multiscale", False):
        raise InputError(f"the annotations {labels.name!r} are a multiscale layer; paint on "
                         "a Labels layer of one resolution")  # fmt: skip
    shape = tuple(int(s) for s in labels.data.shape)
    if len(shape) != 2:
        raise InputError(
            f"live training works on a 2D image plane, with 2D annotations; {labels.name!r} "
            f"has shape {shape}. For a stack, add a 2D Labels layer of one plane's size "
            "(Y x X): it annotates the plane in view when you press Start"
        )
    return shape  # type: ignore[return-value]


def _plane_pixels(data, index: int | None, shape, name: str, in_channels: int) -> np.ndarray:
    from napari_unet.core.training.pairs import checked_image

    img = np.asarray(data if index is None else data[index])
    if index is not None:
        name = f"{name} (plane {index})"
    return checked_image(img, shape, name, in_channels, None)


def trained_plane(viewer, image, labels, in_channels: int) -> Plane:
    """The plane of ``image`` to train on with the 2D ``labels`` (raises InputError).

    A stack's plane is the one in view (its own leading axis, by its scale and translation);
    refused in the 3D view or a side section of the stack, which show none of its planes
    (before, the plane at the hidden slider was trained, and nothing was predicted).
    The annotations must lie on the image's pixels (its last two axes: scale, translate);
    before, annotations added without the image's pixel size were trained on misaligned.
    """
    from napari_unet.widgets._regions import check_same_grid

    shape = _annotations_shape(labels)
    check_same_grid(labels, image, what="the annotations")
    data, count = image_planes(image, in_channels)
    index = None if count is None else _layers.plane_in_view(viewer, image, count, True)
    raw = _plane_pixels(data, index, shape, image.name, in_channels)
    return Plane(raw, shape, index, count or 1)


def own_labels(viewer, image, exclude=()) -> object | None:
    """The Labels layer that annotates ``image`` (None: none), never its prediction.

    As the Train dock picks (:func:`~napari_unet.widgets._labels_default.preferred_labels`):
    ``"<image> annotations"``, then its other labels (its ground truth). Before, a layer
    named after the image came first when none ended in ``annotations``: *also train on
    other annotated images* trained on an image's prediction (``"<image> segmentation
    (...)"``, the model's own output), even with its ground truth open.
    """
    from napari_unet.widgets._labels_default import preferred_labels

    mine = _layers.layers_of(viewer, image, exclude=exclude)
    return preferred_labels(viewer, image, [ly for ly in mine if not _predicted(image, ly)])


def _predicted(image, layer) -> bool:
    """Whether ``layer`` is a prediction of ``image`` (Predict's, the Live or Review dock's).

    The Review dock's labels of an image it predicted, not reviewed yet
    (:func:`~napari_unet.widgets._review_shown.predicted_labels`): before, *also train on
    other annotated images* trained on them.
    """
    name, role = layer.name, getattr(layer, "metadata", {}).get(_layers.ROLE)
    # a second Live dock's prediction is "<image> live prediction [1]": its role says it too
    return (role == "preview" or name.startswith(f"{image.name} segmentation")
            or name.startswith(f"{image.name} live prediction")
            or predicted_labels(layer))  # fmt: skip


def _other_pair(other, ann, in_channels: int) -> tuple[np.ndarray, np.ndarray]:
    """``(raw, labels)`` of another annotated image (raises InputError: left out, and why)."""
    labels = np.asarray(full_resolution(ann))
    data, count = image_planes(other, in_channels)
    if count is not None:
        raise InputError("a stack")
    if labels.ndim != 2:
        raise InputError(f"{labels.ndim}D annotations")
    first = data.ndim == 3 and not getattr(other, "rgb", False)  # the model's channels first
    size = tuple(data.shape[1:] if first else data.shape[:2])
    if labels.shape != size:
        h, w = labels.shape
        raise InputError(f"annotations {h} x {w}, image {size[0]} x {size[1]}")
    return _plane_pixels(data, None, labels.shape, other.name, in_channels), labels


def other_annotations(viewer, image, labels, in_channels: int, left_out=None, used=None):
    """Copies ``(raw, labels)`` of the other annotated 2D images, and their names.

    Each image's labels are :func:`own_labels` (their names appended to ``used``). Images
    whose annotations are empty are not annotated; an image with only a prediction, and
    those that do not fit (a stack, annotations not 2D or of another size, channels the
    model cannot take) are left out, with why in ``left_out`` (``"name (why)"``).
    Multiscale layers are read at full resolution.
    """
    pairs, names = [], []
    for _, other in _layers.layer_choices(viewer, "Image", exclude=(image,)):
        ann = own_labels(viewer, other, exclude=(labels,))
        if ann is None or not np.any(full_resolution(ann)):
            predicted = [ly for ly in _layers.layers_of(viewer, other) if _predicted(other, ly)]
            if ann is None and predicted and left_out is not None:  # said: not trained on
                left_out.append(f"{other.name} (a prediction only, never trained on)")
            continue
        try:
            raw, data = _other_pair(other, ann, in_channels)
        except InputError as exc:
            if left_out is not None:
                left_out.append(f"{other.name} ({str(exc).removeprefix(other.name + ': ')})")
            continue
        pairs.append((raw, np.array(data)))  # its ids as they are (make_pairs compacts them)
        names.append(other.name)
        if used is not None:
            used.append(ann.name)
    return pairs, names


def read_inputs(dock, in_channels: int) -> Inputs:
    """What the Live dock's Start trains on (raises InputError on bad input)."""
    image, labels = dock._image_box.value, dock._labels_box.value
    if image is None or labels is None:
        raise InputError("choose an Image layer and the Labels layer you paint on")
    foreign = foreign_labels(image, labels)  # the Review dock's, now of its next image
    if foreign is not None:
        raise InputError(foreign)
    plane = trained_plane(dock._viewer, image, labels, in_channels)
    others, names, left, used = [], [], [], []
    if dock._others.value:
        others, names = other_annotations(dock._viewer, image, labels, in_channels, left, used)
    return Inputs(image, labels, plane, others, names, left, used)


def inputs_note(dock) -> str:
    """What the status line says of the inputs: the plane, the other images, those left out."""
    plane = getattr(dock, "_plane", None)
    note = "" if plane is None or plane.index is None else f" on {plane.describe()}"
    names, left = dock._other_names, dock._left_out
    used = getattr(dock, "_other_labels", [])  # each one's labels layer (not a prediction)
    if len(used) == len(names):
        names = [f"{n} with {u!r}" for n, u in zip(names, used, strict=True)]
    extra = [f"+ {len(names)} other images: {', '.join(names)}"] if names else []
    if left:
        extra.append("left out: " + ", ".join(left))
    link = getattr(dock, "_link", None)
    if link is not None and link.error is not None:  # before, the next refresh hid it
        extra.append(f"annotated region not used: {link.error}")
    elif link is not None and not getattr(dock, "_region_note", ""):  # (else: picked since)
        extra.append(f"annotated region {link.layer.name!r}")
    return note + (f" ({'; '.join(extra)})" if extra else "")


def plane_note(dock) -> str:
    """``"; the view shows plane 0/2 ..."`` when the slider left the plane trained on."""
    plane = getattr(dock, "_plane", None)
    if plane is None or plane.index is None or dock._image is None:
        return ""
    try:
        shown = _layers.plane_in_view(dock._viewer, dock._image, plane.count)
    except InputError:
        shown = None  # off the stack
    except Exception:  # noqa: BLE001 (a layer being removed): nothing to say
        return ""
    if shown == plane.index and _layers.shows_image_plane(dock._viewer):
        return ""
    if shown == plane.index:  # the 3D view, or a side section: no view is predicted
        return (f"; the view shows no plane (3D, or a side section): its prediction waits "
                f"for {plane.describe()} in the 2D view")  # fmt: skip
    where = "off the stack" if shown is None else f"plane {shown}/{plane.count - 1}"
    return (f"; the view shows {where}: training and its prediction stay on "
            f"{plane.describe()} (Stop, then Start, to train on the plane in view)")  # fmt: skip


def on_layer_removed(dock, layer) -> None:
    """A deleted image or annotations layer being trained on stops training, said in the status.

    magicgui emits no ``changed`` when the picker's last layer goes (it becomes None), so
    training went on, the status still said waiting, and Accept all wrote into the deleted
    annotations. The deleted annotations take no accepted objects any more.
    """
    link = getattr(dock, "_link", None)
    if link is not None and layer is link.layer:
        region_removed(dock, link)
    ours = layer is dock._image or layer is dock._annotations
    if not ours or dock.trainer is None:
        return
    running = dock.trainer.running  # called before the pickers change (and stop it)
    if running:
        dock.stop()
    if layer is dock._annotations:
        dock._live = None  # nothing is accepted into the deleted layer
        with contextlib.suppress(RuntimeError):  # (the dock closing with napari)
            dock._click.value = False
    if running:
        what = "image" if layer is dock._image else "annotations"
        dock._status.value = (f"Stopped: the {what} layer {layer.name!r} was deleted, after "
                              f"{dock.trainer.step} steps; the model is kept.")  # fmt: skip


def region_removed(dock, link) -> None:
    """The annotated-region layer was deleted while training: the trainer is told "no region".

    Before, the trainer kept the deleted layer's region as annotated background (the
    region was read at Start only) while the picker showed none, and the link still
    followed the deleted layer. Said in the status line (left out), until the next Start.
    """
    trainer = dock.trainer
    link.close()
    dock._link = None
    if trainer is None or not trainer.running:
        return
    trainer.set_region(np.zeros(link.shape, bool))
    dock._left_out = [*dock._left_out, f"annotated region {link.layer.name!r} (deleted)"]
    with contextlib.suppress(RuntimeError):  # (the dock closing with napari)
        dock._status.value = (f"The annotated region layer {link.layer.name!r} was deleted: "
                              "training goes on without its region.")  # fmt: skip
