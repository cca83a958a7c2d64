"""What the Review dock's Open, Export and Train buttons do, and taking over a trained model.

- **Open folder** checks the new folder and model (:func:`prepare_open`) while the review
  open now keeps running: a refused choice leaves it as it was.
- **Export** runs :func:`napari_unet.core.review.export.iter_export` in a thread worker and
  shows its one-line report; labels whose write failed are tried again first, and if they
  still fail it refuses (:func:`unwritten`: it reads the labels files).
- **Train on corrected** (:mod:`napari_unet.widgets._review_training`) reads the corrected
  images and their labels in a thread worker; a model trained on them is switched to
  (:func:`switch_model`): the images not reviewed yet are predicted again with it.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from qtpy.QtCore import QObject, Signal

from napari_unet.core.errors import InputError, in_words
from napari_unet.widgets import _layers
from napari_unet.widgets._worker_errors import surfaced


class Bridge(QObject):
    """Carries the background threads' news to the GUI thread (queued signals)."""

    ready = Signal(str)
    failed = Signal(str, str)
    save_failed = Signal(str)
    conflict = Signal(str)  # labels kept aside: another session saved its own
    measured = Signal(int, str, object)


def load_model(req: dict):
    """``(model, metadata)`` of a form request: the model handed over, or read from its file.

    ``auto`` (the built-in model chosen for each image) gives every built-in model:
    ``({name: (model, metadata)}, None)``, loaded later by the review's prefetch thread
    (:data:`~napari_unet.widgets._review_auto.LATER`), not on the GUI thread. A model file
    (a built-in model's too) is checked here from its header alone (a file that is no model
    file is refused before the open review closes) and loaded by the prefetch thread
    (:class:`~napari_unet.core.review.predictor_setup.LoadLater`): before, building its
    network held the GUI thread for seconds. A bioimage.io package is read here.
    """
    if req["model"] is not None:
        return req["model"], req["metadata"]
    from napari_unet.core.models.pretrained import AUTO, resolve_model
    from napari_unet.widgets._exporting import is_package, load_model_file

    if req["model_path"] == AUTO:  # the built-in name (a file is a Path)
        from napari_unet.widgets._review_auto import LATER

        return LATER, None
    path = resolve_model(req["model_path"])
    if is_package(path):
        return load_model_file(path)
    from napari_unet.core.models.modelfile import read_metadata
    from napari_unet.core.review.predictor_setup import LoadLater

    read_metadata(path)  # no PyTorch: a foreign, truncated or corrupted file is refused now
    return LoadLater(functools.partial(load_model_file, path)), None


def prepare_open(dock):
    """``(request, review, model, metadata)`` of the folder chosen, the open review untouched.

    The open review's edits and review file are written first (reopening its folder reads
    them); it keeps running until the new folder and model are known to be good. Raises
    :class:`InputError` or :class:`OSError` for a bad choice. Another folder ends the link
    to a run on the pairs Train on corrected sent; the same output folder keeps it.
    """
    from napari_unet.core.review.session import Review

    req = dock._form.request()
    if dock.review is not None:
        dock.leave()
        dock.writer.save_review()
        dock.writer.flush()
    review = Review(req["images"], req["output"], req["labels_folder"])
    model, metadata = load_model(req)
    if not same_review(dock.review, review):  # the same output folder opened again keeps it
        dock.awaiting_model = None  # a run on the old folder's pairs is not switched to
    return req, review, model, metadata


def where(review) -> Path:
    """What a review is known by: its output folder, resolved (and so its review file)."""
    try:
        return review.output.resolve()
    except OSError:
        return review.output.absolute()


def same_review(old, new) -> bool:
    """Whether ``new`` reviews what ``old`` does (the same output folder; both open)."""
    return old is new or (old is not None and new is not None and where(old) == where(new))


