"""The Live dock's Start button: the model loads in a thread, and what may cancel it.

Stop is enabled while the model loads (:func:`start_soon`) and cancels the Start
(:func:`stop_loading`): before, it was greyed out, though the docs said Stop meanwhile means
training does not begin. Another image or annotations picked meanwhile cancels it too
(:func:`cancel_pending`), and so does another model or model file (:func:`model_picked`):
before, the model of the click was trained while the picker showed the other one, and the
next Start recorded the other one as the run's model.
"""

from __future__ import annotations

import contextlib

from napari_unet.core.errors import InputError, in_words
from napari_unet.widgets import _layers
from napari_unet.widgets._live_parts import _load_for_training, idle_text, model_path

__all__ = ["Pending", "cancel_pending", "model_picked", "pending", "start_soon", "stop_loading"]


def start_soon(dock) -> None:
    """The Live dock's Start button: the model is loaded in a thread, then training starts.

    Loading froze napari for 0.5-2 s, most of a Start on an 8192 x 8192 image (the image's
    normalisation, 1.4 s more, is made on the trainer's thread). Stop, closing the dock or
    napari meanwhile (``dock.stop()``, :func:`stop_loading`): training does not begin (Stop
    was greyed out while the model loaded); so does another image or
    annotations picked meanwhile (:func:`cancel_pending`): auto chose the model for the image
    picked at the click, and the other image was trained with it.
    """
    from napari.qt.threading import create_worker

    notes: list[str] = []
    try:
        path = model_path(dock, notes)
    except InputError as exc:
        _layers.report_error(dock._status, str(exc))
        return
    dock._loading = token = pending(dock, path)  # the picks, the model choice, its file
    dock._start.enabled, dock._stop.enabled = False, True  # Stop: training does not begin
    image, labels = dock._loading.picks  # said: the layer trained on (its own, not a prediction)
    on = "" if None in (image, labels) else f" to train on {image.name!r} with {labels.name!r}"
    dock._status.value = "Loading the model" + "".join(f" ({n})" for n in notes) + on + "..."
    worker = create_worker(_load_for_training, path, _start_thread=False, _ignore_errors=True)
    worker.returned.connect(lambda loaded: dock._loading is token and dock._begin(loaded, token))
    worker.errored.connect(lambda exc: dock._loading is token and _load_failed(dock, exc))
    worker.start()


class Pending:
    """A Start whose model is loading (``dock._loading``): what it was pressed for.

    ``picks``: the image and annotations; ``choice``: the model choice
    (:func:`~napari_unet.widgets._live_runs.model_choice`); ``path``: the model file it
    resolved to (auto: the built-in model chosen for the image).
    """

    def __init__(self, picks: tuple, choice: tuple | None = None, path=None) -> None:
        self.picks, self.choice, self.path = picks, choice, path


def pending(dock, path) -> Pending:
    """The dock's picks and model choice now, with the model file ``path`` they resolved to."""
    from napari_unet.widgets._live_runs import model_choice

    picks = (dock._image_box.value, dock._labels_box.value)
    return Pending(picks, model_choice(dock), path)


def cancel_pending(dock, picks: tuple) -> None:
    """A Start loading its model for other picks (image, annotations) than ``picks``: cancelled.

    Before, the model came for the image picked at the click (auto chose by it) and trained
    the image picked meanwhile. Now nothing begins, and the status says to Start again.
    """
    pending = dock._loading
    if not isinstance(pending, Pending) or pending.picks == picks:
        return
    _not_loading(dock)  # the loaded model is dropped when it comes
    dock._status.value = ("Start cancelled: the image or annotations changed while the model "
                          "was loading. " + idle_text(dock))  # fmt: skip


def model_picked(dock, *_args) -> None:
    """A model or model file picked: the next Start begins afresh from it; a loading one stops.

    A Start loading the model of another choice is cancelled (as :func:`cancel_pending`):
    before, its model was trained while the picker showed the new one.
    """
    from napari_unet.widgets._live_runs import forget_run, model_choice

    forget_run(dock)
    loading = dock._loading
    if not isinstance(loading, Pending) or loading.choice == model_choice(dock):
        return
    _not_loading(dock)  # the loaded model is dropped when it comes
    dock._status.value = ("Start cancelled: another model was picked while the model was "
                          "loading. " + idle_text(dock))  # fmt: skip


def stop_loading(dock) -> None:
    """Stop pressed (or the dock closed) while Start loads the model: training does not begin."""
    if dock._loading is None:
        return
    _not_loading(dock)
    if dock.trainer is None:  # else the stopped run's line follows (dock.stop)
        dock._status.value = "Start cancelled (Stop was pressed). " + idle_text(dock)


def _not_loading(dock) -> None:
    """No Start loading any more: Start is pressed again, Stop has nothing to stop."""
    dock._loading = None
    with contextlib.suppress(RuntimeError):  # the dock closed
        dock._start.enabled = True
        dock._stop.enabled = dock.trainer is not None and dock.trainer.running


def _load_failed(dock, exc: Exception) -> None:
    _not_loading(dock)
    _layers.report_error(dock._status, f"could not load the model: {in_words(exc)}")
