"""Parts of the Live dock: its tooltips, the other annotated images, the annotated region.

- :func:`~napari_unet.widgets._live_inputs.other_annotations` (its home now, with what
  else Start reads) finds the other images of the viewer that have annotations of their
  own (the layer the Annotate dock makes, ``<image> annotations``, or another Labels layer
  named after the image) and copies them for the trainer.
- :class:`RegionLink` follows the layer chosen as the annotated region (Shapes drawn over
  background with no cells, or a Labels layer painted as a region) and hands its mask to the
  trainer whenever it changes: the region is annotated in addition to the painted cells.
"""

from __future__ import annotations

import contextlib
import weakref
from pathlib import Path

import numpy as np
from qtpy.QtCore import QTimer

from napari_unet.core.errors import InputError, in_words
from napari_unet.widgets import _layers
from napari_unet.widgets._layer_hooks import follow_layers
from napari_unet.widgets._live_inputs import other_annotations as other_annotations
from napari_unet.widgets._live_inputs import own_labels as own_labels
from napari_unet.widgets._live_view import live_layer as live_layer  # its home before
from napari_unet.widgets._weakly import weakly

#: The model choice that is a model file.
FILE = "model file"

#: Tooltips of the Live dock's controls, by attribute name.
TIPS = {
    "_image_box": "the image to train on: 2D (grey or colour), or a stack of planes, whose "
    "plane in view when you press Start is trained (a multiscale image at full resolution)",
    "_labels_box": "the annotations you paint (one id per cell), a 2D Labels layer of the "
    "image's size (of one plane's for a stack); the Annotate dock's layer of a 2D image",
    "_model": "the model fine-tuned live: a built-in model (auto: nuclei when the image's "
    "background is dark, nuclei-brightfield when it is bright; chosen at Start) or a model file; "
    "after Stop, Start continues the model trained so far, unless you pick a model here again",
    "_model_file": "the model file (.safetensors) when 'model file' is chosen",
    "_annotated_box": "also annotated: the shapes of a Shapes layer (or the pixels of a Labels "
    "layer) you drew over background, so that empty areas teach 'no cell here'; painted cells "
    "and a ring around each are annotated anyway",
    "_others": "also train on the other images that have annotations of their own (their "
    "'<image> annotations' layer): cells and a ring of background around each; images that "
    "do not fit (a stack, annotations of another size) are left out, and the status says so",
    "_start": "train continuously on what you paint; the view's prediction follows",
    "_pause": "pause or resume training (the model is kept)",
    "_stop": "stop training (the model is kept: save it, or Start again to continue it)",
    "_save": "save the model trained so far to a model file",
    "_click": "a click on a predicted object copies it into the annotations",
    "_region_box": "where Accept all copies predicted objects: the view, or the shapes of a "
    "Shapes layer you drew",
    "_accept_view": "copy every predicted object in the region (painted cells win where they "
    "overlap)",
}


#: The actions of a Shapes ``data`` event in the middle of a gesture (its end follows).
GESTURES = ("changing", "adding", "removing")
#: A layer's events that move it over the pixels (the region is read on the annotations').
MOVES = ("scale", "translate", "rotate", "shear", "affine")


