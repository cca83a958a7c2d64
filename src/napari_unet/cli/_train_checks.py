"""``napari-unet train``'s checks before any work: its files, and what a resumed run keeps.

The output, its best model, its optimiser state and the log may never be an input, nor
replace another run's files; a resumed run continues with its own total steps and its own
validation unless they are given again.
"""

from __future__ import annotations

import contextlib
import json
import sys
import zipfile
from pathlib import Path

from napari_unet.cli._train_inputs import expand, start_model
from napari_unet.core.errors import InputError


def check_paths(args, held: contextlib.ExitStack | None = None) -> None:
    """Refuse, before any work, outputs that would replace an input or cannot be written.

    ``held``: where the claim on the output is kept (for the whole run), taken before the
    output is looked at: a run that writes it now refuses this one (named), and one that
    ended meanwhile left a file that is refused without ``--overwrite`` as any other.
    """
    from napari_unet.core.files import check_outputs
    from napari_unet.core.models.pretrained import refuse_builtin
    from napari_unet.core.training.checkpoint import (
        best_path,
        check_model_name,
        optimizer_path,
        side_file,
    )

    if args.init and args.resume:
        raise InputError("give either --init (fine-tune) or --resume (continue a run), not both")
    if bool(args.val_images) != bool(args.val_labels):
        raise InputError("--val and --val-labels go together: give validation images and labels")
    if args.val_images and args.val_fraction:  # before: ignored, but recorded (and resumed)
        raise InputError(
            f"--val-fraction {args.val_fraction:g} holds out part of a training image when no "
            "validation images are given; with --val and --val-labels it has no use: leave "
            "out --val-fraction, or --val and --val-labels to hold out a part"
        )
    if args.init is not None:
        args.init = start_model(args)
    for p, flag in ((args.init, "--init"), (args.resume, "--resume")):
        if p is not None and not p.exists():
            raise InputError(f"{p}: model file not found" + _builtin_hint(p, flag))
        if p is not None:
            not_a_package(p, flag)
    # NAME.jsonl, NAME as the optimiser state's (-o v1.0: v1.0.jsonl); -o .: a folder, said
    args.log = args.log or side_file(args.output, ".jsonl")
    inputs = [args.init]  # --resume M -o M continues a run in place: allowed
    for group, what in ((args.images, "--images"), (args.labels, "--labels"),
                        (args.regions, "--regions"), (args.val_images, "--val"),
                        (args.val_labels, "--val-labels")):  # fmt: skip
        inputs += expand(group, what) if group else []
    out = args.output
    refuse_builtin(out)  # before: allowed with --overwrite (every "nuclei" loaded it after)
    check_outputs([out, best_path(out), optimizer_path(out), args.log], inputs)
    check_model_name(out)  # -o model.tif: read as an image after (an input: said above)
    if held is not None:  # before: two runs into one -o both said they saved it
        from napari_unet.core.training.output_claim import claimed

        held.enter_context(claimed(out))
    in_place = args.resume is not None and args.resume.resolve() == out.resolve()
    kept = [p for p in (out, best_path(out)) if p.exists()]
    if kept and not (args.overwrite or in_place):  # a trained model was replaced silently
        # Only NAME.best left (a run killed before it saved): nothing to resume, said before
        then = f"--resume {out.name} -o {out.name} to continue that run" if out.exists() else (
            f"--init {kept[0].name} to train on from its weights")  # fmt: skip
        raise InputError(f"{kept[0]} exists; pass --overwrite to replace it (or {then})")
    _own_optimizer_state(args)
    _check_log(args)


