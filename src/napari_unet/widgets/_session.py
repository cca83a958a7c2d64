"""The layers of an annotation session: the annotations and the annotated region.

Used by the Annotate dock when a session starts: an existing layer of the right shape is
re-attached, one of another shape is renamed and kept (never replaced), and a saved project
fills a new layer.
"""

from __future__ import annotations

import contextlib
import weakref

import numpy as np
from napari.layers import Labels, Shapes
from napari.utils.notifications import show_error, show_warning

from napari_unet.core.annotation.regions import planes_with_region, whole_image_rectangle
from napari_unet.widgets import _session_owner as owner
from napari_unet.widgets._history import clear_history, history_deques
from napari_unet.widgets._layers import widen_labels
from napari_unet.widgets._made_layers import place
from napari_unet.widgets._session_file import file_of, project_is_newer, taken_from_file

__all__ = [
    "PlaneMarker",
    "attach_labels",
    "attach_region",
    "reconcile",
    "region_name",
]


def region_name(image_name: str) -> str:
    """The name of an image's annotated-region Shapes layer: ``"<image> annotated region"``."""
    return f"{image_name} annotated region"


def attach_labels(viewer, image, plan, where: dict, project, locks=None) -> Labels:
    """The ``"<image> annotations"`` Labels layer, re-attached or added (from the project).

    Its own is taken back renamed too, never another image's (:mod:`._session_owner`).
    ``where``: the image's placement (:func:`~._predict_place.placement`). ``locks``: the
    dock's :class:`~._annotate_edits.LockedLayers`; the read-only layer of ``image`` it (or a
    closed dock) holds is taken back first, whatever its name now.
    """
    name = f"{image.name} annotations"
    fits = lambda ly: not ly.multiscale and ly.data.shape == plan.labels_shape  # noqa: E731
    held = None if locks is None else locks.held_for(image, plan.labels_shape, viewer)
    existing = held if held is not None else owner.owned(viewer, image, Labels, fits)
    if existing is None and name in viewer.layers:
        existing = viewer.layers[name]
        if (whose := owner.elsewhere(existing, image, viewer)) is not None:
            owner.set_aside(existing, image.name, whose, viewer)  # never saved as this one's
            existing = None
    pyramid = isinstance(existing, Labels) and existing.multiscale  # an OME-Zarr's levels
    if isinstance(existing, Labels) and fits(existing):
        taken_from_file(existing)  # a store's own labels, as read: see reconcile
        widen_labels(existing)  # uint8 (255 cells at most), or read lazily: in memory
        place(existing, where)  # its rotation, shear...: before, scale and translate only
        return owner.own(existing, image)
    if existing is not None:  # (a pyramid: accepts could not write into it)
        show_warning(f"Layer {name!r} has another shape or several levels; it is renamed and kept.")
        existing.name = f"{name} (old)"
        owner.disown(existing)
    data = np.zeros(plan.labels_shape, np.uint32)
    if project is not None and project.annotations is not None:
        data = project.annotations.astype(np.uint32)
    elif pyramid and tuple(existing.data[0].shape) == plan.labels_shape:
        data = np.asarray(existing.data[0]).astype(np.uint32)  # its full resolution
    return owner.own(viewer.add_labels(data, name=name, opacity=0.6, **where), image)


def attach_region(viewer, image, plan, where: dict, project, kept=None) -> Shapes:
    """The ``"<image> annotated region"`` Shapes layer, re-attached or added.

    As :func:`attach_labels`, its own taken back renamed too, never another image's.

    A new layer holds ``kept`` (the region as it was when its layer was removed, a list of
    ``(shape type, vertices)``) if given, else the project's saved region, else one
    rectangle over the whole image: a fresh annotation is complete where it was painted.
    A stack starts with no region: :class:`PlaneMarker` marks each plane at its first
    stroke. (Before, a rectangle covered the plane on screen at Start, the middle one as
    napari opens a stack, and a plane painted after moving the slider was not trained.)
    """
    name = region_name(image.name)
    ndim = len(plan.labels_shape)
    region = owner.owned(viewer, image, Shapes, lambda ly: ly.ndim == ndim)
    if region is None and name in viewer.layers and isinstance(viewer.layers[name], Shapes):
        region = viewer.layers[name]
        if (whose := owner.elsewhere(region, image, viewer)) is not None:
            owner.set_aside(region, image.name, whose, viewer)
            region = None
        elif region.ndim != ndim:
            region.name = f"{name} (old)"
            owner.disown(region)
            region = None
    if region is not None:
        place(region, where)  # vertices are pixels: they follow too
        return owner.own(region, image)
    if kept is not None:
        data, types = [np.asarray(v, dtype=float) for _, v in kept], [t for t, _ in kept]
    elif project is not None and (project.region_data or project.annotations is not None):
        data, types = project.region_data, project.region_types
    elif plan.is_stack:
        data, types = [], []
    else:
        data, types = [whole_image_rectangle(plan.labels_shape)], ["rectangle"]
    region = viewer.add_shapes(
        data or None,
        shape_type=types or "rectangle",
        ndim=ndim,
        name=name,
        edge_color="yellow",
        face_color="transparent",
        edge_width=max(1.0, min(plan.labels_shape[-2:]) / 200),
        **where,
    )
    owner.own(region, image)
    return region


