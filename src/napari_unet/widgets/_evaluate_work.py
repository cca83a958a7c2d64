"""Work of the Evaluate dock done off the GUI thread: copying the layers, then scoring.

Copying two 8192 x 8192 Labels layers on the GUI thread when Evaluate was pressed froze
napari for about 2 s. The GUI thread now only checks the choices (names, shapes and
placement) and makes the layers read-only (:class:`ReadOnly`); the worker copies them
(:func:`copy_layers`) and says so (:data:`COPIED`), and the dock gives the layers back at
once. Painting while the copies are made is impossible, painting after them changes
nothing: the result is that of the layers as they were when Evaluate was pressed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from napari_unet.core.errors import InputError
from napari_unet.widgets import _workers
from napari_unet.widgets._worker_errors import surfaced

__all__ = [
    "COPIED",
    "Copied",
    "Plan",
    "ReadOnly",
    "check_overlay",
    "copy_layers",
    "is_stack",
    "plan",
    "progress_text",
    "restore_history",
    "score_each",
]


@dataclass(frozen=True)
class Copied:
    """Yielded once the layers are copied: the dock makes them editable again."""


COPIED = Copied()


@dataclass(frozen=True)
class Plan:
    """What to score, taken on the GUI thread: the layers' data, not copies of it.

    ``region`` is None, ``("shapes", name, vertices, shape types)`` (copies: they are
    small) or ``("labels", name, data)``.
    """

    gt: Any
    predictions: list[tuple[str, Any]]
    region: tuple | None
    per_plane: bool
    total: int


def _data(layer) -> Any:
    """A layer's full-resolution data (the first level of a multiscale layer)."""
    return layer.data[0] if getattr(layer, "multiscale", False) else layer.data


def _stack(shape: tuple[int, ...]) -> bool:
    """Planes to score one by one: 3 axes or more, but not ``(Y, X, 1)``.

    Labels saved with a samples axis (:func:`~napari_unet.core.images.labels.has_sample_axis`)
    are one image, as the core, the command line and the Weight map dock read them; the
    dock scored them row by row before, each row a "plane".
    """
    from napari_unet.core.images.labels import has_sample_axis

    return len(shape) >= 3 and not has_sample_axis(shape)


def is_stack(layer) -> bool:
    """Whether ``layer`` (None: no) is a stack to score plane by plane (:func:`_stack`)."""
    return getattr(layer, "ndim", 2) > 2 and _stack(tuple(np.shape(_data(layer))))


def plan(predictions: list, gt_layer, region_layer, per_plane: bool) -> tuple[Plan, list]:
    """Check the choices (cheap: names and shapes) and say what to score.

    Returns
    -------
    (Plan, list)
        The plan and the Labels layers it reads (to make read-only while they are copied).

    Raises
    ------
    InputError
        No prediction or ground truth, the same layer on both sides, different shapes, a
        prediction that does not lie on the ground truth's pixels (:func:`check_overlay`),
        a Shapes region without shapes or a region of another shape, or a layer the
        Annotate dock's accept (or import) still works on (one written in parts is written
        at once first, :func:`~._pending_writes.settle`: before, half of it was scored).
    """
    from napari.layers import Shapes

    from napari_unet.widgets._pending_writes import settle
    from napari_unet.widgets._regions import check_same_grid, shapes_in_pixels

    if not predictions or gt_layer is None:
        raise InputError("choose a prediction and a ground-truth Labels layer")
    if gt_layer in predictions:
        raise InputError(
            f"prediction and ground truth are both {gt_layer.name!r}; choose two layers"
        )
    shape = tuple(np.shape(_data(gt_layer)))
    for layer in predictions:
        if tuple(np.shape(_data(layer))) != shape:
            raise InputError(
                f"{layer.name!r} has shape {tuple(np.shape(_data(layer)))} but "
                f"{gt_layer.name!r} has shape {shape}; expected layers of the same shape"
            )
        check_overlay(layer, gt_layer)
    layers, region = [gt_layer, *predictions], None
    if isinstance(region_layer, Shapes):
        if len(region_layer.data) == 0:
            raise InputError(
                f"the Shapes layer {region_layer.name!r} has no shapes; draw the region"
            )
        vertices = shapes_in_pixels(region_layer, gt_layer)  # where it is drawn on them
        region = ("shapes", region_layer.name, vertices, list(region_layer.shape_type))
    elif region_layer is not None:
        check_same_grid(region_layer, gt_layer)
        got = tuple(np.shape(_data(region_layer)))
        flat = shape[1:] if _stack(shape) else shape[:2]  # 2D: every plane, or (Y, X) of 1
        if got != shape and not (len(shape) >= 3 and got == flat):
            raise InputError(
                f"the annotated region {region_layer.name!r} has shape {got}, but the "
                f"labels have shape {shape}; expected the same shape"
            )
        region = ("labels", region_layer.name, _data(region_layer))
        layers.append(region_layer)
    settle(layers, "press Evaluate again")  # an accept written in parts: all of it first
    planes = shape[0] if per_plane and _stack(shape) else 1
    preds = [(layer.name, _data(layer)) for layer in predictions]
    return Plan(_data(gt_layer), preds, region, per_plane, planes * len(preds)), layers


def check_overlay(layer, gt_layer) -> None:
    """Refuse a prediction that does not lie on the ground truth's pixels in the viewer.

    Scoring compares pixel to pixel; two layers of the same shape that the viewer shows
    apart (another scale, translate, rotation, shear or affine) were scored as if they
    overlaid, a shifted copy of the ground truth as AP 1.000.
    """
    from napari_unet.widgets._regions import same_geometry

    if same_geometry(layer, gt_layer):
        return
    raise InputError(
        f"{layer.name!r} does not lie on the pixels of {gt_layer.name!r} (their scale, "
        "translate or rotation differ), so their pixels cannot be compared; give "
        f"{layer.name!r} the same scale and translate as {gt_layer.name!r}"
    )


