"""The Predict dock's run in a napari worker, which reports to the dock without keeping it.

napari keeps every worker made while a viewer is open (its task manager's list, to cancel
them all when the window closes), and with it what the worker's signals are connected to.
Before, those were functions holding the dock: a closed Predict dock stayed alive for good
after its first run, with its model, its image and its last segmentation (80 to 100 MB a
run at 2048 x 2048). The dock's methods are now called through
:func:`~napari_unet.widgets._weakly.weakly`, and the job of a run that was cancelled
(or whose dock was closed) is closed once its worker ends, which lets go of the image and
model it was given.
"""

from __future__ import annotations

import contextlib

import numpy as np

from napari_unet.widgets import _workers
from napari_unet.widgets._weakly import weakly
from napari_unet.widgets._worker_errors import drive, surfaced

__all__ = ["start", "weakly"]


def start(dock, job: int, *args):
    """Start a worker running :func:`job_keeping` on ``args``; its signals go to ``dock``.

    ``yielded``, ``returned`` and ``errored`` go to the dock's ``_on_progress``,
    ``_on_returned`` and ``_on_error`` with ``job`` last, ``finished`` to ``_on_finished``.
    """
    from napari.qt.threading import create_worker

    gen = surfaced(job_keeping)(*args)
    names = {"yielded": "_on_progress", "returned": "_on_returned", "errored": "_on_error",
             "finished": "_on_finished"}  # fmt: skip
    connect = {signal: weakly(dock, method, job) for signal, method in names.items()}
    on_finished = connect["finished"]

    def finished() -> None:  # connected before the worker starts, as every signal
        on_finished()
        _close(gen)  # a quit run's job, left suspended

    connect["finished"] = finished
    return create_worker(drive, gen, _connect=connect)


def _close(gen) -> None:
    """Close a job its worker left suspended (quit); a job that ended is left as it is."""
    with contextlib.suppress(Exception):  # its errors were the worker's to say
        gen.close()


def job_keeping(*args):
    """``predict_job``, then a copy of its labels (``"kept"``) made in the worker.

    What the dock remembers writing: copied on the GUI thread it took 2 s at 8192 x 8192.
    """
    out = yield from _workers.predict_job(*args)
    labels = out.get("labels")
    out["kept"] = None if labels is None else np.array(labels, copy=True)
    return out
