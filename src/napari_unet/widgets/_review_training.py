"""The Review dock's "Train on corrected": the pairs sent, checked again, and the model back.

- :func:`train_on_corrected` sends the corrected images to the Train dock
  (``use_pairs``), which refuses while it trains, with a :class:`SentPairs` the Train dock
  calls when a run on them starts (Train and Resume): an image rejected (or flagged) since
  is left out, labels saved since are read again. The Train dock hands back a token; the
  review keeps it (``dock.awaiting_model``).
- :func:`use_trained`: every trained model is offered; only one trained on the pairs sent
  (its run carries the token: Train, Resume, Save of such a run) is switched to, and the
  images not reviewed yet are predicted again with it.
"""

from __future__ import annotations

import weakref
from pathlib import Path

import numpy as np

from napari_unet.core.errors import InputError, in_words
from napari_unet.widgets import _layers
from napari_unet.widgets._review_actions import same_review, where

#: The plugin's manifest name and the Train dock's display name (napari.yaml).
PLUGIN, TRAIN_DOCK = "napari-unet", "Train"
#: The verdicts an image sent keeps its place in the training with.
KEPT = ("accepted", "corrected")
#: Why an image whose file changed since it was judged is left out (as Export leaves it).
CHANGED = "the image changed since it was reviewed: check its labels again"


