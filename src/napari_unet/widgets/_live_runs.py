"""The Live dock's runs: what Start continues, how strokes are sent, annotations reshaped.

- **Stop, then Start** on the same image with the same model choice continues the model
  trained so far (:func:`resumable`): its weights, their average, the optimiser's state and
  the step count (:class:`~napari_unet.core.live.trainer.LiveTrainer`'s ``resume``). Start
  used to load the model file again and throw the live steps away, silently. Picking a
  model in the dock's list (even the same one again: the way to start afresh from it),
  another model file or another image starts afresh from the chosen model, and the
  stopped line says so (:func:`stopped_note`, kept true as the picks change): before, it
  still said Start continues it, and the unsaved steps were lost without a word. What was
  annotated (erased background) is carried only to the same annotations layer and plane
  (:func:`resumable`): on another plane of the stack, or with another annotations layer,
  its pixels are not those annotated, and the old cells became annotated background
  there. Nor once the image's data was replaced (the Review dock's next image, say) or the
  Review dock showed its next image in the annotations: the layers are the same, the
  image is another. Only from the same model file, too (its path and ``tensors_sha256``,
  :func:`model_source`): on *auto*, with the image's data replaced by a bright one, Start
  continued the nuclei weights under nuclei-brightfield's metadata, and the saved file
  mixed the two. Now it begins afresh from the file chosen, and the status line says so
  (:func:`run_note`); a run continued keeps its own metadata.
- **Ids are sent as the layer holds them** (:func:`send_box`): cast to int32, a uint32
  layer's id 3,000,000,000 (the Annotate dock's layers are uint32) reached the trainer as a
  negative id, not annotated, and an int64 layer's 2**32 + 1 as 1, merged with cell 1. The
  copy the dock compares the layer with (its mirror) keeps the layer's type; the trainer
  widens its own when an id needs it (:class:`~napari_unet.core.live.data.LiveData`).
- **Changed between Stop and Start** (a run continued on the same layer and plane): the
  trainer takes over the stopped run's labels, and the dock keeps what it had sent them
  from (its mirror, :func:`start_mirror`), so Start sends only what changed while stopped
  (:func:`send_start`), as it would have been sent while running: napari's undos and
  redos as taken back (a cell undone is no longer annotated), other changes (strokes, an
  erase, replaced data) as strokes (a cell erased is annotated background). Before, Start
  sent the annotations as they were, and a cell undone while stopped, still annotated in
  the carried pixels, was trained as background.
- **Undos as taken back, the rest as strokes** (:func:`send_diff`): what changed without a
  paint event is sent as it is at Start. Before, all of it was sent as undone: a cell erased
  by a script (data replaced, or written and seen at Stop) was no longer annotated, where
  an erase is annotated background. An undo's pixels are sent even where the layer is as
  last sent (:func:`_send_undo`): erase, then two quick undos, left the erase's background.
- **Annotations replaced by another shape** (``layer.data = ...`` from a script or a plugin)
  can no longer be compared with what was sent: nothing more is sent, and training stops
  with a message (:func:`reshaped`). The comparison raised every second, and Stop raised
  before it stopped the trainer.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

from napari_unet.widgets._held_layers import holders
from napari_unet.widgets._live_boxes import grown
from napari_unet.widgets._live_edits import EditWatch
from napari_unet.widgets._live_parts import FILE
from napari_unet.widgets._live_stale import changed_since
from napari_unet.widgets._private import private

__all__ = [
    "Kept",
    "afresh_note",
    "follow_stopped",
    "forget_run",
    "keep_run",
    "model_choice",
    "model_source",
    "reshaped",
    "resumable",
    "run_note",
    "send_box",
    "send_diff",
    "send_start",
    "show_stopped",
    "start_mirror",
    "stopped_note",
]


class Kept(NamedTuple):
    """What a run trains (``dock._kept_for``): Stop, then Start on the same, continues it."""

    choice: tuple  # the model choice at Start's click (model_choice)
    source: tuple | None  # the model file loaded (model_source)
    image: object
    labels: object
    index: object  # the stack's plane


def model_choice(dock) -> tuple:
    """The dock's model choice: a built-in model's name, or the model file's path."""
    choice = dock._model.value
    return choice, str(dock._model_file.value) if choice == FILE else None