def _region_mask(region: tuple | None, shape: tuple[int, ...]) -> np.ndarray | None:
    """The annotated region as a bool mask of ``shape`` (a 2D one marks every plane).

    Of ``(Y, X, 1)`` labels (one image) the mask is ``(Y, X)``: their samples axis goes.
    """
    from napari_unet.core.annotation.regions import region_mask
    from napari_unet.core.images.labels import has_sample_axis

    if region is None:
        return None
    kind, name, *rest = region
    one = has_sample_axis(shape)  # (Y, X, 1)
    if kind == "shapes":
        flat = one and all(np.shape(v)[-1] <= 2 for v in rest[0])  # 2D shapes: on (Y, X)
        mask = region_mask(rest[0], rest[1], shape[:2] if flat else shape)
    else:
        mask = np.asarray(rest[0]) != 0
        if mask.shape != shape and not (one and mask.shape == shape[:2]):
            mask = np.broadcast_to(mask, shape)  # one region drawn for every plane
    if one and mask.ndim == 3:
        mask = mask[..., 0]
    if not mask.any():
        raise InputError(f"the annotated region {name!r} is empty; draw or paint it")
    return np.ascontiguousarray(mask)


def copy_layers(plan: Plan) -> list[tuple[str, list]]:
    """Copies of the planned layers, as ``[(prediction, pairs)]`` (in the worker).

    Each pair is ``(name, ground truth, prediction, region or None)``: one per plane of a
    stack scored plane by plane, else one.
    """
    from napari_unet.core.images.labels import has_sample_axis

    gt = np.array(plan.gt)
    region = _region_mask(plan.region, gt.shape)
    one = has_sample_axis(gt.shape)  # (Y, X, 1): one image, scored as (Y, X)
    gt = gt[..., 0] if one else gt
    jobs = []
    for name, data in plan.predictions:
        pred = np.array(data)[..., 0] if one else np.array(data)
        if plan.per_plane and gt.ndim >= 3:
            planes = [None] * gt.shape[0] if region is None else region
            pairs = [(f"plane {z}", gt[z], pred[z], planes[z]) for z in range(gt.shape[0])]
        else:
            pairs = [(name, gt, pred, region)]
        jobs.append((name, pairs))
    return jobs


@surfaced  # its RuntimeError (out of memory) ends the run, as other errors do
def score_each(plan: Plan, thresholds) -> Generator:
    """Copy the layers, yield :data:`COPIED`, then score each prediction's pairs in turn.

    The progress events of :func:`napari_unet.widgets._workers.evaluate_job` are counted
    across all predictions. Returns ``{prediction name: (per_image, total)}``.
    """
    jobs = copy_layers(plan)
    yield COPIED
    scores: dict[str, tuple] = {}
    done = 0
    for name, pairs in jobs:
        run = _workers.evaluate_job(pairs, thresholds, len(pairs))
        while True:
            try:
                event = next(run)
            except StopIteration as stop:
                scores[name] = stop.value
                break
            label = event.name if len(jobs) == 1 else f"{name}: {event.name}"
            if hasattr(event, "done"):
                event = replace(event, done=done + event.done, total=plan.total)
            yield replace(event, name=label)
        done += len(pairs)
    return scores


class ReadOnly:
    """Labels layers read-only until :meth:`release` (then as they were, undo history too).

    napari clears a layer's undo history when it is made read-only; the history is kept
    (:mod:`._held_layers`) and given back (with anything added meanwhile), so the strokes
    made before pressing Evaluate can still be undone. A layer another dock holds too (the
    Annotate dock accepting, or leaving it to no session) stays read-only until that dock
    lets it go; a layer whose data was replaced meanwhile (Review showing the next image)
    gets no history back: Ctrl+Z would paste the last image's pixels into it.
    """

    def __init__(self, layers: list) -> None:
        from napari_unet.widgets._held_layers import hold

        self._layers = list({id(lyr): lyr for lyr in layers}.values())
        for layer in self._layers:
            hold(layer, self)

    def release(self) -> None:
        """Give the layers back as they were (once; later calls do nothing)."""
        from napari_unet.widgets._held_layers import release

        layers, self._layers = self._layers, []
        for layer in layers:
            before = release(layer, self)
            if before is None or not before.editable:  # another dock holds it, or the
                continue  # user made it read-only: left so
            layer.editable = True
            if layer.mode != before.mode:
                layer.mode = before.mode
            if before.data_kept(layer):
                restore_history(layer, *before.history)


def restore_history(layer, undo: deque | None, redo: deque | None) -> None:
    """Put back the undo items napari dropped (napari's private deques; skipped if absent)."""
    from napari_unet.widgets._private import private, set_private

    now = private(layer, "_undo_history")
    if undo is None or redo is None or now is None or now is undo:
        return
    set_private(layer, "_undo_history", deque([*undo, *now], maxlen=undo.maxlen))
    if not now:  # nothing new was done: what could be redone still can
        set_private(layer, "_redo_history", redo)


def progress_text(event) -> str:
    """The dock's status for an event the worker yielded (:func:`score_each`)."""
    from napari_unet.core.metrics import EvaluateStep

    if isinstance(event, Copied):
        return "Layers copied; evaluating..."
    if isinstance(event, EvaluateStep):
        return f"Evaluating {event.name}: {event.fraction:.0%}"
    return f"Evaluated {event.done} of {event.total}: {event.name}"