class RegionLink:
    """Sends the mask of a region layer to the trainer now and whenever the layer changes."""

    def __init__(self, layer, shape: tuple[int, int], trainer, status, like=None, on=None):
        self.layer, self.shape, self.trainer, self.status = layer, tuple(shape), trainer, status
        self.like = like  # the annotations: the region is read on their pixels
        self.on = on  # (image, plane index): the shapes of a stack's trained plane
        self.error: str | None = None  # why the region is not used (said in the status line)
        self.count = -1  # the shapes sent last (a paste changes it and sends no "data")
        self._items = None  # a Labels region's undo history when last sent (look)
        self.send()
        for name in self._events():
            event = getattr(layer.events, name, None)
            if event is not None:
                event.connect(self._handler(name))

    def _handler(self, name: str):
        return {"paint": self._deferred, "set_data": self._pasted}.get(name, self.send)

    def _pasted(self, _event=None) -> None:
        """A redraw: sent only when the number of shapes changed.

        napari's paste (Ctrl+V) emits no ``data`` event, only the redraw; each mouse move
        of a drag redraws too, with as many shapes (sent once, at the drag's end). Checked
        on the next turn: an added shape redraws before its ``data`` event sends it.
        """

        def check() -> None:
            if self.trainer is not None and len(getattr(self.layer, "data", ())) != self.count:
                self.send()

        QTimer.singleShot(0, check)

    def _events(self) -> tuple[str, ...]:
        """The layer's events that change the region.

        A Labels region: strokes and new data; before, ``set_data`` (every redraw, every
        brush move) re-read the whole region each time (70-200 ms a move at 4096 x 4096).
        A Shapes region: ``data`` once a shape is added, moved or deleted (napari 0.9:
        ``added``, ``changed``, ``removed``); before, ``set_data`` re-read and sent the whole
        region at every mouse move of a drag (0.4-1.3 s each at 8192 x 8192), and every
        add or delete twice; ``set_data`` only when the number of shapes changed (a paste).
        Either: a new scale, translate... (the pixels it lies on).
        """
        from napari.layers import Labels

        first = ("data", "paint") if isinstance(self.layer, Labels) else ("data", "set_data")
        return (*first, *MOVES)

    def _deferred(self, _event=None) -> None:
        """Read the region on the next turn (a fill's pixels are announced before written)."""
        QTimer.singleShot(0, lambda: self.trainer is not None and self.send())

    def _history(self) -> tuple[list, list] | None:
        """A Labels region's undo and redo items (napari's), None for a Shapes region."""
        from napari.layers import Labels

        from napari_unet.widgets._history import undo_history

        return undo_history(self.layer) if isinstance(self.layer, Labels) else None

    def look(self) -> None:
        """Send a Labels region again if napari's undo history moved since it was sent.

        Undo and redo (Ctrl+Z) emit no event: before, the trainer kept the region as it was
        before the undo. Called by the Live dock's once-a-second look; never mid-stroke.
        """
        from napari_unet.widgets._private import private

        if self.trainer is None or private(self.layer, "_block_history", False):
            return
        now, seen = self._history(), self._items
        if now is None or (seen is not None and all(
                len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))
                for a, b in zip(now, seen, strict=True))):  # fmt: skip
            return
        self.send()

    def send(self, _event=None) -> None:
        """Hand the region's current mask over (an empty region: nothing extra annotated)."""
        if getattr(_event, "action", None) in GESTURES:
            return  # a shape is being drawn or moved: wait for the end of the gesture
        self._items = self._history()  # what look compares with
        try:
            if len(getattr(self.layer, "data", ())) == 0:  # a Shapes layer with no shape
                mask = np.zeros(self.shape, bool)
            else:
                mask = _layers.region_array(
                    self.layer, self.shape, allow_empty=True, like=self.like, plane=self.on
                )
        except InputError as exc:
            self.error = str(exc)  # kept in the status line (the timer rewrote it at once)
            _layers.report_error(self.status, str(exc))
            mask = np.zeros(self.shape, bool)  # "not used" holds (before: the last one was)
        else:
            self.error = None
        self.count = len(getattr(self.layer, "data", ()))
        if self.trainer is not None:
            self.trainer.set_region(mask)

    def close(self) -> None:
        """Stop following the layer."""
        for name in self._events():
            event = getattr(self.layer.events, name, None)
            if event is not None:
                with contextlib.suppress(Exception):
                    event.disconnect(self._handler(name))
        self.trainer = None  # a deferred read after this sends nothing


def object_at(live: np.ndarray, y: int, x: int) -> np.ndarray:
    """The pixels of the predicted object at ``(y, x)``: its connected part only.

    Each view numbers its objects from 1: a stale object of an earlier view elsewhere
    shared the id, and a click copied it too (one annotation in two pieces).
    """
    from scipy import ndimage

    parts, _ = ndimage.label(live == live[y, x])
    return parts == parts[y, x]