class PlaneMarker:
    """On a stack, the first edit of a plane no region lies on gives it a whole-plane rectangle.

    Painting on a plane means "this plane is annotated", as the default rectangle means for
    a 2D image. A plane with a shape of the user's keeps it (nothing is added). Only new
    edits count (napari's ``paint`` event: strokes, fills, Accept, Import); the rectangle is
    one change of the region layer, autosaved as any other. While the region layer is
    removed, the rectangle joins the region the dock keeps.

    An undo that leaves a plane it marked without labels takes its rectangle away again (a
    stray stroke undone is no annotation: before, the plane was trained as all background),
    and a redo that brings them back gives it back. napari sends no event for either: they
    are found by the lengths of its undo history, after each redraw and at the dock's timer;
    only the planes the undone items touched among those marked are read.

    The planes it marked are kept per annotations layer (weakly) across Starts: Start again
    on the same layer keeps its undo history, so an undo may reach a stroke painted before
    it. Before, Start forgot them, and that undo left the earlier rectangle on a plane with
    no labels (trained as all background). Only a whole-plane rectangle on a plane it
    marked is ever taken away; a shape of the user's never is.
    """

    def __init__(self, dock) -> None:
        self._dock, self._layer = dock, None
        self._marked: set[int] = set()  # planes given a rectangle, by this layer's strokes
        self._unmarked: set[int] = set()  # ... whose rectangle an undo took away
        self._records = weakref.WeakKeyDictionary()  # layer -> its (marked, unmarked)
        self._seen: tuple[int, int] | None = None  # lengths of the undo and redo history

    def attach(self, labels, plan) -> None:
        """Watch ``labels`` (a stack's annotations; a 2D image has its default rectangle)."""
        self.detach()
        if plan.is_stack:
            self._layer = labels
            self._marked, self._unmarked = self._records.setdefault(labels, (set(), set()))
            self._seen = self._lengths()
            labels.events.paint.connect(self._painted)
            labels.events.set_data.connect(self.check)
            self._dock._edits.timer.timeout.connect(self.check)

    def detach(self) -> None:
        """Stop watching (the layer's marked planes stay kept for its next Start)."""
        if self._layer is not None:
            self._layer.events.paint.disconnect(self._painted)
            self._layer.events.set_data.disconnect(self.check)
            with contextlib.suppress(RuntimeError, TypeError):  # the timer may be gone
                self._dock._edits.timer.timeout.disconnect(self.check)
            self._layer = self._seen = None
        self._marked, self._unmarked = set(), set()

    def _lengths(self) -> tuple[int, int] | None:
        deques = history_deques(self._layer)
        return None if deques is None else (len(deques[0]), len(deques[1]))

    def _shapes(self) -> tuple[list, list]:
        region, kept = self._dock._region, self._dock._region_kept or []
        if region is not None:
            return list(region.data), list(region.shape_type)
        return [v for _, v in kept], [t for t, _ in kept]

    def _painted(self, event) -> None:
        shape = self._layer.data.shape
        self._seen = self._lengths() or self._seen
        have = planes_with_region(*self._shapes(), shape[0])
        new = sorted(painted_planes(event.value, shape[0]) - have)
        self._add(new)

    def _add(self, planes) -> None:
        """Give each plane of ``planes`` a whole-plane rectangle."""
        shape, dock = self._layer.data.shape, self._dock
        rects = [whole_image_rectangle(shape, (z,)) for z in planes]
        if rects and dock._region is not None:
            dock._region.add(
                rects, shape_type="rectangle", edge_color="yellow", face_color="transparent"
            )
        elif rects:
            kept = dock._region_kept or []
            dock._region_kept = list(kept) + [("rectangle", r.tolist()) for r in rects]
        self._marked.update(planes)
        self._unmarked.difference_update(planes)

    def check(self, _event=None) -> None:
        """After an undo or redo (the history's lengths changed), unmark or mark planes again."""
        now = self._lengths() if self._layer is not None else None
        seen, self._seen = self._seen, now or self._seen
        if now is None or seen is None or now == seen:
            return
        data = self._layer.data
        if now[0] < seen[0] or now[1] > seen[1]:  # undone: the items now last in redo
            undone = list(history_deques(self._layer)[1])[seen[1] :] if now[1] > seen[1] else []
            touched = set().union(*(painted_planes(i, data.shape[0]) for i in undone))
            for z in sorted(self._marked & touched if undone else self._marked):
                if not np.any(data[z]) and self._remove(z):
                    self._marked.discard(z)
                    self._unmarked.add(z)
        if now[1] < seen[1] and self._unmarked:  # redone (or a new edit cleared redo)
            have = planes_with_region(*self._shapes(), data.shape[0])
            back = [z for z in sorted(self._unmarked - have) if np.any(data[z])]
            self._unmarked.difference_update(have)
            self._add(back)

    def _remove(self, z: int) -> bool:
        """Take away the whole-plane rectangle this marker gave plane ``z``; False: none."""
        rect, dock = whole_image_rectangle(self._layer.data.shape, (z,)), self._dock
        data, types = self._shapes()
        mine = [
            i
            for i, (v, t) in enumerate(zip(data, types, strict=True))
            if t == "rectangle" and np.shape(v) == rect.shape and np.allclose(v, rect)
        ][-1:]  # one: the one it added (a second one would be the user's)
        if mine and dock._region is not None:
            dock._region.remove(mine)
        elif mine:
            dock._region_kept = [k for i, k in enumerate(dock._region_kept) if i != mine[0]]
        return bool(mine)


