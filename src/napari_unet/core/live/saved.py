"""What the model trained live records: the metadata of its file and of its snapshot.

The start model's metadata (normalisation, head, post-processing, object size), less what
describes other weights, with the live run's provenance. :meth:`LiveTrainer.save` writes it
and :meth:`LiveTrainer.snapshot`'s network carries it, so a snapshot segments as the file
saved from the same weights does.
"""

from __future__ import annotations

import copy
import uuid

__all__ = ["file_metadata", "start_metadata"]

#: Keys of the start model's metadata that describe other weights: the start run's resume
#: record and scores (kept, ``--resume`` paired the file with that run's optimiser state),
#: and a built-in model's name and description (kept, a model trained live from ``nuclei``
#: called itself napari-unet's built-in model, and an export named its package so).
STALE = ("training", "metrics", "name", "description")


def start_metadata(metadata: dict | None) -> dict:
    """The start model's metadata for a live run: its provenance gets the live run's own id.

    The start run's id is kept as ``start_run_id``. Before, a model saved live carried the
    Train run's ``run_id``, and the Train dock took that file for its own result: its next
    Train or Resume wrote over the live model, unasked.
    """
    meta = dict(metadata or {})
    prov = dict(meta.get("provenance") or {})
    if "run_id" in prov:
        prov["start_run_id"] = prov["run_id"]
    prov["run_id"] = uuid.uuid4().hex
    meta["provenance"] = prov
    return meta


def file_metadata(metadata: dict, steps: int, lr: float) -> dict:
    """A copy of ``metadata`` for the weights after ``steps`` live steps at rate ``lr``."""
    meta = copy.deepcopy(metadata)
    for stale in STALE:
        meta.pop(stale, None)
    prov = dict(meta.get("provenance", {}))
    prov.update(trained_by="napari-unet live", live_steps=steps, lr=lr)
    meta["provenance"] = prov
    return meta