def export(dock) -> None:
    """Write the accepted and corrected images' labels and measurements (in a worker)."""
    from napari.qt.threading import create_worker

    from napari_unet.core.review.export import iter_export

    if dock.review is None:
        return
    dock.save()
    dock.writer.retry()  # edits whose write failed (a locked file, a share gone): again first
    if (refused := unwritten(dock)) is not None:  # never the labels from before an edit
        _layers.report_error(dock._report, refused)
        return
    dock._export.enabled = False
    dock._report.value = "Exporting..."
    review = dock.review  # another folder opened meanwhile gets none of this export's news
    # _ignore_errors: failed() reports it; superqt would raise it again (a second message)
    worker = create_worker(surfaced(iter_export), review, _start_thread=False, _ignore_errors=True)

    def progress(ev) -> None:
        if dock.review is review:
            dock._report.value = f"Exporting {ev.done}/{ev.total}: {ev.name}"

    def done(result) -> None:
        if dock.review is not review:
            return
        dock._report.value = (
            f"Exported {result.images} images, {result.objects} objects to "
            f"{result.folder.name}/ (labels, measurements, summary.csv). {result.report}"
        )
        dock._summary.show_rows(list(result.summary))

    def failed(exc) -> None:
        if dock.review is review:
            _layers.report_error(dock._report, f"export failed: {in_words(exc)}")

    worker.yielded.connect(progress)
    worker.returned.connect(done)
    worker.errored.connect(failed)
    worker.finished.connect(lambda: setattr(dock._export, "enabled", dock.review is not None))
    worker.start()


def unwritten(dock) -> str | None:
    """Why Export must wait: reviewed labels not on disk yet (it reads the files); or None.

    Before, an export after a failed labels write reported success with the labels from
    before the correction (the file on disk) under the status "corrected".
    """
    writer = dock.writer
    if not writer.flush():
        return "export not started: the labels are still being written; Export again shortly"
    failed = writer.failed
    if not failed:
        return None
    reasons = "; ".join(dict.fromkeys(w for n in failed if (w := writer.why(n))))
    return (
        f"export not started: the edits of {', '.join(failed)} could not be written"
        + (f" ({reasons})" if reasons else "")
        + "; close the program holding the file, free space or reconnect the folder, then "
        "Export again (the last export is unchanged)"
    )


def switch_model(dock, model, metadata: dict | None, name: str, keys=None) -> int:
    """Predict the images not reviewed yet with another model; returns how many.

    ``model``: a model, or ``auto``'s models by kind (a dict, ``metadata`` None); ``keys``:
    only the predictions of these models are made again (None: all of them).
    """
    from napari_unet.widgets._review_auto import make_prefetcher

    dock.leave()  # the shown image's edits are saved: they are never predicted over
    dock.writer.flush()
    old, review, unsaved = dock.prefetcher, dock.review, dock.writer.unsaved
    # Labels saved but not on disk (a failed write) are reviewed: never predicted over.
    pending = {n: review.entries[n].predicted_with for n in review.names if unsaved(n) is not None}
    dropped = [n for n in review.forget_predictions(keys=keys) if n not in pending]
    for n, key in pending.items():
        review.entries[n].predicted_with = key
    dock.prefetcher = make_prefetcher(
        review, model, metadata, name, cache=old.cache_size, queue_all=old.queue_all,
        on_ready=dock._bridge.ready.emit, on_error=dock._bridge.failed.emit, unsaved=unsaved,
        on_warning=dock._bridge.save_failed.emit,
    )  # fmt: skip
    old.close()
    dock._model_name = name
    dock._shown = None if dock.current_name in dropped else dock._shown
    dock.writer.save_review()
    dock._report.value = f"Predicting {len(dropped)} unreviewed images again with {name}."
    dock.go(dock._index)
    return len(dropped)


def judge(dock, status: str, keep: bool) -> None:
    """The dock's verdict buttons: record ``status``, save the labels (``keep``), move on.

    No verdict on labels not shown yet (still predicting), except flagging or rejecting an
    image that cannot be read or predicted; none over labels or a verdict another session
    saved since the image was shown (:func:`~napari_unet.widgets._review_conflicts.may_judge`
    says why, and how to go on).
    """
    from napari_unet.widgets._review_conflicts import may_judge

    name = dock.current_name
    if name is None:
        return
    if dock._shown != name:  # still predicting: no verdict on unseen labels, except
        if not (dock.prefetcher.error(name) and status != "accepted"):
            return  # rejecting (or flagging) an image that cannot be read or predicted
        keep = False
    if not may_judge(dock, name, status):
        return
    edited = dock._edited()  # compared once (and with the origin if edits were saved)
    changed = dock._shown == name and dock._edits.changed(edited)
    if status == "accepted" and changed:
        status = "corrected"
    dock.review.set_status(name, status)
    dock.save(force=keep, edited=edited, changed=changed)
    if dock._index + 1 < len(dock.review.names):
        dock.next_image()
    else:
        dock.writer.save_review()
        dock._show_status()
    dock._report.value = dock.review.report()


