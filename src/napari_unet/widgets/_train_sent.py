"""What the Train dock exchanges with other docks.

Pairs another dock sends it (the Review dock's corrections), and the models its runs hand
to the docks that take one (Predict, Review).
"""

from __future__ import annotations

from pathlib import Path

#: Said when another dock sends pairs while the Train dock trains (refused).
BUSY = (
    "the Train dock is training: wait for its run to end (or Stop it), then send the images again"
)


class SentPairs:
    """Pairs another dock sent (:meth:`TrainWidget.use_pairs`), checked when a run starts.

    ``layers``: the ``(image, labels, None)`` layers of each name; ``check``: the sender's
    callable (the Review dock's
    :class:`~napari_unet.widgets._review_training.SentPairs`), or None. ``token`` goes back
    to the sender with the model of each run on these pairs (``set_model(run=token)``).
    """

    def __init__(self, names, layers, check, source: str, sender=None) -> None:
        self.layers = dict(zip(names, layers, strict=True))
        self.check, self.source, self.sender = check, source, sender
        self.token = object()

    def linked(self, added: list) -> bool:
        """Whether the form's pairs are these still (not cleared, nor others added)."""
        mine = list(self.layers.values())
        return len(added) == len(mine) and all(
            a[0] is b[0] and a[1] is b[1] for a, b in zip(added, mine, strict=True)
        )

    def refresh(self, viewer, form) -> str:
        """Ask the sender what changed since; returns the note (raises InputError if none left).

        An image rejected since is left out; labels saved since are put in their layer.
        """
        from napari_unet.core.errors import InputError
        from napari_unet.widgets._review_layers import pair_layers

        answer = self.check() if self.check is not None else None
        if answer is None:  # the sender closed (or opened another folder): as sent
            return ""
        kept, fresh, notes = answer
        for (name, _, _), layers in zip(fresh, pair_layers(viewer, fresh), strict=True):
            self.layers[name] = layers
        self.layers = {name: self.layers[name] for name in kept}
        note = "; ".join(notes)
        if not self.layers:
            raise InputError(f"nothing left to train from {self.source}: {note}")
        if note:
            n = len(self.layers)
            form.set_pairs(list(self.layers.values()), f"{n} images from {self.source}; {note}")
        return note


def check_sent(sent: SentPairs | None, form, viewer, resume, last) -> tuple:
    """``(sent pairs the run trains on or None, note)``, asking their sender first.

    None when the form trains on other pairs now; for a Resume, also when the run resumed
    (``last``: the sent pairs it trained on) was not on these pairs.
    """
    if sent is None or not sent.linked(form.added()):
        return None, ""
    note = sent.refresh(viewer, form)
    return (None if resume and last is not sent else sent), note


def take_pairs(dock, pairs, init, source: str, save_to, check) -> SentPairs:
    """The Train dock's :meth:`use_pairs` (refused with InputError while it trains)."""
    from napari_unet.core.errors import InputError
    from napari_unet.widgets._review_layers import pair_layers, repaint_between

    if not dock._done.is_set():
        raise InputError(BUSY)
    layers = pair_layers(dock._viewer, pairs, repaint_between(dock._status))
    dock._form.set_pairs(layers, f"{len(layers)} corrected images from {source}")
    dock._form.start_from_model(init)
    if save_to is not None:  # a suggestion: an existing file there moves to the next name
        dock._save_path.value = dock._suggested = Path(save_to)
    n = len(layers)
    dock._status.value = f"Ready to fine-tune on {n} images from {source}: press Train."
    sender = getattr(check, "dock", None)  # the Review dock (a weak reference), if known
    return SentPairs([name for name, _, _ in pairs], layers, check, source, sender)


def handed(result, output: Path | None = None) -> tuple[str, Path | None, str]:
    """The name and file of the weights the other docks get (the best), and what to say.

    ``(name, file or None, what)``: ``what`` says which weights and file, for the status
    line ("" when the best is the last). The run's file (``saved_to``) holds its last weights;
    best weights of an earlier step are in ``NAME.best`` beside it (or beside ``output``,
    after a fallback save) when that file records this best, else only in memory. Before,
    the Predict dock showed the last weights' file and name with the best weights, so the
    file gave another segmentation than the dock (and Export packaged the best weights
    under the last file's name).
    """
    from napari_unet.core.training.checkpoint import best_path, holds_best

    saved, best = result.saved_to, result.best_metrics or {}
    step = best.get("step")
    if getattr(result, "best_state", None) is None or step in (None, result.steps_done):
        return (saved.name.removesuffix(".safetensors") if saved else "trained model"), saved, ""
    what = "the start model" if step == 0 else f"the best model, of step {step}"
    for beside in dict.fromkeys(p for p in (saved, output) if p is not None):
        if holds_best(beside, best):  # this run's best, not another's
            path = best_path(beside)
            return path.name.removesuffix(".safetensors"), path, f"{what}, as {path.name}"
    name = "start model" if step == 0 else f"trained model (best, step {step})"
    return name, None, what


def hand_over(dock, result, sent: SentPairs | None) -> None:
    """Give the (best) trained model to the docks that take one (Predict, Review).

    Named, and shown with its file, as :func:`handed` says: the file that holds these
    weights. The dock that sent the pairs the run trained on (``sent``) gets their token too.
    """
    model = result.best_model()
    name, saved, _ = handed(result, getattr(dock, "_output", None))
    sender = sent.sender() if sent is not None and sent.sender is not None else None
    for widget in list(dock._viewer.window.dock_widgets.values()):
        if widget is not dock and hasattr(widget, "set_model"):
            run = {"run": sent.token} if sender is not None and widget is sender else {}
            widget.set_model(model, result.best_metadata(), name, saved, **run)
