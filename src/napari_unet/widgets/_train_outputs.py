"""Which model file a Train dock's run writes: never another's, never a running dock's.

The Train docks of a session share one registry of the paths their running runs write
(:data:`_CLAIMS`): a run claims its model file (with its ``NAME.best`` and optimiser
state) when it starts, and the claim lapses when its worker ends (finished, stopped,
failed, or its dock closed and the run ended in the background): each claim holds the
run's ``done`` event, set when the worker ends. Before, two docks training at once on the
same image (or the same *save to*) wrote the same file: the first one's model was lost.

Each dock also records the run id (the model file's provenance ``run_id``) of every file
it wrote (``own``: resolved path -> run ids): a file counts as the dock's own only while
it still holds one of them. Before, the path alone counted: a model the user put at the
dock's earlier output path was replaced by the next Train.

A dock's *Save model...* (Train, Live, Predict) never writes a file a running run writes
(:func:`refuse_running`): before, it wrote there, and the run replaced the saved model at
its end without a word. Train's and Live's saves (written in a worker) also claim the file
while they write (:func:`claim_save`), so a run started meanwhile does not take it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from napari_unet.core.training.state_owner import run_of, state_owner

#: Resolved paths a running Train run writes -> that run's ``done`` event (set at its end).
_CLAIMS: dict[Path, threading.Event] = {}


def _paths(path: Path) -> tuple[Path, ...]:
    """``path`` (resolved), its ``NAME.best`` and its optimiser state: what a run writes."""
    from napari_unet.core.training.checkpoint import best_path, optimizer_path

    path = path.resolve()
    return path, best_path(path), optimizer_path(path)


#: What holds a claim, as the messages say it (a save's claim says so: ``done.holder``).
RUN = "another Train dock's run"


def holder(path: Path, done: threading.Event | None = None) -> str | None:
    """Who writes ``path`` now, other than the run of ``done`` (None: nobody)."""
    for e in (_CLAIMS.get(p) for p in _paths(path)):
        if e is not None and e is not done and not e.is_set():
            return getattr(e, "holder", RUN)
    return None


def claim(path: Path | None, done: threading.Event) -> None:
    """Claim ``path`` for the run of ``done`` (its earlier claims and lapsed ones dropped)."""
    for key in [k for k, e in _CLAIMS.items() if e is done or e.is_set()]:
        del _CLAIMS[key]
    if path is not None:
        _CLAIMS.update(dict.fromkeys(_paths(path), done))


def refuse_running(path: Path) -> None:
    """Refuse (InputError) a save into ``path`` while a running Train run writes it."""
    from napari_unet.core.errors import InputError

    who = holder(path)
    if who is not None:
        raise InputError(
            f"{Path(path).name} is being written by {who}: it is not replaced; choose "
            "another file, or save once that has ended"
        )


def claim_save(path: Path) -> threading.Event:
    """Claim ``path`` for a dock's save (refused as by :func:`refuse_running`).

    Set the returned event when the save ends: the claim lapses then.
    """
    refuse_running(path)
    done = threading.Event()
    done.holder = "a model save of another dock (Save model...)"  # as the messages say it
    claim(path, done)
    return done


def held(save: Callable, path: Path) -> Callable:
    """``save`` (run in a worker later) with ``path`` claimed until it returns or fails."""
    done = claim_save(path)

    def saving(*args, **kwargs):
        try:
            return save(*args, **kwargs)
        finally:
            done.set()

    return saving


def record(own: dict, path, run_id: str) -> None:
    """Note in ``own`` that the dock wrote ``path`` in the run ``run_id``."""
    if path is not None and run_id:
        own.setdefault(Path(path).resolve(), set()).add(run_id)


def _input_of(path: Path, inputs) -> str:
    """Why ``path`` (or its ``NAME.best``, optimiser state) is an input ("": it is none)."""
    from napari_unet.core.files import same_file

    for src in (Path(p) for p in inputs if p is not None and str(p) not in ("", ".")):
        if any(same_file(p, src) for p in _paths(path)):
            return "is the model this run starts from" if same_file(path, src) else (
                f"would replace an input of this run ({src.name})")  # fmt: skip
    return ""


def _refusal(output: Path, why: str) -> str:
    """The message refusing ``output``, chosen in *save to*, taken for ``why``."""
    from napari_unet.core.training.checkpoint import optimizer_path

    if why.startswith("exists"):
        return (
            f"{output.name} exists and was not trained in this session: it is not replaced; "
            "choose another file in 'save to', or remove it first (the command line needs "
            "--overwrite for the same)"
        )
    if why.startswith("shares"):
        stem = output.name.removesuffix(".safetensors")
        return (
            f"{output.name} {why}, and that run could no longer be resumed: choose another "
            f"file in 'save to', such as {stem}_2.safetensors, or remove "
            f"{optimizer_path(output).name} first"
        )
    return f"{output.name} {why}: choose another file in 'save to', or wait for it to end"


def claim_output(
    output: Path | None, explicit: bool, own: dict, done, inputs=()
) -> tuple[Path | None, str]:
    """The model file a run writes, claimed for it, and a note for the status line.

    An existing model file (or its ``NAME.best``) that this dock did not write (``own``:
    resolved path -> run ids of its results; a file holding another run id was replaced
    meanwhile) is never replaced, nor a file another dock's run writes now, nor an
    optimiser state another model file's run resumes from (:func:`state_owner`): a default
    path (``IMAGE.unet.safetensors`` beside the image) moves on to the next free name
    (``IMAGE.unet-2.safetensors``, ...), a path chosen in *save to* is refused
    (InputError). A default path that is one of ``inputs`` (the model the run starts
    from, the layers' files) moves on too (before, it was refused); a chosen one is refused
    afterwards (:func:`~napari_unet.widgets._train_helpers.check_output`).
    The dock's own earlier result is written again (a later run, Resume).
    A built-in model's file is refused (:func:`~napari_unet.core.models.pretrained.refuse_builtin`).
    ``done``: the run's event, set when it ends (its claim lapses then).
    """
    from napari_unet.core.errors import InputError
    from napari_unet.core.models.pretrained import refuse_builtin
    from napari_unet.core.training.checkpoint import best_path, optimizer_path

    if output is not None:  # before: "exists, not trained here", or written after a Resume
        refuse_builtin(output)

    def taken(path: Path) -> str:
        from napari_unet.core.training.output_claim import held_by

        who = holder(path, done) or held_by(path)  # a dock's run, or another program's
        if who is not None:
            return f"is being written by {who}"
        if not explicit and (why := _input_of(path, inputs)):
            return why
        runs = own.get(path.resolve(), set())
        files = [p for p in (path, best_path(path)) if p.exists()]
        if any(run_of(p) not in runs for p in files):
            return "exists (not trained here)"
        other = state_owner(path, runs)  # before: replaced, and that run not resumable
        return "" if other is None else (
            f"shares its optimiser state {optimizer_path(path).name} with {other.name}, "
            "whose run resumes from it")  # fmt: skip

    if output is not None and output.is_dir():  # said before "exists, not trained here"
        raise InputError(f"cannot write {output}: it is a folder; give a file name")
    why = "" if output is None else taken(output)
    if why and explicit:
        raise InputError(_refusal(output, why))
    note = ""
    if why:
        stem, k = output.name.removesuffix(".safetensors"), 2
        while taken(candidate := output.with_name(f"{stem}-{k}.safetensors")):
            k += 1
        output, note = candidate, f"{output.name} {why}: saving to {candidate.name}"
    claim(output, done)
    return output, note
