"""Work of the Annotate dock done off the GUI thread: accepting a prediction, TIFF in and out.

On an 8192 x 8192 image, accepting a prediction on the GUI thread froze napari for about
10 s (a stack's count is in :mod:`._annotate_counts`). The merge is
computed in a worker; writing it into the layer (napari's ``data_setitem``, which keeps the
undo history and redraws) must run on the GUI thread, so a large one is written in parts of
:data:`PART_PIXELS`, one per turn of the event loop, inside one ``block_history``: napari
stays responsive (it froze for 4.5-7 s writing 55 million pixels at once) and one Ctrl+Z
still undoes the whole accept. The layer is read-only meanwhile, which makes napari drop its
undo history: the history is kept and given back afterwards, the accept added to it, so the
strokes made before Accept can still be undone.

While an accept runs, nothing else writes into its layer: Import TIFF waits (its button is
off, and an import read meanwhile is refused), and Start (or a project folder chosen) that
would take the layer back is refused. Before, an import then shared ids with the accepted
cells (separate cells merged into one object), and Start made the layer editable and
Accept clickable again: strokes painted meanwhile were overwritten when the accept ended.
The Live dock's accepts wait too (:data:`~._annotate_edits.ACCEPTING`), and an accept whose
layer was written into all the same writes nothing (:func:`_written_meanwhile`).

Import TIFF is written the same way, the layer read-only from the file read to the last
part: before, comparing a 4096 x 4096 mask with the layer and writing its 16 million
changed pixels froze napari for 7-10 s with no word of progress.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from napari.utils.notifications import show_error
from qtpy.QtCore import QTimer

from napari_unet.core.annotation.edits import count_cells, next_free_id
from napari_unet.core.annotation.project import read_annotations
from napari_unet.core.errors import InputError, in_words
from napari_unet.widgets import _session
from napari_unet.widgets._annotate_edits import _LOCKED, ACCEPTING, chosen_file
from napari_unet.widgets._annotate_export import start_export
from napari_unet.widgets._annotate_tiff import import_refusal
from napari_unet.widgets._evaluate_work import restore_history
from napari_unet.widgets._handover import handed_over
from napari_unet.widgets._held_layers import hold, release
from napari_unet.widgets._pending_writes import PARTS, WRITING, finish_writing, writer
from napari_unet.widgets._private import real

__all__ = [
    "PART_PIXELS",
    "finish_writing",
    "plan_in_words",
    "refused_elsewhere",
    "refused_while_accepting",
    "start_accept",
    "start_export",
    "start_import",
]

#: Pixels written into the annotations per turn of the event loop (about 0.3 s of napari's).
PART_PIXELS = 2_000_000
#: What writes into each layer of :data:`ACCEPTING` now, and each layer written in parts ->
#: the function that writes the rest at once (:mod:`._pending_writes`: other docks wait).
_WRITING, _PARTS, _writer = WRITING, PARTS, writer


def _take(dock, labels, what: str) -> tuple:
    """``labels`` read-only while ``what`` writes into it; what :func:`_done` gives back.

    napari clears the undo history of a layer made read-only: kept, and given back; a
    lock that nests with Evaluate's (its end leaves the layer read-only until this one's).
    """
    token = object()
    before = hold(labels, token)
    dock._accept_btn.enabled, dock._import_btn.enabled = False, False
    dock._accepting = labels  # one at a time; Start, Accept and Import keep off this layer
    ACCEPTING.add(labels)  # and other docks (Live's accepts) too
    _WRITING[labels] = what
    return before.mode, before.history, token


def plan_in_words(plan) -> str:
    """How Start reads an image (an AxesPlan), for the status line: ``2D, 347 x 260 px``.

    Before, the labels' shape was printed as a Python tuple (``annotations (260, 347)``).
    """
    h, w = plan.labels_shape[-2:]
    kind = {"rgb": "colour", "channels": "channels first"}.get(plan.kind, plan.kind)
    planes = f"{plan.labels_shape[0]} planes of " if plan.is_stack else ""
    return f"{kind}, {planes}{w} x {h} px"


def start_accept(dock) -> None:
    """Accept the dock's chosen prediction in a worker; the annotations wait, not editable."""
    pred_layer, labels = dock._prediction_combo.value, dock._annotations
    if labels is None or pred_layer is None:
        show_error("Start annotating and choose a prediction Labels layer first.")
        return
    if dock._region is None:
        show_error(
            "The annotated region layer was removed: press Start annotating to get the saved "
            "region back, then accept."
        )
        return
    if labels in ACCEPTING:  # another Annotate dock's accept (or import) writes into it now
        show_error(f"{_writer(labels)} is still writing into {labels.name!r}: wait for it.")
        return
    try:
        job = _session.acceptance_job(
            dock._viewer, labels, dock._plan, dock._region, pred_layer, dock._min_size.value
        )
    except InputError as exc:
        show_error(str(exc))
        return
    kept = _take(dock, labels, "Accept prediction")
    dock._set_status("Accepting the prediction...")
    # napari keeps the worker for good: its callbacks (the dock, the layer, its history)
    # are let go of when it ends (widgets/_handover.py)
    handed_over(job, connect={"returned": lambda result: _accepted(dock, labels, result, kept),
                              "errored": lambda exc: _failed(dock, labels, kept, exc)})  # fmt: skip