def model_source(path, meta: dict | None) -> tuple[str, object] | None:
    """Which model file a run loaded: its resolved path and ``tensors_sha256`` (None: unknown)."""
    if path is None or str(path) in ("", "."):
        return None
    return str(Path(path).resolve()), (meta or {}).get("tensors_sha256")


def keep_run(dock, inputs, choice: tuple, source) -> None:
    """Remember what the dock's new run trains (Stop, then Start, continues it).

    ``choice``: the model choice at Start's click (a model picked while it loaded cancels
    it); ``source``: the file loaded (:func:`model_source`).
    """
    dock._kept_for = Kept(choice, source, inputs.image, inputs.labels, inputs.plane.index)


def forget_run(dock, *_args) -> None:
    """The model was chosen again: the next Start begins from it, not from the last run."""
    dock._kept_for = None


def resumable(dock, inputs, choice: tuple | None = None, source=None):
    """The stopped run that Start continues on ``inputs`` (None: start from the model chosen).

    Only with the same model ``choice`` (default: the dock's now) that loaded the same file
    (``source``, :func:`model_source`): auto may choose another model for the same image.

    Its annotated pixels are carried only to the same annotations layer and plane (its
    ``carry_annotations``), and only while they hold the same image: not once the image's
    data was replaced or the Review dock showed its next image there
    (:func:`~napari_unet.widgets._live_stale.changed_since`), where the old image's cells
    became annotated background. The weights, optimiser state and steps go on in any case.
    """
    kept = getattr(dock, "_kept_for", None)
    if dock.trainer is None or kept is None:
        return None
    choice = model_choice(dock) if choice is None else choice
    if kept.choice != choice or kept.image is not inputs.image:
        return None
    if source is None or kept.source != source:  # another file than the run's: afresh
        return None
    same = kept.labels is inputs.labels and kept.index == inputs.plane.index
    same = same and changed_since(dock) is None  # not another image in the same layers
    dock.trainer.carry_annotations = same  # resume.take_over reads it
    return dock.trainer


def afresh_note(dock, inputs, choice: tuple, source) -> str:
    """Why a run begins afresh though the model choice and image are the stopped run's ("").

    The choice resolved to another model file (auto, the image's data replaced) or the file
    changed since: the stopped run's weights belong to another model.
    """
    kept = getattr(dock, "_kept_for", None)
    if dock.trainer is None or kept is None or kept.choice != choice:
        return ""
    if kept.image is not inputs.image or kept.source == source or source is None:
        return ""
    new = Path(source[0]).name
    old = "" if kept.source is None else Path(kept.source[0]).name
    why = f"not the stopped run's {old}" if old != new else "it changed since the stopped run"
    return f" (begun afresh from {new}: {why}, whose steps were not continued)"


def run_note(dock) -> str:
    """What the status line says of a continued run (from which step), or why it is afresh."""
    start = getattr(dock.trainer, "start_step", 0)
    if start:
        return f" (continuing from step {start}, where Stop left it)"
    return getattr(dock, "_afresh", "")


def stopped_note(dock) -> str:
    """The status line once stopped: the steps, a save of the run, and what Start does next.

    What Start does is read from the picks now (:func:`_next_start`): before, the line said
    "Start continues it" after another model or image was picked, and Start began afresh,
    the unsaved steps lost without a word.
    """
    head = f"Stopped after {dock.trainer.step} steps{getattr(dock, '_save_note', '')}"
    problem = reshaped(dock)
    if problem is not None:
        return f"{head}: {problem}; the model is kept."
    return f"{head}; {_next_start(dock)}."


def _next_start(dock) -> str:
    """What Start does after Stop: continue the run, or begin afresh from the model picked.

    As :func:`resumable` decides: the file the choice names now and its ``tensors_sha256``
    (a file saved over by the run holds it: ``_live_parts._holds_run``). Resolved only for
    the run's choice and image: auto samples the image on the GUI thread (0.26 s at 8192^2).
    """
    kept, image = getattr(dock, "_kept_for", None), dock._image_box.value
    same = kept is not None and kept.choice == model_choice(dock) and kept.image is image
    now = _resolved(dock) if same and kept.source is not None else None
    if same and kept.source is not None and _same_file(now, kept.source):
        return ("the model is kept: Start continues it (pick a model in the list, the same "
                "one too, to start afresh)")  # fmt: skip
    choice, path = model_choice(dock)
    model = choice if path is None else Path(path).name
    why = "another model was picked" if kept is None or kept.choice != (choice, path) else ""
    if not why and kept.image is image:
        why, model = "the model chosen is another file than the run's", Path(now or model).name
        if kept.source is not None and now == kept.source[0]:
            why = "the model file changed since the run loaded it"
    why = why or f"{getattr(image, 'name', 'no image')!r} is picked, not the run's image"
    return (f"{why}: Start begins afresh from {model}; Save model first to keep the "
            f"{dock.trainer.step} steps")  # fmt: skip


