"""Running the engine's progress generators: one helper for scripts, the CLI and tests.

Long work in the core is a generator that yields small frozen-dataclass progress events and
returns its result (training, prediction, weight maps of stacks, evaluation). :func:`drain`
runs one to the end, optionally passing each event to a callback and moving a tqdm bar.
"""

from __future__ import annotations

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
    gen : generator or iterable
        Yields progress events, returns the result. Any other iterable (a list of events)
        is run through as well; its result is None.
    callback : callable, optional
        Called with every event, in order. A ``KeyboardInterrupt`` (Ctrl-C while it runs)
        or an error raised in it is thrown into the generator, so that it cleans up (a
        training run saves, and the error carries its ``result``) before it goes on.
    bar : tqdm.tqdm, optional
        A progress bar: events with ``done`` and ``total`` attributes set its position
        (``total`` may change as planes are discovered); other events leave it alone.

    Returns
    -------
    object
        The generator's return value.
    """
    if not hasattr(gen, "__next__"):  # a list: "'list' object is not an iterator" before
        try:
            gen = iter(gen)
        except TypeError:
            from napari_unet.core.errors import InputError

            raise InputError(
                f"drain: expected a progress generator (iter_train(...), iter_predict(...)), "
                f"got {type(gen).__name__}"
            ) from None
    while True:
        try:
            event = next(gen)
        except StopIteration as stop:
            return stop.value
        if callback is not None:
            try:
                callback(event)
            except (KeyboardInterrupt, Exception) as exc:  # before, an error lost the run
                _throw(gen, exc)
                raise  # never swallowed, even by a generator that caught it
        if bar is not None and hasattr(event, "done") and hasattr(event, "total"):
            if event.total is not None and bar.total != event.total:
                bar.total = event.total
            bar.n = event.done
            bar.refresh()


def _throw(gen, exc: BaseException) -> None:
    """Throw the callback's ``exc`` into ``gen`` (it cleans up: a run saves); raise ``exc``.

    A generator that raises another error instead (one naming its image, say) or one of its
    own in its cleanup leaves the caller's error as it was, that one chained to it.
    """
    if not hasattr(gen, "throw"):
        return
    try:
        gen.throw(exc)  # raises exc again, or yields: the caller raises exc
    except StopIteration:
        return
    except BaseException as err:
        if err is exc:
            raise
        raise exc from err