def not_a_package(path: Path, flag: str) -> None:
    """A bioimage.io package given as a model file: say how to make one of it (train, slide)."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return  # not a zip: reading the model file says what it is
    if any(n.rpartition("/")[2].endswith(("rdf.yaml", "bioimageio.yaml")) for n in names):
        raise InputError(
            f"{flag} {path}: this is a bioimage.io model package, not a napari-unet model "
            f"file; turn it into one first with: napari-unet import {path} -o "
            f"{path.stem}.safetensors (packages that napari-unet exported)"
        )


def _own_optimizer_state(args) -> None:
    """Refuse a new output whose optimiser-state file holds another model file's run.

    ``-o nuclei`` and ``-o nuclei.safetensors`` both keep their state in
    ``nuclei.optim.safetensors``: the second run replaced the first one's, which could then
    no longer be resumed. (``-o nuclei.v1`` and ``-o nuclei.v2`` shared it too, before
    names kept their ending.) A state whose model file is gone (deleted to start over, or
    never written) resumes nothing and is replaced as usual.
    """
    from napari_unet.core.training.checkpoint import optimizer_path
    from napari_unet.core.training.state_owner import state_owner

    out, state = args.output, optimizer_path(args.output)
    if out.exists() or args.overwrite or (other := state_owner(out)) is None:
        return
    name = state.name[: -len(".optim.safetensors")]
    raise InputError(
        f"{state} holds the optimiser state of {other.name}'s run, which resumes it "
        f"(a model file NAME and NAME.safetensors share it); give another output "
        f"name, such as {out.with_name(name + '_2.safetensors')}, or pass --overwrite "
        "to replace it"
    )


def _check_log(args) -> None:
    """Refuse a ``--log`` that is a model file, or an existing file that is no JSON-lines log.

    Events are appended to the log: before, ``--log`` naming a model file appended text to
    it and the model could no longer be read.
    """
    from napari_unet.core.training.checkpoint import best_path, optimizer_path

    log, out = args.log, args.output
    models = [out, best_path(out), optimizer_path(out), args.resume, args.init]
    if args.resume is not None and args.resume.is_file():  # a folder: reading it says so
        models += [best_path(args.resume), optimizer_path(args.resume)]
    if log.resolve() in {p.resolve() for p in models if p is not None}:
        raise InputError(f"--log {log} is a model file of this run; choose a .jsonl file")
    if log.is_file() and not _is_log(log):
        raise InputError(
            f"--log {log} exists and is not a JSON-lines log (its first line is not a JSON "
            "object), and events are appended to the log; choose a new .jsonl file"
        )


def _is_log(path: Path) -> bool:
    """Whether the first non-empty line of ``path`` is a JSON object (an empty file is)."""
    with open(path, "rb") as f:
        for raw in iter(lambda: f.readline(1 << 20), b""):
            if raw.strip():
                try:
                    return isinstance(json.loads(raw.decode("utf-8")), dict)
                except (UnicodeDecodeError, ValueError):
                    return False
    return True


def resumed_steps(args, resumed) -> int:
    """``--steps``, else the resumed run's own total (before: the default 500), else 500."""
    from napari_unet.core.training.config import TrainConfig

    if args.steps is not None:
        return args.steps
    if resumed is None:
        return TrainConfig.steps
    total = resumed.config.steps
    if total <= resumed.steps_done:
        raise InputError(
            f"--resume {args.resume.name}: the run already trained its {total} steps; give a "
            f"larger --steps (the total count, e.g. --steps {2 * total}) to train it further"
        )
    return total


def val_fraction(args, resumed) -> float:
    """``--val-fraction``; else 0 with ``--val``, the resumed run's own, or the hold-out.

    Before, a resumed run without ``--val`` switched to the default hold-out: its scores
    were on other data, and its first part's best was replaced by a worse model.
    """
    from napari_unet.core.training.config import HOLDOUT_FRACTION

    if args.val_fraction is not None:
        return args.val_fraction
    if args.val_images:
        return 0.0
    if resumed is None:
        return HOLDOUT_FRACTION
    fraction = resumed.config.val_fraction
    provenance = resumed.metadata.get("provenance") or {}
    validated_on = provenance.get("validation") or []
    if fraction and validated_on and not _held_out(validated_on, provenance.get("data") or []):
        fraction = 0.0  # recorded with --val (before, kept): it held nothing out
    if fraction == 0 and validated_on:
        shown = ", ".join(validated_on[:3]) + (" ..." if len(validated_on) > 3 else "")
        print(
            f"napari-unet train: warning: the run resumed was validated on separate images "
            f"({shown}); without --val and --val-labels the resumed part is not validated, "
            "and the best model so far stays. Give --val and --val-labels again to validate it",
            file=sys.stderr,
        )
    return fraction


def _held_out(validated_on: list[str], data: list[str]) -> bool:
    """Whether a run validated on strips held out of its training images, not separate ones.

    A held-out strip is named after its image: ``a.png (rows 200-256)``.
    """
    import re

    strips = [re.fullmatch(r"(.*) \(rows \d+-\d+\)", name) for name in validated_on]
    return all(m is not None and m.group(1) in data for m in strips)


def warn_validation_trained_on(pairs, val) -> None:
    """Warn when a validation image is also a training image (the same pixels).

    Its scores, and the best model chosen by them, are then on data the network trains on;
    before, such a run was accepted without a word.
    """
    import hashlib

    import numpy as np

    def key(pair) -> tuple:
        raw = np.ascontiguousarray(pair.raw)
        return raw.shape, str(raw.dtype), hashlib.blake2b(raw.tobytes(), digest_size=16).digest()

    trained = {key(p): p.name for p in pairs}
    for v in val:
        if key(v) in trained:
            print(
                f"napari-unet train: warning: the validation image {v.name} is also a training "
                f"image ({trained[key(v)]}, the same pixels): its scores, and the best model "
                "chosen by them, are on data the network trains on; give --val images it "
                "does not train on",
                file=sys.stderr,
            )


def _builtin_hint(path: Path, flag: str) -> str:
    """For ``--resume nuclei``: a built-in model has no training state; --init fine-tunes it."""
    from napari_unet.core.models.pretrained import AUTO, PRETRAINED

    name = str(path)
    if flag != "--resume" or name not in (*PRETRAINED, AUTO):
        return ""
    init = "nuclei" if name == AUTO else name
    return f"; a built-in model has no training state to resume: to fine-tune it, use --init {init}"