def _same_file(now: str | None, source: tuple) -> bool:
    """Whether the file ``now`` is the run's ``source`` (its path and ``tensors_sha256``).

    Unknown (None, or unreadable: Start says why it cannot load it) counts as the same.
    """
    from napari_unet.core.models.modelfile import read_metadata

    if now is None or now != source[0]:
        return now is None
    try:
        return read_metadata(now).get("tensors_sha256") == source[1]
    except Exception:  # noqa: BLE001 - gone or unreadable: Start says so
        return True


def _resolved(dock) -> str | None:
    """The model file the dock's choice names now, resolved (None: none can be named)."""
    from napari_unet.widgets._live_parts import model_path

    try:
        return str(Path(model_path(dock)).resolve())
    except Exception:  # noqa: BLE001 - InputError, OSError, auto's sample of a layer gone
        return None


def show_stopped(dock) -> None:
    """Put :func:`stopped_note` on the status line (kept true as the picks change)."""
    dock._stopped = dock._status.value = stopped_note(dock)


def follow_stopped(dock) -> None:
    """Say again what Start does whenever a model, model file, image or annotations is picked.

    Only while the status line shows the stopped run's note (not an error or a save said).
    """
    import weakref

    held = weakref.ref(dock)  # the signals must not keep a closed dock

    def again(*_args) -> None:
        dock = held()
        if dock is None or dock.trainer is None or dock.trainer.running:
            return
        with contextlib.suppress(RuntimeError):  # the dock closed
            if dock._status.value == getattr(dock, "_stopped", None):
                show_stopped(dock)

    for box in (dock._model, dock._model_file, dock._image_box, dock._labels_box):
        box.changed.connect(again)
    dock._model.native.activated.connect(again)  # the same entry picked again: afresh too


def reshaped(dock) -> str | None:
    """Why the annotations cannot be trained on any more (their data changed shape), or None."""
    labels, mirror = dock._annotations, dock._mirror
    if labels is None or mirror is None:
        return None
    shape = tuple(int(s) for s in labels.data.shape)
    if shape == mirror.shape:
        return None
    now, was = " x ".join(map(str, shape)), " x ".join(map(str, mirror.shape))
    return (f"the annotations {labels.name!r} changed shape ({now}; training was on {was}), "
            "so what is painted there cannot be trained on")  # fmt: skip


def _same_type(dock, dtype) -> None:
    """Keep the mirror in the layer's type (its data may be replaced by another type)."""
    if dock._mirror.dtype != dtype:
        dock._mirror = dock._mirror.astype(dtype)


def send_box(dock, box, undone: bool = False, taken=None) -> None:
    """Hand the annotations of ``box`` (grown by the rings of gone cells) to the trainer.

    In the layer's own ids: every id of a uint32 or int64 layer stays its own cell.
    ``taken``: the ``(ys, xs)`` an undo took back though they were empty when last sent.
    """
    from napari_unet.core.live.data import RING

    if reshaped(dock) is not None:
        return
    box = grown(box, 2 * RING + 2, dock._mirror.shape)  # the rings of gone cells too
    y0, y1, x0, x1 = box
    patch = np.array(dock._annotations.data[y0:y1, x0:x1])  # a copy, its ids as they are
    _same_type(dock, patch.dtype)
    dock._mirror[y0:y1, x0:x1] = patch
    if taken is not None:  # the trainer takes these back too (its labels are the same)
        undone = np.zeros(patch.shape, bool)
        undone[taken[0] - y0, taken[1] - x0] = True
    dock.trainer.update(box, patch, undone=undone)


