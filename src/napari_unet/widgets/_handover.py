"""Thread workers that let go of their data: napari keeps every worker for good.

napari keeps every worker made while a viewer is open (its task list holds the worker's
``quit``), and superqt's ``FunctionWorker`` keeps its function and arguments. An array given
to a worker, or held by its function's closure, stayed in memory for the life of the
window: one full copy of the annotations per autosave and per Export TIFF. The function
and its arguments go to the job through a holder the job empties as it starts (as
:func:`napari_unet.widgets._layers.run_saving` does), and the callbacks are let go once
the worker has finished.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

__all__ = ["handed_over"]


def handed_over(func: Callable, *args, connect: dict[str, Callable] | None = None):
    """Start a thread worker running ``func(*args)``; it keeps neither once it has started.

    ``connect`` maps the worker's signal names (``"returned"``, ``"errored"``,
    ``"finished"``) to callbacks, let go of when the worker has finished (give callbacks
    that hold a dock weakly: :func:`napari_unet.widgets._weakly.weakly`). Errors go to
    ``"errored"`` only (napari shows none). Returns the started worker.
    """
    from napari.qt.threading import create_worker

    job = [func, args]
    held = dict(connect or {})

    def run():
        call, given = job
        job.clear()
        return call(*given)

    worker = create_worker(run, _start_thread=False, _ignore_errors=True)
    for signal in held:
        getattr(worker, signal).connect(functools.partial(_relay, held, signal))
    worker.finished.connect(held.clear)  # after a "finished" callback: connected after it
    worker.start()
    return worker


def _relay(held: dict, signal: str, *args) -> None:
    callback = held.get(signal)
    if callback is not None:
        callback(*args)
