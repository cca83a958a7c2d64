"""The loop of a training run, and its end written whole, even under a second Ctrl-C.

:func:`run_steps` trains and evaluates until the last step or a stop. A fine-tune scores
its start model first (step 0); that best is written beside the output only once a step
has trained (a run stopped before its first step writes nothing, docs/reliability.md).
A stop during a validation pass ends it between tiles; the pass records no score.

A run that ends (finished, stopped, interrupted by Ctrl-C, closed, or ended by an error
once a step has trained) writes its model and optimiser state
(:func:`~napari_unet.core.training.checkpoint.finish_run`). A Ctrl-C that arrives
while they are written (the command line's second one, or a script's first) used to abort
the save: the whole run was lost. While the end is saved, Ctrl-C is held
(:class:`HeldSigint`) and handed to its handler once the files are written; a
``KeyboardInterrupt`` it raises then carries the saved
:class:`~napari_unet.core.training.events.TrainResult` as its ``result``.
"""

from __future__ import annotations

import signal
import sys
import threading
import warnings
from collections.abc import Generator
from typing import Any

from napari_unet.core.training.checkpoint import finish_run
from napari_unet.core.training.setup import is_stopped

__all__ = ["HeldSigint", "run_all", "run_steps", "save_finished", "save_interrupted"]


def run_all(run, stop, preview, in_place: bool) -> Generator[Any, None, Any]:
    """The run's events from its start to its saved end; returns its result.

    Ctrl-C while ``TrainStarted`` is handled carries a result with no step trained
    (nothing saved); one while the end's ``Checkpoint`` events are handled, the saved
    result. Closing the generator (a ``break`` out of ``iter_train``) saves as a stop does.
    """
    try:
        yield run.started()  # inside: a Ctrl-C meanwhile carried no result
        yield from run_steps(run, stop, preview)
    except (KeyboardInterrupt, GeneratorExit, Exception) as exc:  # keep what trained
        if isinstance(exc, GeneratorExit) and sys.is_finalizing():
            raise  # closed as Python exits (a generator kept in a variable): torch is gone
        save_interrupted(run, exc, in_place)  # exc.result: the model as trained
        raise
    # A Ctrl-C while the end is written waits for it (before, it lost the whole run).
    result, events = save_finished(run, in_place)
    try:
        yield from events
    except (KeyboardInterrupt, Exception) as exc:  # after the end was saved: it is kept
        exc.result = result  # before, a Ctrl-C here had no result to resume from
        _note(exc, result)
        raise
    return result


def run_steps(run, stop, preview) -> Generator[Any, None, None]:
    """The run's steps and evaluations, until its last step or ``stop``."""
    config = run.config
    prefetcher = run.prefetcher()
    try:
        if run.fine_tunes and run.val and run.step == 0:  # the start model is the bar to beat
            if is_stopped(stop):  # before it is scored: a stopped run writes nothing
                run.stopped = True
                return
            yield from run.validate(preview, stop)  # a stop during it: no score, no step
        while run.step < config.steps and not run.stopped:
            if is_stopped(stop):
                run.stopped = True
                break
            event = run.train_step(prefetcher.get())
            if event is not None:
                yield event
            if run.step % config.val_every == 0 or run.step == config.steps:
                yield from run.validate(preview, stop)  # cut short by a stop: run.stopped
            yield from run.save_start_best()
    finally:
        prefetcher.close()


