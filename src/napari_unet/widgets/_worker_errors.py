"""The ends of the docks' generator jobs that napari's workers do not report.

napari's generator workers (superqt) take a ``RuntimeError`` raised by the generator for a
deleted Qt object: they only warn, and emit neither ``errored`` nor ``finished``. A dock
waiting for them stayed on Cancel for good, and PyTorch reports a CPU out of memory (and
CUDA's) as a RuntimeError. Each dock runs its generator job through :func:`surfaced`.

Closing napari quits every worker (its task manager's ``cancel_all``): a quit generator
worker leaves its loop with the generator suspended, never resumed nor closed. A dock that
waits for its job's end (the Train dock: the model saved) finishes the job itself
(:func:`finish_quit`); before, it waited its whole time-out, 30 s twice.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import threading
import time
from collections.abc import Callable, Generator

__all__ = ["WorkerFailed", "drive", "finish_quit", "surfaced"]


class WorkerFailed(Exception):
    """A ``RuntimeError`` or ``MemoryError`` of a generator job, in words (:func:`surfaced`).

    ``result``: the error's own (a training run that failed keeps what it trained).
    """

    def __init__(self, message: str, result=None) -> None:
        super().__init__(message)
        self.result = result


def surfaced(job: Callable[..., Generator]) -> Callable[..., Generator]:
    """``job`` (a generator function) whose RuntimeError reaches the worker's ``errored``.

    Such an error, and a ``MemoryError`` (which often has no text), are raised again as
    :class:`WorkerFailed` saying what happened (``"out of memory (...)"``).
    """
    from napari_unet.core.errors import in_words

    @functools.wraps(job)
    def run(*args, **kwargs):
        try:
            return (yield from job(*args, **kwargs))
        except (RuntimeError, MemoryError) as exc:
            text = in_words(exc)
            raise WorkerFailed(text, getattr(exc, "result", None)) from exc

    return run


def drive(gen: Generator):
    """Run the generator ``gen`` made beforehand (a worker's function; sends pass on)."""
    return (yield from gen)


def finish_quit(worker, gen: Generator, done: threading.Event, timeout: float) -> bool:
    """Wait up to ``timeout`` s for ``done``; a job its worker quit is finished here.

    ``gen`` is the job the worker runs (through :func:`drive`); it sets ``done`` when it
    ends. Once the worker has left its loop with ``gen`` suspended (quit: napari closing),
    the rest of ``gen`` runs on this thread (the caller has asked it to stop first: it
    ends at its next step, saving what it keeps); one never started is closed. Returns
    whether ``done`` is set.
    """
    end = time.monotonic() + timeout
    while not done.wait(0.02):
        state = inspect.getgeneratorstate(gen)
        if worker is not None and worker.abort_requested and not worker.is_running:
            if state == inspect.GEN_CREATED:  # quit before it started: nothing ran
                gen.close()
                done.set()
            elif state == inspect.GEN_SUSPENDED:
                with contextlib.suppress(Exception):  # its errors were the worker's to say
                    for _ in gen:
                        pass
        if time.monotonic() >= end:
            break
    return done.is_set()