def _stamp(path: Path) -> tuple | None:
    """A label file's (modification time in ns, size); None for a Zarr folder (read again)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return None if path.is_dir() else (st.st_mtime_ns, st.st_size)


def _plural(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


class SentPairs:
    """The images sent to the Train dock, as the review saw them then (their label files).

    Called (GUI thread) when a run on them starts: returns ``(kept, fresh, notes)``: the
    names still accepted or corrected, ``(name, image, labels)`` of those whose labels
    changed since they were sent (read again), and what changed, said in the Train dock's
    status; None when the review was closed or another folder opened since (the pairs are
    trained on as sent). The review is known by its output folder (its review file): the
    same folder opened again is checked as the review open now.

    ``stamps``: each name's ``(labels, image)`` file stamps, taken in the worker before
    it read them: a save made while the files were read is read again when the run starts.
    """

    def __init__(self, dock, review, stamps: dict[str, tuple]) -> None:
        self.dock, self.output = weakref.ref(dock), where(review)  # the Train dock: the token
        self.stamps = {name: labels for name, (labels, _) in stamps.items()}
        self.images = {name: image for name, (_, image) in stamps.items()}  # hashed if changed

    def __call__(self):
        from napari_unet.core.images.io import read_image

        dock = self.dock()
        review = None if dock is None else dock.review
        if review is None or where(review) != self.output:
            return None
        save_current(dock)  # the shown image's edits are on disk first
        dock.writer.flush()
        kept, fresh, gone, bad = [], [], [], []
        for name, stamp in list(self.stamps.items()):
            entry = review.entries.get(name)
            status = "no longer in the folder" if entry is None else entry.status
            if status not in KEPT:
                gone.append(f"{name} ({status})")
                continue
            if self._image_changed(review, name):
                bad.append(f"{name} ({CHANGED})")
                continue
            path, unsaved = review.labels_path(name), dock.writer.unsaved(name)
            now = _stamp(path)
            if unsaved is None and now is not None and now == stamp:
                kept.append(name)
                continue
            try:
                labels = unsaved if unsaved is not None else read_image(path, labels=True)
                image = np.asarray(read_image(review.path(name)))
            except (InputError, OSError, ValueError) as exc:
                bad.append(f"{name} (cannot be read: {exc})")
                continue
            kept.append(name)
            fresh.append((name, image, np.asarray(labels)))
            self.stamps[name] = now
        return kept, fresh, _notes(gone, bad, fresh)

    def _image_changed(self, review, name: str) -> bool:
        """Whether the image file changed since it was judged (unreadable: not said here).

        Hashed only when its stamp moved since it was read (or it is a Zarr store).
        """
        if not review.entries[name].extra.get("changed"):
            stamp = _stamp(review.path(name))
            if stamp is not None and stamp == self.images[name]:
                return False
        try:
            return review.changed_since_review(name)
        except OSError:  # gone: the pair is trained on as sent
            return False


def save_current(dock) -> None:
    """The shown image's edits saved as leaving it saves them (its time is not counted).

    Compared with the labels the image came with: a stroke the autosave wrote, then
    undone, is no correction (a corrected image is accepted again); before, it was sent.
    """
    if dock.review is None or dock._shown is None:
        return
    edited = dock._edited()
    dock.save(edited=edited, changed=dock._edits.changed(edited))


def _notes(gone: list[str], bad: list[str], fresh: list) -> list[str]:
    notes = []
    if gone:
        n = _plural(len(gone), "image")
        notes.append(f"{n} rejected or flagged since sent: left out ({', '.join(gone)})")
    if bad:
        notes.append(f"left out: {'; '.join(bad)}")
    if fresh:
        n = _plural(len(fresh), "image")
        names = ", ".join(name for name, _, _ in fresh)
        notes.append(f"labels of {n} changed since sent: read again ({names})")
    return notes


def _start_model(dock, kinds: list[str] | None) -> tuple[Path | str, str, str]:
    """The model to fine-tune: ``(file or built-in name, file stem, as the report names it)``.

    The model the folder was opened with (or the one Train on corrected switched to), not
    the form's choice now: picking another model in the form changes nothing until Open.
    ``auto`` (``kinds``: each image's kind): the model of the kind most of the images are
    (:func:`~napari_unet.widgets._auto_builtin.majority`, as the Train dock chooses);
    ``auto`` itself while that is the built-in model (the Train dock chooses the same), or
    one trained here before.
    """
    from napari_unet.core.models.pretrained import AUTO

    models = getattr(dock.prefetcher, "models", None)  # auto now (not switched meanwhile)
    if kinds is not None and models is not None:
        from napari_unet.widgets._auto_builtin import majority

        kind = majority(kinds)  # as the Train dock chooses ``auto`` for these images
        member = models[kind]
        source = AUTO if member.source == kind else member.source
        if source is None:
            source = _keep(dock, member.model, member.metadata, member.name)
        return source, member.name, f"{member.name}, chosen by the images"
    req = dock._request
    source = req["model_path"]
    if source is None:
        source = _keep(dock, req["model"], req["metadata"], req["name"])
    name = Path(str(source)).name
    return source, name.split(".")[0], name


def _keep(dock, model, metadata: dict, name: str) -> Path:
    """A model the Train dock handed over without saving it, kept in the output folder."""
    from napari_unet.widgets._saving import save_trained_model

    folder = dock.review.output / "models"
    folder.mkdir(exist_ok=True)
    return save_trained_model(model, metadata, folder / f"{name}.unet.safetensors")


def _train_dock(viewer):
    for widget in list(viewer.window.dock_widgets.values()):
        if hasattr(widget, "use_pairs"):
            return widget
    _, widget = viewer.window.add_plugin_dock_widget(PLUGIN, TRAIN_DOCK)
    return widget


def _busy(viewer) -> str | None:
    """Why the Train dock cannot take pairs now (it is training), or None."""
    for widget in list(viewer.window.dock_widgets.values()):
        if hasattr(widget, "use_pairs") and getattr(widget, "running", False):
            from napari_unet.widgets._train_sent import BUSY

            return BUSY
    return None


def train_on_corrected(dock):
    """Send the corrected images to the Train dock (fine-tuning the review's model).

    Refused while the Train dock trains: its run is not on these images, and the review
    would otherwise have taken that run's model. The files are read and each image's kind
    chosen in a thread worker (returned; None when nothing is read): on the GUI thread that
    held napari 1.8 s for 18 images of 1024 x 1024 under ``auto``.
    """
    from napari.qt.threading import create_worker

    from napari_unet.widgets._review_auto import AutoPrefetcher

    if dock.review is None:
        return None
    if (busy := _busy(dock._viewer)) is not None:  # said before the files are read
        _layers.report_error(dock._report, busy)
        return None
    save_current(dock)  # an undone edit is no correction: not sent
    dock.writer.flush()
    review = dock.review
    names = [n for n in review.names if review.entries[n].status == "corrected"]
    names = [n for n in names if review.labels_path(n).exists()]
    if not names:
        dock._report.value = _NONE
        return None
    auto = isinstance(dock.prefetcher, AutoPrefetcher)
    dock._train.enabled = False
    dock._report.value = f"Reading {_plural(len(names), 'corrected image')}..."
    # _ignore_errors: the report line says it; superqt would raise it again (a second message)
    worker = create_worker(
        read_pairs, review, names, auto, _start_thread=False, _ignore_errors=True
    )
    worker.returned.connect(lambda result: _send(dock, review, *result))
    worker.errored.connect(
        lambda exc: _layers.report_error(dock._report, f"not sent: {in_words(exc)}")
    )
    worker.finished.connect(lambda: setattr(dock._train, "enabled", dock.review is not None))
    worker.start()
    return worker


_NONE = (
    "No corrected images yet: edit an image's labels and Accept it (it becomes 'corrected'), "
    "then train."
)


def read_pairs(review, names: list[str], auto: bool):
    """``(pairs, skipped, kinds, stamps)`` of the corrected images ``names`` (in a worker).

    ``pairs``: ``(name, image, labels)``; an image whose image or labels file cannot be
    read (moved, deleted), or whose file changed since it was judged (its labels were drawn
    on the old pixels; Export leaves it out too), is left out, and ``skipped`` gets
    ``"FILE (why)"``. ``kinds``: the kind ``auto`` gives each pair's image (None unless
    ``auto``). ``stamps``: each pair's ``(labels, image)`` file stamps, taken before the
    files were read (a save made meanwhile is read again when the run starts).
    """
    from napari_unet.core.images.io import read_image
    from napari_unet.widgets._auto_builtin import choose_for_array

    pairs, skipped, stamps = [], [], {}
    for name in names:
        stamp = (_stamp(review.labels_path(name)), _stamp(review.path(name)))
        try:
            if review.changed_since_review(name):
                skipped.append(f"{review.path(name)} ({CHANGED})")
                continue
            image = np.asarray(read_image(review.path(name)))
            labels = np.asarray(read_image(review.labels_path(name), labels=True))
        except (InputError, OSError, ValueError) as exc:
            skipped.append(f"{review.path(name)} (cannot be read: {exc})")
            continue
        pairs.append((name, image, labels))
        stamps[name] = stamp
    kinds = [choose_for_array(image) for _, image, _ in pairs] if auto else None
    return pairs, skipped, kinds, stamps


def _send(dock, review, pairs: list, skipped: list[str], kinds, stamps: dict) -> None:
    """The pairs read, to the Train dock (GUI thread); nothing if another folder was opened.

    The same folder opened again meanwhile gets them (its review file holds the verdicts).
    """
    if not same_review(review, dock.review):
        return
    review = dock.review
    note = f" Left out: {'; '.join(skipped)}." if skipped else ""
    if not pairs:
        dock._report.value = _NONE + note
        return
    if (busy := _busy(dock._viewer)) is not None:  # a run started while the files were read
        _layers.report_error(dock._report, busy)
        return
    try:
        init, stem, shown = _start_model(dock, kinds)
        save_to = review.output / "models" / f"{stem}-reviewed.unet.safetensors"
        save_to.parent.mkdir(exist_ok=True)
        train = _train_dock(dock._viewer)
        sent = SentPairs(dock, review, {name: stamps[name] for name, _, _ in pairs})
        token = train.use_pairs(pairs, init, source="the Review dock", save_to=save_to, check=sent)
    except (InputError, OSError) as exc:
        _layers.report_error(dock._report, str(exc))
        return
    dock.awaiting_model = token  # the models of runs on these pairs carry it
    dock.awaiting_kinds = None if kinds is None else set(kinds)
    dock._report.value = (
        f"Sent {len(pairs)} corrected images to the Train dock (fine-tuning {shown}); press "
        "Train there. When it finishes, the unreviewed images are predicted again with the "
        "new model." + note
    )


def use_trained(dock, model, metadata: dict, name: str, saved: Path | None, run=None) -> None:
    """Offer a trained model; one trained on the pairs sent from here (``run``) is used.

    ``run``: the token the Train dock gave for the pairs its run trained on (None: other
    layers). The unreviewed images are predicted again with it, unless the review predicts
    with these weights already (the same run saved again under another name). A review with
    ``auto`` keeps the built-in model for the kinds of images the run did not train on.
    """
    from napari_unet.core.review.prefetch import model_key
    from napari_unet.widgets._review_actions import switch_model

    choice = dock._form.add_trained(model, metadata, name, saved)
    token = getattr(dock, "awaiting_model", None)
    if run is None or token is None or run is not token or dock.review is None:
        return
    kinds = getattr(dock, "awaiting_kinds", None)
    models = getattr(dock.prefetcher, "models", None)
    if kinds is not None and models is not None and not set(models) <= kinds:
        _stand_in(dock, model, metadata, name, saved, kinds)
        return
    dock._form.model.value = choice
    dock._request = {**dock._request, "model": model, "metadata": dict(metadata),
                     "model_path": saved, "name": name}  # fmt: skip
    if dock.prefetcher.key.split("-")[0] == model_key(model):
        dock._model_name = name
        return
    switch_model(dock, model, metadata, name)
    if kinds is not None and models == {}:  # ``auto`` without its built-in models: no stand-in
        dock._report.value += (
            f" The built-in models could not be loaded, so {name} predicts every image."
        )


def _stand_in(dock, model, metadata: dict, name: str, saved: Path | None, kinds) -> None:
    """``auto`` with the trained model for the images of ``kinds``, the others as they were.

    Offered in the form as one choice ("auto with NAME"): Open with it reviews the same way.
    """
    from napari_unet.core.inference.scale import AUTO
    from napari_unet.core.review.prefetch import model_key
    from napari_unet.widgets._review_actions import switch_model
    from napari_unet.widgets._review_auto import Member, shown_name, stand_in

    old = dock.prefetcher
    models = stand_in(old.models, kinds, Member(model, dict(metadata), name, saved))
    shown = shown_name(models)
    dock._form.model.value = dock._form.add_trained(models, None, shown, None)
    dock._request = {**dock._request, "model": models, "metadata": None,
                     "model_path": None, "name": shown}  # fmt: skip
    if old.keys_of(kinds) == {f"{model_key(model)}-{AUTO}"}:
        old.models = models  # the same run saved again: its file is fine-tuned from next
        return
    n = switch_model(dock, models, None, shown, keys=old.keys_of(kinds))
    kept = sorted({m.name for k, m in models.items() if k not in kinds})
    dock._report.value = (
        f"Predicting {_plural(n, 'unreviewed image')} of the kind {name} was trained on "
        f"again with it; the other images keep {', '.join(kept)} (auto chooses by image)."
    )
