"""The Live dock's Start, once the model is loaded: the last run stopped, the new trainer made.

- **Continued only from the same model file** (:func:`~napari_unet.widgets._live_runs.resumable`):
  the run records the file it loaded (its resolved path and ``tensors_sha256``), and Start
  continues it only when the choice resolves to that file again; else it begins afresh and
  the status line says why (:func:`~napari_unet.widgets._live_runs.afresh_note`). A run
  continued keeps its own metadata (the trainer's ``resume``).
- **The choice recorded is the one of the click** (the :class:`~napari_unet.widgets.
  _live_loading.Pending` token), not the picker's at the end of the load.
- **A trainer refused** (the plane is not as the model reads it, say) is a message on the
  status line, not a traceback.
- **An Annotate accept (or import) still written in parts** into the annotations is
  written at once first (:func:`~napari_unet.widgets._pending_writes.settle`), and Start is
  refused while it is still computed: before, the run began on half of it.
"""

from __future__ import annotations

from napari_unet.core.errors import InputError
from napari_unet.widgets import _layers
from napari_unet.widgets import _live_runs as runs

__all__ = ["new_trainer"]


def _others_labels(dock) -> list:
    """The annotations of the other images "other images" trains on (none when it is off).

    Only those: an accept into another Labels layer is neither waited for nor refused.
    """
    from napari_unet.widgets._live_inputs import own_labels

    if not dock._others.value:
        return []
    viewer, image, labels = dock._viewer, dock._image_box.value, dock._labels_box.value
    found = (own_labels(viewer, other, exclude=(labels,))
             for _, other in _layers.layer_choices(viewer, "Image", exclude=(image,)))  # fmt: skip
    return [ann for ann in found if ann is not None]


def new_trainer(dock, loaded, started) -> tuple | None:
    """Read the inputs, stop the dock's run, make the new trainer: ``(trainer, continued, inputs)``.

    ``loaded``: ``(model, metadata)``; ``started``: the Start's
    :class:`~napari_unet.widgets._live_loading.Pending` (its model choice and file).
    None when the inputs or the trainer are refused (said on the status line).
    """
    from napari_unet.core.live.trainer import LiveTrainer
    from napari_unet.widgets._live_inputs import read_inputs
    from napari_unet.widgets._pending_writes import settle

    model, meta = loaded
    try:  # a stack's plane in view; other images that do not fit are left out
        settle([dock._labels_box.value, *_others_labels(dock)], "press Start again")
        inputs = read_inputs(dock, int(model.in_channels))
    except (InputError, OSError) as exc:
        dock._start.enabled = dock.trainer is None or not dock.trainer.running
        dock._stop.enabled = not dock._start.enabled  # (enabled while the model loaded)
        _layers.report_error(dock._status, str(exc))
        return None
    source = runs.model_source(getattr(started, "path", None), meta)
    choice = getattr(started, "choice", None) or runs.model_choice(dock)
    previous = runs.resumable(dock, inputs, choice, source)  # Stop, then Start: go on with it
    afresh = "" if previous is not None else runs.afresh_note(dock, inputs, choice, source)
    dock.stop()
    try:
        trainer = LiveTrainer(
            model if previous is None else previous.snapshot(), meta, inputs.plane.raw,
            on_view=dock._bridge.view.emit, others=inputs.others, resume=previous,
        )  # fmt: skip
    except InputError as exc:
        dock._start.enabled, dock._stop.enabled = True, False
        _layers.report_error(dock._status, f"could not start live training: {exc}; pick "
                            "the model in the list, then Start again")  # fmt: skip
        return None
    dock._afresh = afresh  # said on the status line (run_note)
    runs.keep_run(dock, inputs, choice, source)
    return trainer, previous, inputs