def send_diff(dock, full: bool = False) -> None:
    """Send what changed without a paint event (see ``LiveWidget._send_diff``).

    And a Labels region's undo or redo (:meth:`~napari_unet.widgets._live_parts.RegionLink.look`).
    """
    if getattr(dock, "_link", None) is not None:
        dock._link.look()
    if dock.trainer is None or dock._annotations is None or dock._edits is None:
        return
    if private(dock._annotations, "_block_history", False) or reshaped(dock) is not None:
        return
    if not full and holders(dock._annotations):  # read-only for another dock: napari
        return  # dropped its history, which the dock gives back (seen when it lets go)
    _send_look(dock, full)


def _send_look(dock, full: bool) -> None:
    """Send napari's undos and redos since the last look as taken back, the rest as strokes.

    The rest (the whole plane with ``full``, after the data was replaced or without
    napari's history; where napari dropped its history, :class:`EditWatch`): a cell erased
    there, by a script too, is annotated background, not taken back.
    """
    _same_type(dock, np.dtype(dock._annotations.data.dtype))
    undos, strokes = dock._edits.look(dock._mirror.shape, full=full)
    for box, touched in undos:
        _send_undo(dock, box, touched)
    _send_changes(dock, strokes, undone=False)


def _send_undo(dock, box, touched) -> None:
    """Send an undo's (or redo's) ``box`` as taken back, even where the data is as sent.

    After an erase, two undos within a second (the cell back, then gone) leave the data as
    last sent: nothing differed, and the erase's background stayed annotated. The pixels
    the undo wrote that are empty, now as when last sent, are handed over as taken back.
    """
    y0, y1, x0, x1 = box
    data = np.asarray(dock._annotations.data[y0:y1, x0:x1])
    empty = touched & (data == 0) & (dock._mirror[y0:y1, x0:x1] == 0)
    changed = dock._edits.differing_box(dock._annotations.data, dock._mirror, box)
    taken = None
    if empty.any():
        ys, xs = np.nonzero(empty)
        taken = ys + y0, xs + x0
        gone = int(taken[0].min()), int(taken[0].max()) + 1, int(taken[1].min())
        gone = (*gone, int(taken[1].max()) + 1)
        changed = gone if changed is None else _union(changed, gone)
    if changed is not None:
        send_box(dock, changed, undone=True, taken=taken)


def _union(a, b) -> tuple[int, int, int, int]:
    """The box around the ``(y0, y1, x0, x1)`` boxes ``a`` and ``b``."""
    return min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3])


def _send_changes(dock, boxes, undone: bool) -> None:
    """Send the part of each of ``boxes`` where the annotations differ from the mirror."""
    data = dock._annotations.data
    for box in boxes:
        changed = dock._edits.differing_box(data, dock._mirror, box)
        if changed is not None:
            dock._send(changed, undone=undone)


def start_mirror(dock, previous, shape: tuple[int, int]) -> bool:
    """Give the dock's new run its mirror and :class:`EditWatch`; True: the stopped run's kept.

    Kept where the run continued takes the stopped one's annotations (same layer and plane,
    :func:`resumable`): the mirror is what that run was sent. Else the mirror is empty. A
    run that ended on an error may not hold all it was sent (the strokes queued with the
    failing one were dropped): the mirror is then the labels it holds, so Start sends the
    rest again. Before, they were never trained, and the failing stroke was not said again.
    """
    mirror, labels = dock._mirror, dock._annotations
    kept = (previous is not None and getattr(previous, "carry_annotations", False)
            and mirror is not None and mirror.shape == tuple(shape)
            and getattr(dock._edits, "layer", None) is labels)  # fmt: skip
    if not kept:
        dock._mirror = np.zeros(shape, labels.data.dtype)  # its ids as they are (uint32...)
        dock._edits = EditWatch(labels)
    elif getattr(previous, "error", None) is not None:  # what it holds, not what it was sent
        dock._mirror = np.array(previous.data.labels).astype(np.dtype(labels.data.dtype))
    return kept


def send_start(dock, kept: bool) -> None:
    """Send, at Start, what is painted already; with ``kept``, what changed since Stop.

    Undos and redos made while stopped are sent as taken back, the rest as strokes.
    """
    if not kept:
        send_diff(dock, full=True)
        return
    _send_look(dock, full=True)