def _failed(dock, labels, kept, exc, what: str = "Accept prediction") -> None:
    show_error(in_words(exc))
    dock._set_status(f"{what} failed: {in_words(exc)}")
    _done(dock, labels, kept)


def _done(dock, labels, kept) -> None:
    """Editable again, in its mode, with the undo history from before Accept (and the accept).

    Only while a session saves it (this dock's, or another Annotate dock's on the same
    image): a layer the session left meanwhile (Start on another image) that no session
    saves stays read-only, its history kept for when its image starts again. Before, it
    became editable though no session saved it, and its strokes were lost; and one another
    dock still saved stayed read-only for good.
    """
    mode, history, token = kept
    mine = labels is dock._annotations
    before = release(labels, token, None if mine else history)
    saved = before is not None and real(labels) not in _LOCKED  # another dock's session too
    if (mine or saved) and before is not None:  # else Evaluate holds it: editable at its end
        labels.editable = True
        labels.mode = mode
        restore_history(labels, *history)
    elif not mine:
        dock._locks.keep_history(labels, history)
    dock._accepting = None
    ACCEPTING.discard(labels)
    _WRITING.pop(labels, None)
    with contextlib.suppress(RuntimeError):  # the dock may be gone
        dock._accept_btn.enabled = dock._import_btn.enabled = dock._annotations is not None


def refused_while_accepting(dock, image) -> bool:
    """Whether Start on ``image`` must wait: it would take back the layer an accept writes.

    Start makes its annotations layer editable and Accept clickable; during an accept the
    strokes painted then would be overwritten when it ends. Start on another image still
    goes on (the accepting layer stays read-only, as any layer no session saves).
    """
    layers, name = dock._viewer.layers, f"{image.name} annotations"  # the layer Start takes
    busy = dock._annotations if image is dock._image else None
    busy = busy if busy is not None else (layers[name] if name in layers else None)
    if busy not in ACCEPTING:  # any dock's accept: another dock on the image too
        return False
    text = (
        f"{_writer(busy)} is still writing into {busy.name!r}: wait for it to finish, "
        "then press Start annotating."
    )
    dock._set_status(text)
    show_error(text)
    return True