def save_shown(
    dock, force: bool, edited: bool | None, changed: bool | None = None, labels=None
) -> None:
    """The dock's Save: the shown labels to the writer if edited (or ``force``).

    The layer's labels are copied (the writer, the prefetcher's cache, the measurement and
    the next comparison share that one copy); labels not edited since they were loaded or
    saved are not copied again: the last saved (read-only) array is written.

    ``changed`` (leaving the image, a verdict): whether the labels differ from those the
    image came with; the review notes it (an undone edit is no correction). Otherwise the
    first save of an edit notes an edit. ``labels``: a copy of the layer's labels made
    already (:mod:`~napari_unet.widgets._review_snapshot`, in a thread), saved as they are.

    Labels another session saved since the image was shown are not written over: these go
    to ``OUTPUT/conflicts/`` (the review says where), the review is not told of an edit,
    and the image is read from disk when next shown.
    """
    from napari_unet.core.review.prefetch import Item
    from napari_unet.widgets._review_conflicts import forget, labels_changed

    name = dock._shown
    if name is None or dock.review is None:
        return
    edited = dock._edited() if edited is None else edited
    saved_before = dock._edits.saved_since_shown()
    if conflict := labels_changed(dock, name):  # another session's labels on disk
        forget(dock, name)
    elif changed is not None and (edited or saved_before):
        dock.review.mark_edited(name, changed)
    elif edited and not saved_before:
        dock.review.mark_edited(name)
        changed = True  # the first save of an edit: the labels differ from the origin
    if not (edited or force):
        return
    data, base = dock._labels_layer.data, dock._edits.baseline
    if labels is None and not edited and base is not None and base.dtype == data.dtype:
        labels = base
    elif labels is None:
        labels = np.array(data, copy=True)
    dock._dirty = False
    known = changed if edited or changed is not None else dock._edits.baseline_changed
    dock._edits.reset(dock._labels_layer, labels, changed=known)
    dock.writer.save_labels(name, labels)
    if conflict:  # kept aside: the next showing reads the other session's labels
        dock.writer.flush()
        return
    image = dock._edits.image  # as read: the layer's may have its channels moved first
    # With its file's stamp: a file rewritten since is read again and said to have changed.
    dock.prefetcher.put(Item(name, image, labels, "reviewed", stamp=dock._edits.stamp))
    measure_shown(dock, name, labels, image)


def measure_shown(dock, name: str, labels: np.ndarray, image: np.ndarray) -> None:
    """Measure the shown image's objects off the GUI thread; the dock's table gets them.

    A plain thread (not a Qt worker: it may end after the viewer closed) measures; the
    result crosses to the GUI thread through the dock's Bridge, which drops it when the
    reviewer moved on (or edited again) meanwhile. Labels that cannot be measured (an
    image whose shape does not fit them) say why in the dock's status line.
    """
    from napari_unet.core.images.omezarr import recorded_pixel_size
    from napari_unet.core.review.measure import measure_objects

    dock._measure_job += 1
    job, path = dock._measure_job, dock.review.path(name)

    def measure() -> None:
        if job != dock._measure_job:  # the reviewer moved on or saved again meanwhile
            return
        table = None
        try:
            table = measure_objects(labels, image, pixel_size=recorded_pixel_size(path))
        except InputError as exc:  # said in the status line: before, an empty table, no word
            dock._bridge.failed.emit(name, f"objects not measured: {exc}")
        except (OSError, ValueError, MemoryError):
            pass
        dock._bridge.measured.emit(job, name, table)

    dock._measure_pool.submit(measure)


def rescue_unsaved(writer, output: Path) -> None:
    """Labels (and a review file) not written at close go to the temporary folder; say where.

    The folder is the output folder's own (:func:`~napari_unet.core.review.writer.rescue_folder`).
    """
    from napari.utils.notifications import show_error

    from napari_unet.core.review.writer import rescue_folder

    failed = writer.failed
    what = [f"the edits of {', '.join(failed)}"] if failed else []
    if writer.review_failed:
        what.append("the review file (statuses, times)")
    try:
        paths = writer.rescue(rescue_folder(output))
        where = f"they were saved to {paths[0].parent}" if paths else "nothing could be kept"
    except (OSError, InputError) as exc:
        where = f"and not to the temporary folder either ({exc})"
    what = " and ".join(what) or "some files"
    show_error(f"{what[0].upper()}{what[1:]} could not be written to {output}; {where}.")
