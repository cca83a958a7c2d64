"""Accepting the Live dock's predicted objects: a click, or all of them in a region.

Both work on a box, not on the plane. A click labels a window around the clicked object
whose sides move out until the object lies inside it; *Accept all* merges the bounding box
of the region (the view box, or the box of the chosen Shapes layer's shapes), grown by the
objects that cross its sides: each object partly inside is taken whole. New cells
still take ids above every id of the plane, so ids stay unique. On an 8192 x 8192 plane,
labelling the whole plane took a click 0.9 s and a view's Accept all 3.1 s of the GUI thread.

Neither writes into a read-only annotations layer (:func:`refuse_read_only`): the Annotate
dock makes it so while its *Accept prediction* writes into it, and when no session saves it.
Before, Live wrote anyway: its cells took the same new ids as the Annotate accept's (one id
in two places) and were then written over by it, or were never saved. Nor from a
prediction of what the image held before its data was replaced, or before the Review dock
showed its next image in the annotations (:func:`~napari_unet.widgets._live_stale.
refuse_changed`): before, the old image's cells were copied into the next image's labels.
"""

from __future__ import annotations

import numpy as np

__all__ = ["accept_at", "accept_in_box", "accept_region", "click_gesture", "click_mode", "mask_box",
           "object_window", "read_only_note", "refuse_read_only", "whole_objects"]  # fmt: skip

#: Half side of the first window searched around a click (pixels).
WINDOW = 64
#: Accept all grows the region's box by whole objects up to this many times its pixels.
GROWN = 4
#: How far the mouse may move between press and release (screen pixels) for a click.
CLICK_SLOP = 2


def _moved(viewer, press, event) -> float:
    """How far (screen pixels) the mouse moved since ``press``: on screen or in the world."""
    screen = np.abs(np.asarray(event.pos, float) - press[0]).max(initial=0)
    world = np.abs(np.asarray(event.position, float) - press[1]).max(initial=0)
    return max(float(screen), float(world) * float(viewer.camera.zoom))


def click_mode(dock, on: bool) -> None:
    """Click to accept on (the viewer's drag callback added) or off (removed)."""
    callbacks = dock._viewer.mouse_drag_callbacks
    if on and dock._on_click not in callbacks:
        if dock._annotations is not None:
            dock._annotations.mode = "pan_zoom"  # a click accepts; it must not also paint
        callbacks.append(dock._on_click)
    elif not on and dock._on_click in callbacks:
        callbacks.remove(dock._on_click)


def click_gesture(dock, viewer, event):
    """The Live dock's mouse-drag callback: a click accepts the predicted object under it.

    A generator (napari calls it again on every move and at the release): the press only
    remembers where it was. A press, then a release within :data:`CLICK_SLOP` screen pixels,
    on the annotations or the prediction layer (the active layer) accepts; a drag (a pan, a
    shape being drawn) or a click on another layer (placing a Shapes corner) does not.
    Before, every press accepted.
    """
    if dock._live is None or event.type != "mouse_press":
        return
    press = (np.asarray(event.pos, float), np.asarray(event.position, float))
    dragged = False
    yield
    while event.type == "mouse_move":
        dragged = dragged or _moved(viewer, press, event) > CLICK_SLOP
        yield
    dragged = dragged or _moved(viewer, press, event) > CLICK_SLOP
    active = viewer.layers.selection.active
    if dragged or dock._live is None or active not in (dock._annotations, dock._live):
        return
    y, x = (int(round(v)) for v in dock._live.world_to_data(press[1])[-2:])
    h, w = dock._mirror.shape
    if 0 <= y < h and 0 <= x < w:
        _click_accept(dock, y, x)


def _click_accept(dock, y: int, x: int) -> None:
    """Accept the object at ``(y, x)``; the status line says when a click added nothing."""
    from napari.utils.notifications import show_info

    from napari_unet.core.errors import InputError
    from napari_unet.widgets import _layers

    try:
        added = dock.accept_at(y, x)
    except InputError as exc:
        _layers.report_error(dock._status, str(exc))
        return
    live = dock._live
    if added or live is None or int(live.data[y, x]) == 0:
        return  # accepted, or a click on the background
    message = (
        "Nothing accepted: the predicted object there is a painted cell already, or what "
        "is free of it is a thin rim around one or under 10 px (as Accept all)"
    )
    show_info(message)
    dock._status.value = message


