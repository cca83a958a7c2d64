"""Whose run an optimiser-state file beside a model file resumes.

``a`` and ``a.safetensors`` keep their optimiser state in one file, ``a.optim.safetensors``
(:func:`~napari_unet.core.training.checkpoint.optimizer_path`): a run written to the second
replaced the first one's state, which could then no longer be resumed. The command line
and the Train dock refuse (or, for a default name, move on from) such an output.
"""

from __future__ import annotations

import glob
from collections.abc import Collection
from pathlib import Path

from napari_unet.core.errors import InputError

__all__ = ["run_of", "state_owner"]


def run_of(path: str | Path) -> str | None:
    """The run id a model file records (None: unreadable, or no model file)."""
    from napari_unet.core.models.modelfile import read_metadata

    try:
        return (read_metadata(path).get("provenance") or {}).get("run_id") or None
    except (InputError, OSError, ValueError):
        return None


def state_owner(path: str | Path, runs: Collection[str] = ()) -> Path | None:
    """Another model file whose run the optimiser state beside ``path`` holds (None: none).

    A state of one of ``runs`` (the caller's own runs at ``path``), or whose model file is
    gone (deleted to start over, or never written), resumes nothing and is replaced as usual.
    """
    from napari_unet.core.training.checkpoint import optimizer_path, optimizer_run

    path = Path(path).resolve()
    state = optimizer_path(path)
    run = optimizer_run(state) if state.is_file() else None
    if not run or run in runs:
        return None
    name = state.name[: -len(".optim.safetensors")]
    for other in sorted(path.parent.glob(glob.escape(name) + "*")):
        if other != path and other.is_file() and optimizer_path(other) == state:
            if run_of(other) == run:
                return other
    return None
