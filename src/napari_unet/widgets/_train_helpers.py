"""Helpers of the Train dock: layer copies for the worker, output path, progress.

Which file a run writes (never another's) is :mod:`napari_unet.widgets._train_outputs`;
the preview layer (one per dock) is :mod:`napari_unet.widgets._train_preview`.

Also :class:`RegionDefault`, which the Train and Weight map docks share: their
annotated-region picker follows the Annotate dock's ``"<image> annotated region"`` layer
(not the Live dock's: that rectangle covers the whole image at first, and live training
would teach every pixel not yet painted as background).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from napari_unet.widgets._labels_default import LabelsDefault
from napari_unet.widgets._layers import image_data, region_array
from napari_unet.widgets._session import region_name
from napari_unet.widgets._train_preview import (  # noqa: F401 - the dock's helpers
    drop_blank,
    paint_preview,
    preview_layer,
)
from napari_unet.widgets._train_read import copied_or_lazy, read_then_train  # noqa: F401

#: Half the side of the largest preview (data pixels): a preview is a prediction per evaluation.
PREVIEW_HALF_SIDE = 512


class RegionDefault(LabelsDefault):
    """Keeps a region picker on the chosen image's ``"<image> annotated region"`` layer.

    The Annotate dock marks where an image is completely annotated with that Shapes layer;
    a dock that trained on the image without it taught every unpainted cell as background.
    :meth:`pick` (call it when the image or the viewer's layers change) chooses that layer
    for ``image_of()`` (the image the dock works on, or None), and "none" for an image
    without one. A region the user (or a script) chose, "none" too, is kept while the image
    stays and the layer is in the viewer (:class:`LabelsDefault` with ``per_image``): another
    image gets its own region again. Before, a region chosen for one image stayed for the
    next, and Train taught the unannotated part of that image as background.
    """

    none_is_a_choice = True

    def __init__(self, picker, image_of: Callable[[], object]) -> None:
        super().__init__(picker, image_of, viewer=None, per_image=True)
        native = getattr(picker, "native", None)
        if hasattr(native, "currentIndexChanged"):  # magicgui's changed skips "none" (None)
            native.currentIndexChanged.connect(lambda _index: self._on_changed(picker.value))

    def preferred(self, image, offered) -> object | None:
        """``image``'s annotated region among ``offered`` (None: it has none)."""
        name = None if image is None else region_name(image.name)
        return next((ly for ly in offered if ly.name == name), None)

    def _keeps(self, image, best, offered) -> bool:
        """Whether the region picked for ``image`` stays: renamed, it is still the image's."""
        if best is not None or self.auto is None or image is not self._picked_for:
            return False
        return any(self.auto is ly for ly in offered)


def snapshot(pairs, val_image, val_labels, in_channels: int | None = None, val_region=None) -> dict:
    """Copies of the training layers' data, taken on the GUI thread for the worker.

    Lazy data (dask, zarr) is not copied: the worker reads it (:func:`read_then_train`).

    ``pairs`` are (Image, Labels, region layer or None) triples; ``val_image`` is None (hold
    out part of the training data), ``"none"`` (no validation) or an Image layer, with
    ``val_labels`` its Labels layer. ``in_channels``: those of the model the run starts
    from (None: from scratch); an RGB layer's alpha is dropped for a model that does not
    take four channels (:func:`~napari_unet.widgets._layers.image_data`). Raises
    InputError when a layer is missing, or when annotations do not lie on their image's
    pixels (scale, translate, rotation: :func:`~napari_unet.widgets._regions.check_same_grid`,
    as the Live dock checks): before, Train learned from annotations misaligned with the
    cells they were drawn over. Or when a pair's labels are the Review dock's labels of
    another image (:func:`foreign_pair`). Or while the Annotate dock's accept (or import)
    is still computed: one written in parts is written at once first
    (:func:`~._pending_writes.settle`; before, half of it was copied). ``val_region``: the
    validation image's annotated region (:func:`val_region`), scored inside only.
    """
    from napari_unet.core.annotation.axes import check_labelled_named_planes
    from napari_unet.core.errors import InputError
    from napari_unet.widgets._pending_writes import settle
    from napari_unet.widgets._regions import check_same_grid

    def pixels(layer, channels=in_channels):
        return copied_or_lazy(image_data(layer, channels))

    if not pairs or any(i is None or lb is None for i, lb, _ in pairs):
        raise InputError("choose an Image layer and a Labels layer with painted cells")
    val = [(val_image, val_labels)] if val_image not in (None, "none") else []
    if (why := foreign_pair([*pairs, *val])) is not None:  # the Review dock's next image
        raise InputError(why)
    settle([*(lb for _, lb, _ in pairs), val_labels], "press Train (or Resume) again")
    for image, labels, _ in pairs:
        check_same_grid(labels, image, what="the annotations")
        try:  # z or t planes with 2D labels: not a model's channels, as train refuses them
            check_labelled_named_planes(image_data(image).shape, bool(image.rgb),
                                        image.axis_labels, image_data(labels).shape)  # fmt: skip
        except InputError as exc:
            raise InputError(f"{image.name!r}: {exc}") from None
    if val_image not in (None, "none") and val_labels is not None:
        check_same_grid(val_labels, val_image, what="the validation annotations")
    labels = [pixels(lb, None) for _, lb, _ in pairs]
    data = {
        "images": [pixels(i) for i, _, _ in pairs],
        "labels": labels,
        "regions": [
            region_array(r, lb.shape, like=layer)
            for (_, layer, r), lb in zip(pairs, labels, strict=True)
        ],
        "names": [i.name for i, _, _ in pairs],
        "val": None,
        "in_channels": in_channels,
    }
    if val_image == "none":
        data["val"] = []
    elif val_image is not None:
        if val_labels is None:
            raise InputError("choose the validation Labels layer (or hold out a region)")
        data["val"] = (pixels(val_image), pixels(val_labels, None), val_image.name)
        shape = data["val"][1].shape  # unpainted cells outside it are not background
        data["val_region"] = region_array(val_region, shape, like=val_labels)
    return data


def val_region(viewer, image) -> object | None:
    """The validation ``image``'s ``"<image> annotated region"`` layer (None: it has none).

    As for a training image (:class:`RegionDefault`): the Annotate dock's annotations are
    complete only inside it. Before, validation scored the rest as background, and the
    best model was chosen on those scores.
    """
    from napari.layers import Labels, Shapes

    if image is None or isinstance(image, str):
        return None
    name = region_name(image.name)
    return next((ly for ly in viewer.layers
                 if ly.name == name and isinstance(ly, Labels | Shapes)), None)  # fmt: skip


def typed_path(value) -> Path | None:
    """A FileEdit's path, ``~`` typed in it read as the home folder (None: empty).

    magicgui expands ``~`` only in a path chosen in the file dialog: a typed
    ``~/model.safetensors`` was refused ("the folder ~ does not exist").
    """
    if value is None or str(value) in ("", "."):
        return None
    return Path(value).expanduser()


def model_channels(init, resume) -> int | None:
    """The input channels of the model a run starts from (None: from scratch)."""
    if resume is not None:
        return int(resume.model.in_channels)
    if init is None:
        return None
    from napari_unet.core.models.modelfile import input_channels

    return input_channels(init)


def check_output(output: Path | None, layers, init) -> None:
    """Refuse (InputError) a model path that is a layer's source file, or unwritable."""
    from napari_unet.core.files import check_outputs
    from napari_unet.core.training.checkpoint import best_path, optimizer_path

    if output is None:
        return
    sources = [getattr(getattr(ly, "source", None), "path", None) for ly in layers if ly]
    check_outputs((output, best_path(output), optimizer_path(output)), [*sources, init])


def result_status(result, output: Path | None) -> tuple[str, str | None]:
    """The status line after a run, and a problem to notify (the model saved elsewhere).

    It says which weights (and file) the Predict dock got when they are not the last.
    """
    from napari_unet.widgets._train_sent import handed

    state = "stopped" if result.stopped else "finished"
    trouble = None
    if result.saved_to is not None and result.saved_to != output:
        trouble = f"{output} could not be written; the model was saved to {result.saved_to}"
        where = f"; saved {result.saved_to}"
    elif result.saved_to is not None:
        where = f"; saved {output}"
    elif output is not None:
        where = "; no step trained, nothing saved"
    else:
        where = "; choose 'save to' to keep it"
    gets = handed(result, output)[2]  # the best weights, when not the last: which, where
    if (result.best_metrics or {}).get("step") == 0 and result.steps_done > 0:
        where += (
            "; no step beat the start model on the validation data, so the Predict dock gets "
            f"{gets or 'the start model'} (annotate more, or another field, before training "
            "again)"
        )
    elif gets:
        where += f"; the Predict dock gets {gets}"
    return f"{state} at step {result.steps_done}{where}", trouble


def export_source(result, output: Path | None = None) -> tuple:
    """The trained model as the Export button takes it: ``((model, metadata), name, path)``.

    The best weights (what the Predict dock received), named after the file that holds
    them (:func:`~napari_unet.widgets._train_sent.handed`: ``NAME.best`` when the best is
    not the last step); InputError when nothing is trained.
    """
    from napari_unet.core.errors import InputError
    from napari_unet.widgets._exporting import suggested_path
    from napari_unet.widgets._train_sent import handed

    if result is None:
        raise InputError("no trained model to export: train first")
    name, saved, _ = handed(result, output)
    return (result.best_model(), result.best_metadata()), name, suggested_path(name, saved)


def val_text(image, labels, trained: list, viewer=None) -> str:
    """The idle status's words on validation: ``image`` scored against ``labels``.

    ``""`` without a validation image. A warning when the labels are the training labels
    (``trained``: ``(image, labels)`` pairs) of another image: nothing else refuses them
    when the shapes agree, and validation scored the image against cells it does not show
    (AP50 0; the start model kept as the best). Then a warning when a trained pair's labels
    are the Review dock's labels of another image (:func:`foreign_pair`; Train refuses it).
    Inside ``image``'s annotated region in ``viewer`` (:func:`val_region`), if it has one.
    """
    image = None if isinstance(image, str) else image  # "none": no validation image
    why, region = foreign_pair(trained), None if viewer is None else val_region(viewer, image)
    text = _val_words(image, labels, trained, region)
    return text + ("" if why is None else f" Warning: {why}.")


def foreign_pair(pairs) -> str | None:
    """Why a pair of ``pairs`` (image, labels, ...) is refused (None: none is).

    Its labels are the Review dock's labels of another image.

    The Review dock shows its next image in the same labels layer, and hides the image
    layer when the next image is of another kind (grey, colour): the hidden image stayed
    paired with the next image's labels, and Train learned its pixels with them.
    """
    from napari_unet.widgets._review_shown import foreign_labels

    for image, labels, *_ in pairs:
        why = foreign_labels(image, labels)
        if why is not None:
            return why
    return None


def _val_words(image, labels, trained: list, region=None) -> str:
    if image is None:
        return ""
    if labels is None:
        return f" Validating on {image.name!r}: choose its annotations in val annotations."
    inside = "" if region is None else f" inside {region.name!r}"
    text = f" Validating on {image.name!r} against {labels.name!r}{inside}."
    if any(im is image for im, _ in trained):  # as the command line warns (_train_checks)
        text += (
            f" Warning: {image.name!r} is also a training image: its scores, and the best "
            "model chosen by them, come from pixels the network trained on."
        )
    elif any(lb is labels and im is not image for im, lb in trained):
        text += (
            " Warning: those are the training annotations of another image; choose "
            f"{image.name!r}'s own in val annotations."
        )
    return text


def kept_note(result, start_step: int) -> str:
    """What a failed run kept, for its error message: ``""`` when it trained no step."""
    if result is None or result.steps_done <= start_step:
        return ""
    saved = f" (saved to {result.saved_to})" if result.saved_to is not None else ""
    return f"; the model trained to step {result.steps_done} is kept{saved}"


def started_text(ev, validation: str = "") -> tuple[str, str]:
    """A ``TrainStarted`` event as ``(the progress line's rate note, the status line)``.

    ``validation``: what the run validates on (``TrainForm.validation``; "": nothing).
    """
    auto = " auto" if ev.lr_reason.startswith("auto") else ""
    val = f"validating on {validation}" if ev.n_val and validation else "no validation"
    val += f" ({_cells(ev.n_val_cells)})" if ev.n_val and getattr(ev, "n_val_cells", 0) else ""
    cells = f"{_cells(ev.n_cells)}, " if getattr(ev, "n_cells", 0) else ""
    status = (f"Training on {ev.device}: {cells}crops {ev.input_size} px; learning rate "
              f"{ev.lr:g} ({ev.lr_reason}); {val}")  # fmt: skip
    return f"lr {ev.lr:g}{auto}", status


def _cells(n: int) -> str:
    return f"{n} cell{'s' if n != 1 else ''}"


def show_run_warning(args: tuple) -> str:
    """Show a warning of the training worker (its ``warned`` signal) as a notification.

    napari-unet's own RuntimeWarnings (no validation held out, a model file not written, a
    failed preview) and UserWarnings (a Resume on other validation data: the best model
    starts over). Returns a UserWarning's text, for the status line at the run's end ("":
    none). Before, a worker's warnings reached no one, then its UserWarnings did not.
    """
    message, category, filename = args[:3]
    ours = "napari_unet" in str(filename)
    if not ours or not issubclass(category, (RuntimeWarning, UserWarning)):
        return ""
    from napari.utils.notifications import show_warning

    show_warning(str(message))
    return str(message) if issubclass(category, UserWarning) else ""


def in_view(viewer, layer, shape: tuple, planes: int) -> tuple | None:
    """``(box, plane)`` of ``layer``'s image in view, for the preview; None: off the stack.

    The box is the view, up to :data:`PREVIEW_HALF_SIDE` px around its centre (speed); the
    plane is the image's own on screen (not the slider's index: a z-scaled stack). Zoomed
    in very far (a view under 16 px a side), a small box around the view's centre; a box of
    None (keep the last one) for a view beside the plane, or one of no plane (3D display,
    a side view). Before, those previewed the whole plane, uncapped, at every evaluation.
    """
    from napari_unet.core.errors import InputError
    from napari_unet.widgets._layers import plane_in_view
    from napari_unet.widgets._view_box import shows_image_plane, visible_box
    from napari_unet.widgets._view_region import SMALL_VIEW, view_region

    box = visible_box(viewer, layer, shape, limit=PREVIEW_HALF_SIDE)
    if box is None and shows_image_plane(viewer):  # a deep zoom, or a view beside the plane
        with contextlib.suppress(InputError):  # (beside: refused, the last box stays)
            box = view_region(viewer, layer, tuple(shape), SMALL_VIEW)
    try:
        return box, (plane_in_view(viewer, layer, planes) if planes > 1 else 0)
    except InputError:
        return None


def step_text(ev, start_step: int, elapsed: float, lr_note: str) -> str:
    """The status line of a ``TrainStep`` event, with the time left at the pace so far."""
    eta = elapsed / max(ev.step - start_step, 1) * (ev.total_steps - ev.step)
    return (f"step {ev.step}/{ev.total_steps}  loss {ev.loss:.4f}  {lr_note}  "
            f"{ev.images_per_s:.1f} img/s  ETA {fmt_time(eta)}")  # fmt: skip


def fmt_time(seconds: float) -> str:
    """``m:ss`` below an hour, else whole hours."""
    seconds = int(max(seconds, 0))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds < 3600 else f"{seconds // 3600} h"


def set_progress_deferred(bar, value: int) -> None:
    """Set a QProgressBar's value without its synchronous repaint.

    ``QProgressBar.setValue`` repaints at once; with updates disabled meanwhile the paint is
    left to the event loop, which merges it with the other pending paints (the status line).
    """
    bar.setUpdatesEnabled(False)
    try:
        bar.setValue(int(value))
    finally:
        bar.setUpdatesEnabled(True)  # schedules one ordinary (deferred) update


def preimport() -> None:
    """Import what the worker needs now (dock creation), not during training.

    An import holds the interpreter lock: torch or scikit-image imported by the worker
    thread would freeze the GUI thread for up to a second mid-training.
    """
    import importlib

    for name in (
        "torch",
        "safetensors.torch",
        "napari_unet.core.training.trainer",
        "napari_unet.core.training.pairs",
        "napari_unet.core.models.registry",
        "napari_unet.core.device",
        "napari_unet.core.training.losses",
        "napari_unet.core.training.validation",
        "napari_unet.core.inference.postprocess",
        "napari_unet.core.inference.plan",
        "napari_unet.core.inference.segment",
        "napari_unet.core.metrics",
        "napari_unet.core.models.modelfile",
        "napari_unet.core.training.weightmap",
    ):
        importlib.import_module(name)
