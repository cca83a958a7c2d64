"""The Train dock's Save model...: a run's best weights staged beside ``NAME.best``.

:func:`~napari_unet.widgets._saving.save_run` writes the best to a temporary
(:func:`stage_best`), then the model, and only then puts the best in place
(:func:`place_best`): a failed save leaves the old model and its ``NAME.best`` as they were.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from napari_unet.core.errors import InputError

__all__ = ["discard", "place_best", "stage_best"]


def stage_best(result, path: Path) -> tuple[Path | None, Exception | None]:
    """The run's best weights in a temporary beside ``NAME.best``: ``(file, error)``.

    ``(None, None)`` when there is none to write: no best weights, or ``NAME.best``
    holds them already. The temporary is named as the core's atomic writes name theirs
    (hidden, ending in ``.tmp``: a later write of ``NAME.best`` removes one a crash left).
    """
    import copy
    import tempfile

    from napari_unet.core.files import stale_temporaries
    from napari_unet.core.training.checkpoint import best_path, holds_best, save_snapshot

    best = result.best_metrics
    if result.best_state is None or not best or holds_best(path, best):
        return None, None
    final, tmp = best_path(path), None
    for old in stale_temporaries(final):  # a crash's (its writer is gone)
        discard(old)
    meta = copy.deepcopy(result.best_metadata())
    meta.pop("metrics", None)
    try:
        fd, name = tempfile.mkstemp(prefix=f".{final.name}.{os.getpid()}.",
                                    suffix=f"{final.suffix}.tmp", dir=final.parent)  # fmt: skip
        os.close(fd)
        tmp = Path(name)
        save_snapshot(tmp, result.best_model(), meta, best["step"], best)
    except (OSError, InputError) as exc:
        discard(tmp)
        return None, exc
    return tmp, None


def place_best(result, path: Path, staged: Path | None, failed: Exception | None) -> None:
    """Put the staged best at ``NAME.best`` (the model is written); warn if it failed."""
    import warnings

    from napari_unet.core.training.checkpoint import best_path

    final = best_path(path)
    if staged is not None:
        try:
            os.replace(staged, final)
            return
        except OSError as exc:
            discard(staged)
            failed = exc
    if failed is not None:
        step = result.best_metrics["step"]
        warnings.warn(
            f"{path.name} is saved, but its best weights (step {step}) could not be written "
            f"to {final.name} ({failed}); a {final.name} of another run beside it is "
            "removed: Save model... again to write them",
            RuntimeWarning,
            2,
        )


def discard(tmp: Path | None) -> None:
    """Remove a staged temporary, if any (a failure to is left to the next write)."""
    if tmp is not None:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