def refused_elsewhere(dock, image) -> bool:
    """Whether Start on ``image`` must be refused: another window's session saves its folder.

    Two sessions autosaving one project folder write their own layers over each other's
    cells (:func:`~._autosave.saved_elsewhere`); this dock restarting on its folder goes on.
    A folder that is another image file's project is left to Start, which says so and
    writes nothing there.
    """
    from napari_unet.core.annotation.project import check_project_folder
    from napari_unet.widgets._autosave import saved_elsewhere

    folder, src = dock._default_folder(image), getattr(image.source, "path", None)
    folder = None if folder is None else Path(folder).expanduser()  # ~/projA: the user's
    try:
        if folder is not None and src is not None:
            check_project_folder(folder, src)
    except InputError:
        return False
    taken = saved_elsewhere(folder, dock._saver, dock._viewer, f"{image.name} annotations")
    if taken is None:
        return False
    dock._set_status(f"Not started: {taken}.")
    show_error(f"{taken}.")
    return True


def _accepted(dock, labels, result, kept) -> None:
    idx, values, added, z, after, why = result
    if labels is not dock._annotations:  # the session moved on meanwhile
        _done(dock, labels, kept)
        return
    if _written_meanwhile(labels, idx, values):
        text = (
            f"Accept prediction wrote nothing: {labels.name!r} was changed while the "
            "prediction was being accepted (by another dock or a script), so its new cells "
            "could cover those changes or share their ids; press Accept prediction again."
        )
        dock._set_status(text)
        show_error(text)
        _done(dock, labels, kept)
        return
    where = f" on plane {z}" if z is not None else ""

    def finish() -> None:
        done = f"Accepted {added} predicted cells{where} ({idx[0].size} px); undo with Ctrl+Z."
        dock._set_status(done if why is None else f"Accepted nothing{where}: {why}.")
        labels.selected_label = after

    _write_parts(dock, labels, (idx, values), kept, "Accepting the prediction", finish)


def _write_parts(dock, labels, change, kept, doing: str, finish: Callable[[], None]) -> None:
    """Write ``change`` (pixels, values) into ``labels`` in parts, as one item of its undo.

    One part of :data:`PART_PIXELS` per turn of the event loop (napari repaints and
    reacts between them, the status says how far), then ``finish()`` and :func:`_done`.
    :func:`finish_writing` writes the parts left at once (napari closed, the session
    ended): a save then holds the whole change, never a part of it.
    """
    idx, values = change
    values = values.astype(labels.data.dtype, copy=False)
    history = labels.block_history()  # one item of napari's undo history, over all parts
    history.__enter__()
    at = [0]  # the first pixel not written yet; None once the write has ended

    def write(start: int, stop: int) -> bool:
        """Write pixels start:stop; True once everything is written (and given back)."""
        try:
            if stop > start:
                labels.data_setitem(tuple(i[start:stop] for i in idx), values[start:stop])
        except Exception:  # noqa: BLE001 - the parts written so far stay one undo item
            at[0] = None
            _PARTS.pop(labels, None)
            history.__exit__(None, None, None)
            _done(dock, labels, kept)
            raise
        at[0] = stop
        if stop < idx[0].size:
            return False
        at[0] = None
        _PARTS.pop(labels, None)
        history.__exit__(None, None, None)
        finish()
        _done(dock, labels, kept)
        return True

    def part() -> None:
        start = at[0]
        if start is None:  # written at once meanwhile (finish_writing)
            return
        if not write(start, min(start + PART_PIXELS, idx[0].size)):
            dock._set_status(f"{doing}... {at[0] / idx[0].size:.0%}")
            QTimer.singleShot(0, part)  # napari repaints and reacts meanwhile

    def rest() -> None:
        if at[0] is not None:
            write(at[0], idx[0].size)

    _PARTS[labels] = rest
    part()


def _written_meanwhile(labels, idx, values) -> bool:
    """Whether ``labels`` changed since the accept's worker read it, in ways that matter.

    The accept writes new cells on pixels that were free (0), with ids above every id it
    saw; written as computed, a cell added meanwhile on those pixels is overwritten, and one
    with such an id elsewhere becomes one id in two places. Both are looked for (one pass
    over the layer, a fraction of what writing a large accept costs). The layer is read-only
    meanwhile, but napari lets code (another dock, a script) write into it all the same.
    """
    if not values.size:
        return False
    data = np.asarray(labels.data)
    return bool(data.max() >= values.min() or np.any(data[idx]))