def painted_planes(item, n_planes: int) -> set[int]:
    """The planes one item of napari's Labels undo history changed.

    An atom is a mask-based edit (its ``slice_key`` bounds it) or a fancy-index triple
    ``(indices, old values, new values)``.
    """
    planes: set[int] = set()
    for atom in item or []:
        key = getattr(atom, "slice_key", None)
        if key is not None:
            first = key[0] if isinstance(key[0], slice) else slice(key[0], key[0] + 1)
            planes.update(range(*first.indices(n_planes)))
        elif isinstance(atom, tuple) and len(atom) == 3 and len(atom[0]):
            planes.update(int(z) for z in np.unique(np.asarray(atom[0][0])))
    return planes


def reconcile(labels: Labels, region: Shapes, project, folder, last_saved=None) -> bool:
    """Make re-attached layers and a saved project agree; False: autosave must stay off.

    A re-attached layer keeps what it holds. When it is empty, the project's annotations
    and region fill it (the saved work continues; a saved empty region too: before, Start's
    whole-image rectangle stayed and was saved, and unpainted pixels read as background);
    so they do when it holds its file's labels as read (an OME-Zarr store's own, which the
    reader opens at each reopening) and the project was saved after that file was written
    (:mod:`._session_file`: before, autosave was off in every later session). When it holds
    other annotations, autosave would write them over the saved ones, so it is turned off
    and both are kept, unless the folder holds ``last_saved``, what this dock last saved
    there from this very layer: the layer continues that work, and its newer strokes are
    written.
    """
    newer = project_is_newer(labels, folder)  # asked at every Start: it forgets the layer
    saved = None if project is None else project.annotations
    if saved is None or np.array_equal(labels.data, saved):
        return True
    if last_saved is not None and np.array_equal(saved, last_saved):
        return True
    if not np.any(labels.data) or newer:  # the saved work, its region too (an empty one too)
        labels.data = saved.astype(np.uint32)
        clear_history(labels)  # napari keeps it across new data: Ctrl+Z erased saved cells
        region.data = []
        if project.region_data:
            region.add(project.region_data, shape_type=project.region_types)
        return True
    files = ", ".join(str(f) for f in file_of(labels)) or "its file"
    changed = f" (read from {files}, changed after they were saved)" if newer is False else ""
    show_error(
        f"{folder} holds saved annotations that differ from the layer {labels.name!r}"
        f"{changed}; neither is overwritten, and autosave is off. To keep the layer's, "
        "choose an empty project folder (or Export TIFF); to continue the saved ones, "
        "delete the layer and start annotating again."
    )
    return False


