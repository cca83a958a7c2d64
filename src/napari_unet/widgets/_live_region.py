"""The Live dock's annotated region: followed from Start, and another one picked while training.

Before, the *annotated region* picker was read at Start only: picking another layer, or
*(painted cells only)*, while training changed nothing (the rectangles removed from the
choice were still trained as background) and nothing said so. Now the new choice is used
from then on, as when the region layer is deleted
(:func:`~napari_unet.widgets._live_inputs.region_removed`), and the status line says so.
"""

from __future__ import annotations

import contextlib

import numpy as np

from napari_unet.widgets._live_parts import RegionLink


def link_region(dock, note: str = "") -> None:
    """Follow the region picked (at Start, or picked while training): ``dock._link``.

    ``note``: what the status line says of the region from now on (:func:`region_note`).
    """
    dock._region_note = note
    region = dock._annotated_box.value
    if region is not None:
        plane = dock._plane  # a stack's plane: the shapes drawn on it
        dock._link = RegionLink(region, plane.shape, dock.trainer, dock._status,
                                like=dock._annotations, on=(dock._image, plane.index))  # fmt: skip


def region_note(dock) -> str:
    """For the Live status line: the annotated region picked while training, from which step."""
    return getattr(dock, "_region_note", "")


def region_picked(dock, _value=None) -> None:
    """Another annotated region picked while training: the trainer uses it from now on."""
    trainer, link = dock.trainer, dock._link
    region = dock._annotated_box.value
    stopping = not dock._stop.enabled  # Stop pressed, its step ending: the next Start reads it
    if trainer is None or not trainer.running or stopping or region is getattr(link, "layer", None):
        return  # read at the next Start; or no change (the deleted layer's picker emptied)
    if link is not None:
        link.close()
        dock._link = None
    # a region deleted earlier is no longer "left out": the new choice replaces it
    gone = lambda n: n.startswith("annotated region '") and n.endswith("(deleted)")  # noqa: E731
    dock._left_out = [n for n in dock._left_out if not gone(n)]
    if region is None:
        trainer.set_region(np.zeros(dock._plane.shape, bool))
        now = "no annotated region (painted cells only)"
    else:
        now = f"annotated region {region.name!r}"
    with contextlib.suppress(RuntimeError):  # (the dock closing with napari)
        dock._status.value = f"Annotated region changed: training goes on with {now}."
    link_region(dock, f"; {now} since step {trainer.step}")  # after: an unreadable one says why