def start_import(dock) -> None:
    """Read a TIFF instance mask (shape checked) and replace the dock's annotations with it."""
    path = chosen_file(dock._tiff_path.value)
    if dock._annotations is None or path is None:
        show_error("Start annotating and choose a TIFF file first.")
        return
    why = import_refusal(dock, path)
    if why is not None:  # as Export refuses to write it
        dock._set_status(f"Import refused: {why}.")
        show_error(f"Import refused: {why}.")
        return
    shape = dock._plan.labels_shape
    connect = {"returned": lambda data: _imported(dock, data, path),
               "errored": lambda exc: show_error(f"Import refused: {in_words(exc)}")}  # fmt: skip
    handed_over(read_annotations, path, shape, connect=connect)


def _imported(dock, data: np.ndarray, path=None) -> None:
    """Replace the annotations with an imported mask, as one step of napari's undo.

    Compared with the layer in a worker, written in parts (:func:`_write_parts`), the layer
    read-only meanwhile. Refused while an accept writes into the layer (its new ids were
    chosen before the import), and when an id does not fit the layer's type (a user's own
    uint16 layer, which Start re-attaches): before, the cast wrapped id 65536 to 0 (the
    cell erased) and 65537 to 1 (merged with cell 1), and the status said all were imported.
    """
    labels = dock._annotations
    if labels is None:
        return
    if labels in ACCEPTING:  # this dock's accept, or another dock's on the same layer
        text = (
            f"Import refused: {_writer(labels)} is still writing into the annotations; "
            "import again when it has finished. Nothing changed."
        )
        dock._set_status(text)
        show_error(text)
        return
    top, dtype = int(data.max(initial=0)), np.dtype(labels.data.dtype)
    if top > np.iinfo(dtype).max:
        text = (
            f"Import refused: {path or 'the TIFF'} holds ids up to {top}, which do not fit "
            f"{labels.name!r} ({dtype}, ids up to {np.iinfo(dtype).max}): convert the layer "
            "first (right-click it in the layer list, Convert data type, uint32), or number "
            "the TIFF's cells 1..N. Nothing changed."
        )
        dock._set_status(text)
        show_error(text)
        return
    kept = _take(dock, labels, "Import TIFF")  # strokes now would be overwritten
    name = Path(path).name if path is not None else "the TIFF"
    dock._set_status(f"Importing {name}: comparing it with the annotations...")
    current = np.asarray(labels.data)
    # the TIFF and the annotations' copy let go of as the job starts (before, kept for good)
    connect = {"returned": lambda changes: _write_import(dock, labels, changes, kept, name),
               "errored": lambda exc: _failed(dock, labels, kept, exc, "Import TIFF")}  # fmt: skip
    handed_over(_changes, data, current, connect=connect)


def _changes(data: np.ndarray, current: np.ndarray) -> tuple:
    """In a worker: the pixels where ``data`` differs from ``current``, and its figures."""
    data = data.astype(current.dtype, copy=False)  # its ids fit (checked)
    idx = np.nonzero(data != current)
    try:
        after, why = next_free_id(data), None
    except InputError as exc:  # ids up to the type's largest: no id is left for a new cell
        after, why = None, f" New cell: {exc}."
    return idx, data[idx], count_cells(data)[0], after, why


def _write_import(dock, labels, changes, kept, name: str) -> None:
    idx, values, cells, after, why = changes
    if labels is not dock._annotations:  # the session moved on meanwhile: left as it was
        _done(dock, labels, kept)
        dock._set_status(f"Nothing imported from {name}: the session moved to another image.")
        return

    def finish() -> None:
        if after is not None:
            labels.selected_label = after
        dock._set_status(f"Imported {cells} cells; undo with Ctrl+Z.{why or ''}")

    _write_parts(dock, labels, (idx, values), kept, f"Importing {name}", finish)
