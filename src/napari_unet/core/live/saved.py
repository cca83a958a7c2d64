"""What the model trained live records: the metadata of its file and of its snapshot.

The start model's metadata (normalisation, head, post-processing, object size), less what
describes other weights, with the live run's provenance. :meth:`LiveTrainer.save` writes it
and :meth:`LiveTrainer.snapshot`'s network carries it, so a snapshot segments as the file
saved from the same weights does.
"""

from __future__ import annotations

import copy

__all__ = ["file_metadata"]

#: Keys of the start model's metadata that describe other weights: the start run's resume
#: record and scores (kept, ``--resume`` paired the file with that run's optimiser state).
STALE = ("training", "metrics")


def file_metadata(metadata: dict, steps: int, lr: float) -> dict:
    """A copy of ``metadata`` for the weights after ``steps`` live steps at rate ``lr``."""
    meta = copy.deepcopy(metadata)
    for stale in STALE:
        meta.pop(stale, None)
    prov = dict(meta.get("provenance", {}))
    prov.update(trained_by="napari-unet live", live_steps=steps, lr=lr)
    meta["provenance"] = prov
    return meta
