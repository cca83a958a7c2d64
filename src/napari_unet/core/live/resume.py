"""Continuing a stopped live run: Stop, then Start on the same image goes on from it.

The new :class:`~napari_unet.core.live.trainer.LiveTrainer` takes the stopped one's weights,
their average, the optimiser's state and the step count, and its annotations: the cells as
it had them and the annotated background erased by the user ("not a cell here", a wrongly
accepted object rubbed out; before, an erased correction was forgotten at Start). What
changed while stopped comes with what the dock sends at Start, compared with what the
stopped run was sent. Only on the same plane and annotations layer: the dock sets
``carry_annotations`` of the stopped trainer to False for another plane or layer, whose
pixels are not those annotated.
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
        keep_annotated(trainer, previous.data)


def keep_annotated(trainer, old) -> None:
    """Carry the annotations of ``old`` (LiveData) as ``trainer``'s first update.

    Its labels, painted cells and rings, erased background (targets made on the thread).

    Only where the plane has the same size. The labels are carried as the stopped run had
    them (the dock keeps the copy it sent them from, its mirror): what changed while
    stopped then reaches the new run as a change of those labels, as it would have while
    running (an undone cell is taken back, no longer annotated; an erased one is annotated
    background). Before, only the annotated pixels were carried, without their cells: a
    cell undone between Stop and Start was trained as background. The region is not
    carried: the new run's annotated region replaces it.
    """
    if old.shape != trainer.data.shape:
        return
    painted = np.array(old.painted, bool)
    kept = painted | (old.labels != 0)
    rows, cols = np.flatnonzero(kept.any(1)), np.flatnonzero(kept.any(0))
    if not rows.size:
        return
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    labels = np.array(old.labels[y0:y1, x0:x1])  # its ids as they are (int64 if widened)
    trainer.update((y0, y1, x0, x1), labels, mask=painted[y0:y1, x0:x1])
