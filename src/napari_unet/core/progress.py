"""Running the engine's progress generators: one helper for scripts, the CLI and tests.

Long work in the core is a generator that yields small frozen-dataclass progress events and
returns its result (training, prediction, weight maps of stacks, evaluation). :func:`drain`
runs one to the end, optionally passing each event to a callback and moving a tqdm bar.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator
from typing import Any, TypeVar

R = TypeVar("R")

__all__ = ["drain"]


def drain(
    gen: Generator[Any, Any, R],
    callback: Callable[[Any], object] | None = None,
    bar: Any = None,
) -> R:
    """Run a progress generator to the end and return its result.

    Parameters
    ----------
    gen : generator
        Yields progress events, returns the result.
    callback : callable, optional
        Called with every event, in order. A ``KeyboardInterrupt`` raised in it (Ctrl-C
        while it runs) is thrown into the generator, so that it cleans up (a training run
        saves) before the interrupt goes on.
    bar : tqdm.tqdm, optional
        A progress bar: events with ``done`` and ``total`` attributes set its position
        (``total`` may change as planes are discovered); other events leave it alone.

    Returns
    -------
    object
        The generator's return value.
    """
    while True:
        try:
            event = next(gen)
        except StopIteration as stop:
            return stop.value
        if callback is not None:
            try:
                callback(event)
            except KeyboardInterrupt as exc:
                with contextlib.suppress(StopIteration):
                    gen.throw(exc)  # it cleans up (a run saves) and raises it again
                raise  # never swallowed, even by a generator that caught it
        if bar is not None and hasattr(event, "done") and hasattr(event, "total"):
            if event.total is not None and bar.total != event.total:
                bar.total = event.total
            bar.n = event.done
            bar.refresh()