def object_window(live: np.ndarray, y: int, x: int, limit: int | None = None):
    """The window around the predicted object at ``(y, x)`` and its pixels there.

    The object is the connected part of the clicked id (as
    :func:`~napari_unet.widgets._live_parts.object_at`); each side of the window moves out
    (twice as far each time) while the object touches it inside the plane, so the object
    is whole: ``((rows, cols), mask)``. None when the window would pass ``limit`` pixels.
    """
    from scipy import ndimage

    h, w = live.shape
    reach = [WINDOW] * 4  # up, down, left, right
    while True:
        y0, y1 = max(0, y - reach[0]), min(h, y + reach[1] + 1)
        x0, x1 = max(0, x - reach[2]), min(w, x + reach[3] + 1)
        if limit is not None and (y1 - y0) * (x1 - x0) > limit:
            return None
        part = np.asarray(live[y0:y1, x0:x1])
        parts, _ = ndimage.label(part == part[y - y0, x - x0])
        mask = parts == parts[y - y0, x - x0]
        touches = (y0 > 0 and mask[0].any(), y1 < h and mask[-1].any(),
                   x0 > 0 and mask[:, 0].any(), x1 < w and mask[:, -1].any())  # fmt: skip
        if not any(touches):
            return (slice(y0, y1), slice(x0, x1)), mask
        reach = [r * 2 if t else r for r, t in zip(reach, touches, strict=True)]


def _read_only_why(labels) -> str | None:
    """Why ``labels`` is read-only, in words (None: it is editable)."""
    from napari_unet.widgets._annotate_edits import read_only_why

    if labels is None or labels.editable:
        return None
    why = read_only_why(labels)
    if why == "accepting":
        return (  # an Accept prediction or an Import TIFF
            "the Annotate dock is writing into it (Accept prediction or Import TIFF); accept "
            "when it ends"
        )
    if why == "unsaved":
        return (
            "no Annotate session saves it (cells accepted now would never be saved): press "
            "Start annotating on its image in the Annotate dock"
        )
    return "make it editable (or choose an editable layer)"


def refuse_read_only(labels) -> None:
    """Raise an InputError saying why nothing is accepted into ``labels`` if it is read-only."""
    from napari_unet.core.errors import InputError

    because = _read_only_why(labels)
    if because is not None:
        raise InputError(f"Nothing accepted: {labels.name!r} is read-only: {because}")


def read_only_note(dock) -> str:
    """For the Live status line, while its annotations are read-only: accepts are off, why.

    The refusal itself is shown once; the status line is refreshed twice a second.
    """
    because = _read_only_why(dock._annotations)
    return "" if because is None else f"; accepting is off (annotations read-only): {because}"


def accept_at(live, labels, y: int, x: int) -> bool:
    """Copy the predicted object of ``live`` at ``(y, x)`` into the Labels layer ``labels``.

    By Accept all's rule (:func:`~napari_unet.core.annotation.edits.accepted_changes` on
    the object's window, restricted to the clicked object): its free pixels, less pieces
    under 10 px and the thin rest that wraps a painted cell (before, a click made that rest
    a ring-shaped new cell around the painted one); new ids above every id in use. One undo
    step; the paint event sends it to the trainer. False when nothing was added (background,
    a painted pixel, an object that is a painted cell's own outline).

    Raises
    ------
    InputError
        From the merge (ids that do not fit the labels' type); a read-only ``labels``
        (:func:`refuse_read_only`).
    """
    from napari_unet.core.annotation.edits import accepted_changes, next_free_id

    if labels.data.shape != live.shape or int(live[y, x]) == 0 or labels.data[y, x] != 0:
        return False  # (annotations of another shape now: nothing to copy into)
    refuse_read_only(labels)
    (ys, xs), mask = object_window(live, y, x)
    first = next_free_id(np.asarray(labels.data))
    (py, px), values, added = accepted_changes(
        np.asarray(labels.data[ys, xs]), np.asarray(live[ys, xs]), mask, first_id=first
    )
    if py.size:
        labels.data_setitem((py + ys.start, px + xs.start), values)
    return added > 0