def plane_on_screen(viewer, layer, n_planes: int, strict: bool = True) -> int:
    """The plane of ``layer``'s stack on screen, by its own scale and translation.

    ``strict``: a view outside the stack, or one showing none of its planes (a side
    section, the 3D view), is an :class:`InputError` (never the nearest plane, which is not
    the one the user looks at); else the nearest plane is given.
    """
    from napari_unet.core.errors import InputError
    from napari_unet.widgets._layers import plane_in_view

    try:
        return plane_in_view(viewer, layer, n_planes, image_plane=True)
    except InputError:
        if strict:
            raise
        plane = np.round(layer.world_to_data(viewer.dims.point)[0])
        return int(np.clip(plane, 0, n_planes - 1))


def acceptance_job(viewer, labels: Labels, plan, region: Shapes, prediction, min_size):
    """A function that accepts ``prediction`` in the region, to run off the GUI thread.

    What the view decides (the plane on screen, the region's shapes) is read now; the
    function reads the layers' arrays (keep the annotations layer from being painted
    meanwhile) and returns ``(indices, values, cells added, plane, next free id)``: the
    change for one ``data_setitem``, and why nothing changes (None when something does). On
    a stack it is the plane on screen (the whole plane when no region lies on it: the
    accept marks it, as a stroke does), and its new cells take ids above every id of the
    stack; a multiscale prediction is read at full
    resolution. Accepting a few cells of a large image costs their box, not the image.
    The function runs once: it lets go of the arrays as it starts.
    """
    from napari_unet.core.annotation.edits import accepted_changes, next_free_id
    from napari_unet.core.annotation.regions import region_mask
    from napari_unet.core.errors import InputError

    shape = plan.labels_shape
    z = plane_on_screen(viewer, labels, shape[0]) if plan.is_stack else None
    shapes = (list(region.data), list(region.shape_type))
    ann = labels.data
    source = prediction.data[0] if getattr(prediction, "multiscale", False) else prediction.data
    if plan.kind == "channels" and tuple(source.shape)[1:] == tuple(shape):
        raise InputError(
            f"{prediction.name!r} has one plane per channel of the image (a model of one "
            "channel predicts each on its own), but the annotations mark all channels at "
            "once: predict with a model trained on these channels (the Train dock trains "
            "one on them), or start annotating with leading axis 'stack'"
        )

    held = [ann, source]  # napari keeps the worker for good: emptied as the job starts

    def accept():
        ann, source = held  # it runs once
        held.clear()  # before, each accept kept that round's whole prediction for good
        first = next_free_id(ann)  # of the whole stack
        plane = (z,) if z is not None else ()
        pred = source[plane] if z is not None and tuple(source.shape) == shape else source
        pred = np.asarray(pred)  # read once (a lazy or multiscale plane)
        mask = region_mask(*shapes, shape)[plane]
        if z is not None and z not in planes_with_region(*shapes, shape[0]):
            mask = np.ones(shape[1:], bool)  # unmarked: accepting marks it, as a stroke does
        idx, values, added = accepted_changes(ann[plane], pred, mask, min_size, first)
        idx = (np.full(idx[0].shape, z, np.intp), *idx) if z is not None else idx
        after = max(first, int(values.max()) + 1 if values.size else first)
        why = None if values.size else _nothing_accepted(pred, mask, z)
        return idx, values, added, z, after, why

    return accept


def _nothing_accepted(pred: np.ndarray, mask: np.ndarray, z) -> str:
    """Why accepting ``pred`` in the region ``mask`` changed nothing (said in the status)."""
    where = "this plane" if z is not None else "the image"
    if not np.any(pred):
        return f"the prediction has no cells on {where}"
    if not mask.any():
        return (
            f"no annotated region covers {where}: draw one over the cells to accept (in the "
            "annotated region layer) and accept again"
        )
    if not np.any(pred[mask]):
        return "its cells lie outside the annotated region: draw the region over them"
    return "its cells there are annotated already (your cells win) or smaller than min piece"