def save_model(dock) -> Path | None:
    """Ask for a file and save the Live dock's model there (in a thread worker); its path.

    None when cancelled or refused. Never over the image or the annotations it trains on
    (picked in the dialog, the image file was replaced by a model file); a failure is a
    message, not a traceback (its note stays on the status line), and never over a built-in
    model's file, nor a file a Train dock's running run writes (it would replace the model
    saved at its end; the file is claimed while it is written). The copy of the model waits
    for the step (and the view's prediction) in progress: on the GUI thread that froze
    napari for as long (4 s a step on an 8192 x 8192 image), so the copy and the write run
    in a worker (``dock._saving``), and the status line says when the file is written: its
    note (``dock._save_note``) stays on the line the running dock refreshes, until the next
    Start. A save that ends after the next Start says so once, not on the new run's line
    (before, "saved step 11" stood on a run begun afresh at step 0).
    """
    from napari.qt.threading import create_worker

    from napari_unet.widgets._saving import ask_path, layer_source, model_output
    from napari_unet.widgets._train_outputs import claim_save

    path = ask_path(dock.native, "Save the live model", Path("live.unet.safetensors"),
                    "Model files (*.safetensors)")  # fmt: skip
    if path is None:
        return None
    try:
        inputs = [layer_source(ly) for ly in (dock._image, dock._annotations) if ly is not None]
        path = model_output(path, inputs)  # never a built-in model's file, an input
        released = claim_save(path)  # nor a file a Train dock's running run writes
    except (InputError, OSError) as exc:
        # before, the last save's note came back
        dock._save_note = f"; saving failed: {in_words(exc)}"
        _layers.report_error(dock._status, f"could not save the model: {in_words(exc)}")
        return None
    held = [dock.trainer]  # let go of once saved: napari keeps the worker for good

    def save() -> tuple[Path, int]:
        from napari_unet.core.models.modelfile import read_metadata

        trainer = held[0]
        try:
            saved = Path(trainer.save(path))  # the copy is taken once a step ends: its step
        finally:
            released.set()  # the claim lapses: a Train run may take the file now
            held[0] = weakref.ref(trainer)  # what the dock's callbacks compare
        try:
            meta = read_metadata(saved)
            return saved, int(meta["provenance"]["live_steps"]), meta.get("tensors_sha256")
        except Exception:  # noqa: BLE001 - a file without it (never ours): the step now
            return saved, trainer.step, None

    dock._save_note = f"; saving the model to {path.name}..."
    dock._status.value = f"Saving the model to {path.name} (after the step in progress)..."
    connect = {"returned": weakly(dock, _saved, held), "errored": weakly(dock, _not_saved, held)}
    dock._saving = create_worker(save, _connect=connect)  # the dock held weakly
    return path


def _last_run(dock, held: list) -> bool:
    """Whether a save's trainer (``held``, weakly once saved) is no longer the dock's."""
    trainer = held[0]() if isinstance(held[0], weakref.ref) else held[0]
    return trainer is None or dock.trainer is not trainer


def _saved(dock, result, held: list) -> None:
    saved, step, sha = result
    last = " of the last run" if _last_run(dock, held) else ""  # Start came meanwhile
    if not last:  # a new run's line does not say the last run's save
        dock._save_note = f"; saved step {step} to {saved.name}"
        _holds_run(dock, saved, sha)
    with contextlib.suppress(RuntimeError):  # napari closed while it was written
        dock._status.value = f"Saved the model{last} at step {step} to {saved.name}"


def _holds_run(dock, saved, sha) -> None:
    """Saved over the model file the run loaded: it holds the run now, which Start continues.

    Before, the file's new ``tensors_sha256`` was not the run's: Start began afresh from it.
    """
    kept = getattr(dock, "_kept_for", None)
    source = None if kept is None else kept.source
    if sha is not None and source is not None and source[0] == str(Path(saved).resolve()):
        dock._kept_for = kept._replace(source=(source[0], sha))


def _not_saved(dock, exc, held: list) -> None:
    last = " the last run's model" if _last_run(dock, held) else ""
    dock._save_note = f"; saving{last} failed: {in_words(exc)}"
    with contextlib.suppress(RuntimeError):  # napari closed while it was written
        _layers.report_error(dock._status, f"could not save the model: {in_words(exc)}")