def mask_box(mask: np.ndarray):
    """``(y0, y1, x0, x1)`` of the true pixels of a 2D mask, or None."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if not rows.size:
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _cut_pixels(pieces: np.ndarray, chosen: np.ndarray, box, shape) -> list[tuple[int, int]]:
    """A pixel (of the plane) of each chosen piece on a side of ``box`` inside the plane."""
    y0, y1, x0, x1 = box
    sides = ((y0 > 0, pieces[0], lambda i: (y0, x0 + i)),
             (y1 < shape[0], pieces[-1], lambda i: (y1 - 1, x0 + i)),
             (x0 > 0, pieces[:, 0], lambda i: (y0 + i, x0)),
             (x1 < shape[1], pieces[:, -1], lambda i: (y0 + i, x1 - 1)))  # fmt: skip
    found: dict[int, tuple[int, int]] = {}
    for inside, side, at in sides:
        if inside:
            for i in np.flatnonzero(chosen[side]):
                found.setdefault(int(side[i]), at(int(i)))
    return list(found.values())


def _holds(window, y: int, x: int) -> bool:
    """Whether the object of ``window`` (``(box, mask)``) holds the pixel ``(y, x)``."""
    (y0, y1, x0, x1), mask = window
    return y0 <= y < y1 and x0 <= x < x1 and bool(mask[y - y0, x - x0])


def _paste(out: np.ndarray, at, box, mask: np.ndarray, add: bool = True) -> None:
    """Add ``mask`` (of ``box``) to ``out`` (of the box ``at``) where they overlap, or clear it."""
    y0, y1 = max(box[0], at[0]), min(box[1], at[1])
    x0, x1 = max(box[2], at[2]), min(box[3], at[3])
    if y0 < y1 and x0 < x1:
        src = mask[y0 - box[0] : y1 - box[0], x0 - box[2] : x1 - box[2]]
        dst = out[y0 - at[0] : y1 - at[0], x0 - at[2] : x1 - at[2]]
        dst[...] = (dst | src) if add else (dst & ~src)


def whole_objects(live, box, region: np.ndarray | None = None) -> list:
    """The predicted objects with a pixel in ``box`` (and ``region``), whole: ``(box, mask)``s.

    An object is a connected part of one id (as a click's, :func:`object_window`). One cut
    by a side of the box inside the plane is grown out by :func:`object_window` from a pixel
    of it on that side. The first pair is the box grown by the objects that end within
    ``2 * WINDOW`` of it; each object reaching further comes in its own window, so a long
    object costs its window, not the box around it and the region. An object whose window
    would pass :data:`GROWN` times the box's pixels (an early model's blob over much of the
    plane) is cut at the box, as before: Accept all stays about the region's cost. Before,
    *Accept all* copied the part inside only, and the ring trained as background around
    that half-cell lay across the rest of the cell.
    """
    from skimage.measure import label as connected

    y0, y1, x0, x1 = box
    pieces = connected(np.asarray(live[y0:y1, x0:x1]), background=0, connectivity=1)
    chosen = np.zeros(int(pieces.max()) + 1, bool)
    chosen[pieces if region is None else pieces[region]] = True
    chosen[0] = False
    windows = []  # (box, mask) of each object grown out of the box
    limit = GROWN * max((y1 - y0) * (x1 - x0), (2 * WINDOW) ** 2)
    for y, x in _cut_pixels(pieces, chosen, box, live.shape):
        if not any(_holds(w, y, x) for w in windows):
            found = object_window(live, y, x, limit)
            if found is None:  # far beyond the region (an early model's blob): cut at its edge
                continue
            (ys, xs), mask = found
            windows.append(((ys.start, ys.stop, xs.start, xs.stop), mask))
    r = 2 * WINDOW
    near = [w for w, _ in windows if w[0] >= y0 - r and w[1] <= y1 + r and w[2] >= x0 - r
            and w[3] <= x1 + r]  # fmt: skip
    corners = np.array([box, *near])
    grown = tuple(int(v) for v in (corners[:, 0].min(), corners[:, 1].max(),
                                   corners[:, 2].min(), corners[:, 3].max()))  # fmt: skip
    out = np.zeros((grown[1] - grown[0], grown[3] - grown[2]), bool)
    _paste(out, grown, box, chosen[pieces])
    for w, mask in windows:
        _paste(out, grown, w, mask, add=w in near)  # a far object is merged in its window
    return [(grown, out), *((w, m) for w, m in windows if w not in near)]


def accept_in_box(labels, live, box, region: np.ndarray | None = None) -> int:
    """Merge the prediction ``live`` into ``labels`` within ``box`` (and ``region``).

    ``region`` is a mask of the plane, or of the box alone (its shape: the pixels on screen
    of a rotated image's view), None: the whole box. Every predicted object with a pixel
    there is taken whole (:func:`whole_objects`: the box grows by the objects that cross its
    sides). Painted cells win (:func:`~napari_unet.core.annotation.edits.accepted_changes`,
    on those boxes only, with new ids above every id of the plane); one undo step. The
    number of cells added.

    Raises
    ------
    InputError
        From the merge (ids that do not fit the labels' type); a read-only ``labels``
        (:func:`refuse_read_only`).
    """
    from napari_unet.core.annotation.edits import accepted_changes, next_free_id

    refuse_read_only(labels)
    y0, y1, x0, x1 = box
    part = None if region is None else np.asarray(region, bool)
    if part is not None and part.shape != (y1 - y0, x1 - x0):
        part = part[y0:y1, x0:x1]  # a mask of the plane
    first = next_free_id(np.asarray(labels.data))
    rows, cols, values, added = [], [], [], 0
    for (y0, y1, x0, x1), mask in whole_objects(live, box, part):
        (ys, xs), new, n = accepted_changes(
            np.asarray(labels.data[y0:y1, x0:x1]), np.asarray(live[y0:y1, x0:x1]), mask,
            first_id=first,
        )  # fmt: skip
        rows.append(ys + y0)
        cols.append(xs + x0)
        values.append(new)
        added += n
        first = max(first, int(new.max()) + 1) if new.size else first
    if sum(v.size for v in values):
        labels.data_setitem((np.concatenate(rows), np.concatenate(cols)), np.concatenate(values))
    return added


def accept_region(dock) -> tuple[tuple[int, int, int, int] | None, np.ndarray | None]:
    """The box the Live dock accepts in and the region's mask (None: all of the box).

    The chosen Shapes layer's shapes, else the view: its pixels any part of which is on
    screen (:func:`~napari_unet.widgets._view_box.view_pixels`; a rotated image's view is
    a mask of the box; before, its whole bounding box, objects off screen accepted too),
    and of those the part that is predicted when a large view is cut to its centre
    (outside it the layer holds older views' objects). Raises InputError in 3D display or
    a side view of a stack (before, nothing accepted, nothing said, or the 3D view's box
    taken as if seen from above).
    """
    from napari_unet.core.errors import InputError
    from napari_unet.widgets import _layers
    from napari_unet.widgets._live_runs import reshaped
    from napari_unet.widgets._live_stale import refuse_changed
    from napari_unet.widgets._view_box import view_pixels

    if reshaped(dock) is not None:
        raise InputError(reshaped(dock))
    refuse_changed(dock)  # a prediction of the pixels before (the Review dock's next image)
    shape = dock._mirror.shape
    if dock._region_box.value is not None:
        plane = (dock._image, dock._plane.index if dock._plane is not None else None)
        region = _layers.region_array(dock._region_box.value, shape, like=dock._annotations,
                                      plane=plane)  # a stack: the shapes of its trained plane
        return mask_box(region), region
    box, mask = view_pixels(dock._viewer, dock._image, shape)  # 3D, a side view: refused
    if box is not None and dock._capped is not None:
        (y0, y1, x0, x1), (a0, a1, b0, b1) = box, dock._capped
        cut = (max(y0, a0), min(y1, a1), max(x0, b0), min(x1, b1))
        if cut[0] >= cut[1] or cut[2] >= cut[3]:
            return None, None
        if mask is not None:
            mask = mask[cut[0] - y0 : cut[1] - y0, cut[2] - x0 : cut[3] - x0]
        box = cut
    return box, mask
