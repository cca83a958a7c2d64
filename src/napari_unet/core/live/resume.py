"""Continuing a stopped live run: Stop, then Start on the same image goes on from it.

The new :class:`~napari_unet.core.live.trainer.LiveTrainer` takes the stopped one's weights,
their average, the optimiser's state and the step count, and what was annotated on the
plane that no painted cell shows any more: background erased by the user ("not a cell
here", a wrongly accepted object rubbed out). The cells themselves come back with the
annotations the dock sends at Start; before, an erased correction was forgotten at Start.
Only on the same plane and annotations layer: the dock sets ``carry_annotations`` of the
stopped trainer to False for another plane or layer, whose pixels are not those annotated.
"""

from __future__ import annotations

import copy

import numpy as np

__all__ = ["take_over"]


def take_over(trainer, previous) -> None:
    """Make ``trainer`` go on from the stopped ``previous`` (its model, steps, background)."""
    with previous._model_lock:  # not in the middle of its step
        previous._apply_updates()  # what Stop sent last (its thread ended before it)
        trainer.model.load_state_dict(previous.model.state_dict())
        trainer.average.load_state_dict(previous.average.state_dict())
        trainer._opt.load_state_dict(copy.deepcopy(previous._opt.state_dict()))  # its own
    for group in trainer._opt.param_groups:
        group["lr"] = trainer.config.lr  # this run's rate
    trainer.step = trainer.start_step = previous.step
    if getattr(previous, "carry_annotations", True):  # False: another plane or layer
        keep_annotated(trainer.data, previous.data)


def keep_annotated(data, old) -> None:
    """Carry the annotated pixels of ``old`` (painted cells, their rings, erased background).

    Only where the plane has the same size. Their labels are not carried: the dock sends the
    annotations as they are now, so a cell erased between Stop and Start is background, and
    the pixels carried train as background (the targets of a new plane) until then. The
    region is not carried either: the new run's annotated region replaces it.
    """
    if old.shape != data.shape:
        return
    painted = np.array(old.painted, bool)
    if not painted.any():
        return
    data.painted |= painted
    data.mask |= painted
    data.version += 1
    data._pair = None