def when_true(done, then, parent, ms: int = 100):
    """Call ``then`` once ``done()`` is true, checking every ``ms`` on the GUI thread."""
    from qtpy.QtCore import QTimer

    timer = QTimer(parent)
    timer.setInterval(ms)

    def check() -> None:
        if done():
            timer.stop()
            timer.deleteLater()
            then()

    timer.timeout.connect(check)
    timer.start()
    return timer


def stop_soon(dock) -> None:
    """The Live dock's Stop button: the thread ends after its step, napari stays responsive.

    A step on a large image takes seconds (4 s on 8192 x 8192 after a first Accept all):
    ``dock.stop()`` (closing napari, Start again) waits for it, the button does not: the
    status says *Stopping* until the thread has ended, then the dock stops as before.
    """
    trainer = dock.trainer
    if trainer is None or not trainer.running:
        dock.stop()
        return
    for timer in dock._timers.values():
        timer.stop()
    dock._send_diff(full=True)
    trainer.stop(timeout=0)  # asked; the current step ends by itself
    dock._pause.enabled = dock._stop.enabled = False
    dock._status.value = "Stopping after the current step..."
    ended = lambda: dock.trainer is trainer and dock.stop()  # noqa: E731 (not a newer run)
    when_true(lambda: not trainer.running, ended, dock.native)


def model_path(dock, notes: list[str] | None = None):
    """The model file the Live dock's choice names (a built-in model's own file).

    ``auto``: the built-in model chosen for the chosen image layer (nuclei for a dark
    background, nuclei-brightfield for a bright one); ``notes`` gets which, and why.
    """
    from napari_unet.core.models.pretrained import AUTO, resolve_model
    from napari_unet.widgets._predict_form import BUILTINS

    if dock._model.value == FILE:
        path = dock._model_file.value
        if path is None or str(path) in ("", "."):
            raise InputError("choose a model file (.safetensors), or a built-in model")
        return path
    name = BUILTINS[dock._model.value]
    if name == AUTO:
        from napari_unet.widgets._auto_builtin import choose_for_layer, explain

        image = dock._image_box.value
        if image is None:
            raise InputError("choose an Image layer: auto chooses the built-in model by it")
        name = choose_for_layer(image)  # a sample of it: cheap on the GUI thread
        if notes is not None:
            notes.append(f"auto chose {explain(name)}")
    return resolve_model(name)


def _load_for_training(path) -> tuple[object, dict]:
    """``(model, metadata)`` of ``path``, and torch's optimiser code made ready (a thread).

    The first optimiser a process makes imports ``torch._dynamo`` (1-2 s): on the GUI
    thread, where Start builds the trainer, it was most of Start's freeze.
    """
    import torch

    from napari_unet.widgets._exporting import load_model_file

    loaded = load_model_file(path)
    torch.optim.Adam([torch.zeros(1, requires_grad=True)])  # its imports, off the GUI thread
    return loaded


def idle_text(dock) -> str:
    """The Live dock's status before a run: what Start would train on, or what is missing."""
    image, labels = dock._image_box.value, dock._labels_box.value
    if image is None:
        return "Choose an image (an Image layer) and its annotations, then Start."
    if labels is None:
        return (
            f"Choose the annotations of {image.name!r}: a Labels layer (napari's New labels "
            "button, then paint a few cells), then Start."
        )
    return f"Ready: press Start live training to train on {image.name!r} with {labels.name!r}."


def keep_idle(dock) -> None:
    """Show :func:`idle_text` now and whenever the picks change (while it is shown).

    Before, the status said "Choose an image and its annotations" with both chosen.
    """
    import weakref

    dock._idle = dock._status.value = idle_text(dock)
    held = weakref.ref(dock)  # the viewer's events must not keep a closed dock (its layer)

    def follow(*_args) -> None:
        dock = held()
        if dock is not None and dock._status.value == dock._idle:
            dock._idle = dock._status.value = idle_text(dock)

    for box in (dock._image_box, dock._labels_box):
        box.changed.connect(follow)
    follow_layers(dock, follow)  # a renamed layer (held weakly: a closed dock leaves none)