class HeldSigint:
    """Hold Ctrl-C (SIGINT) for the duration of a ``with`` block; ``caught`` counts them.

    :meth:`replay` then hands them to the handler they were held from (the command line's
    first Ctrl-C stops, its second aborts; Python's raises ``KeyboardInterrupt``). Only the
    main thread receives signals and may set their handlers: elsewhere (a napari thread
    worker) the block runs as it is.
    """

    def __init__(self) -> None:
        self.caught = 0
        self._old: Any = None

    def _hold(self, signum, frame) -> None:
        self.caught += 1

    def __enter__(self) -> HeldSigint:
        if threading.current_thread() is threading.main_thread():
            old = signal.getsignal(signal.SIGINT)
            if old is not None:  # None: set outside Python, it could not be put back
                self._old = signal.signal(signal.SIGINT, self._hold)
        return self

    def __exit__(self, *exc) -> None:
        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)

    def replay(self) -> None:
        """Deliver the Ctrl-C held to the handler restored (which may raise)."""
        for _ in range(self.caught):
            if callable(self._old):
                self._old(signal.SIGINT, None)
            elif self._old != signal.SIG_IGN:  # the default action: end the program
                raise KeyboardInterrupt


def _note(exc: BaseException, result) -> None:
    if result.saved_to is not None and hasattr(exc, "add_note"):
        exc.add_note(f"napari-unet: training stopped at step {result.steps_done}; the model "
                     f"was saved to {result.saved_to}")  # fmt: skip


def _unsaved(exc: BaseException, result, start: int) -> None:
    """Attach the unsaved ``result`` to ``exc`` (the end of a run could not be written)."""
    exc.result = result
    if result.steps_done > start and hasattr(exc, "add_note"):
        exc.add_note(f"napari-unet: training ended at step {result.steps_done}; the model "
                     "could not be saved")  # fmt: skip


def save_interrupted(run, exc: BaseException, in_place: bool) -> None:
    """Save a run that Ctrl-C interrupted, or an error or a close ended.

    ``exc.result`` is the result, ``exc.events`` the ``Checkpoint`` events of its save.

    A further Ctrl-C while the files are written waits until they are: the caller raises
    ``exc`` again. An error (out of memory in a validation pass, a full disk) keeps what
    the run trained as a stop does, once a step has trained (before, an hour of training
    was lost with it); if keeping it fails too, ``exc`` is raised as it is.
    """
    failed = not isinstance(exc, KeyboardInterrupt)
    if failed and run.step <= run.start:
        return
    try:
        with HeldSigint():
            run.stopped = True
            exc.result = run.result()  # the model as trained, for whoever catches it
            # Its Checkpoint events, for a log of the run (before, dropped: the command's
            # log did not say that an aborted run was saved, as a stopped run's does).
            exc.events = finish_run(exc.result, run.output, run.start, in_place)
    except Exception as err:
        if not failed:
            raise
        # Said, not silent (before, the error was raised as if nothing had been tried):
        # finish_run already tried a fallback file beside the output and in the temp folder.
        warnings.warn(f"the {run.step - run.start} step(s) trained could not be saved ({err})",
                      RuntimeWarning, stacklevel=3)  # fmt: skip
        if hasattr(exc, "add_note"):
            exc.add_note(f"napari-unet: training stopped at step {run.step}; the model could "
                         f"not be saved ({err})")  # fmt: skip
        return
    _note(exc, exc.result)


def save_finished(run, in_place: bool) -> tuple[Any, list]:
    """Save the end of a run; ``(result, Checkpoint events)``.

    Raises
    ------
    KeyboardInterrupt
        When a Ctrl-C that came while the files were written interrupts (handed to its
        handler once they are written), with the result (saved) as its ``result`` and the
        save's ``Checkpoint`` events as its ``events``.
    Exception
        When the end could not be written (no room beside the output nor in the temporary
        folder), with the result (unsaved, ``saved_to`` None) as its ``result``: before,
        the whole run was lost with it (a dock's Save model... now retries once space is
        freed). A Ctrl-C held meanwhile is dropped: the run ends anyway.
    """
    with HeldSigint() as held:
        result = run.result()
        try:
            events = finish_run(result, run.output, run.start, in_place)
        except Exception as exc:  # no room anywhere: the steps stay in memory (exc.result)
            _unsaved(exc, result, run.start)
            raise
    try:
        held.replay()
    except KeyboardInterrupt as exc:
        exc.result, exc.events = result, events  # the save's Checkpoints, for the log too
        _note(exc, result)
        raise
    return result, events
