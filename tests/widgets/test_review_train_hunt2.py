"""Train on corrected: a save made while the files are read, the same folder opened again,
and a stroke saved by the autosave then undone before sending.
"""

from __future__ import annotations

import threading

import pytest
from review_data import REVIEW_NAMES, send_corrected
from test_review_train_handover import _correct, _docks, _run, _shown

pytest.importorskip("napari")


def _pair_names(train) -> list[str]:
    return [image.name for image, _, _ in train._form.pairs()]


def test_a_save_made_while_the_files_are_read_is_trained_on(
    make_napari_viewer, qtbot, review_crops, monkeypatch
):
    # the stamps were taken when the worker's result arrived: a correction saved while the
    # files were read counted as sent, and the stale labels were trained on without a note
    from napari_unet.core.images import io

    _, review, train = _docks(make_napari_viewer, qtbot, review_crops)
    _correct(review, qtbot, 0)
    review.go(0)
    _shown(review, qtbot, 0)
    name = review.review.names[0]
    target = review.review.labels_path(name)
    reading, release, read = threading.Event(), threading.Event(), io.read_image

    def slow_read(path, *args, **kwargs):
        data = read(path, *args, **kwargs)
        if str(path) == str(target) and not reading.is_set():  # the worker's read, held once
            reading.set()  # read: the worker's result is not sent yet
            release.wait(60)
        return data

    monkeypatch.setattr(io, "read_image", slow_read)
    worker = review.train_on_corrected()
    assert worker is not None
    qtbot.waitUntil(reading.is_set, timeout=30_000)  # the worker is reading image 0's labels
    review._labels_layer.paint((60, 60), 999)  # a further correction, saved on PageDown
    review.next_image()
    review.writer.flush()
    assert read(target, labels=True)[60, 60] == 999
    release.set()
    qtbot.waitUntil(lambda: review._train.enabled, timeout=60_000)
    assert train._form.pairs()[0][1].data[60, 60] == 0  # sent as read
    _run(train, qtbot, train._start)
    assert train._form.pairs()[0][1].data[60, 60] == 999  # read again when the run started
    assert "labels of 1 image changed since sent: read again" in train._status.value


def test_a_rejection_after_opening_the_same_folder_again_is_left_out(
    make_napari_viewer, qtbot, review_crops
):
    # the re-check compared review objects: after Open folder on the same folder it was
    # skipped (the rejected image trained on) and the review did not take the new model
    from napari_unet.core.review.prefetch import model_key

    _, review, train = _docks(make_napari_viewer, qtbot, review_crops)
    for index in range(3):
        _correct(review, qtbot, index)
    send_corrected(review, qtbot)
    assert len(train._form.pairs()) == 3
    review._form.queue_all.value = True  # e.g. to predict the whole folder ahead
    assert review.open()  # the same folder and output
    _shown(review, qtbot, review._index)
    review.go(0)
    _shown(review, qtbot, 0)
    review.reject()  # changed my mind
    result = _run(train, qtbot, train._start)
    assert _pair_names(train) == [f"{n} (reviewed)" for n in REVIEW_NAMES[1:3]]
    assert "1 image rejected or flagged since sent: left out" in train._status.value
    new = model_key(result.best_model())
    assert model_key(review.prefetcher.models["nuclei"].model) == new
    assert review._model_name.startswith("auto with ")  # switched to the model trained on the pairs


def test_a_stroke_autosaved_then_undone_is_not_sent_as_corrected(
    make_napari_viewer, qtbot, review_crops
):
    # Train on corrected saved the shown image without comparing it to the labels it came
    # with: an accepted image whose autosaved stroke was undone was sent as "corrected"
    _, review, train = _docks(make_napari_viewer, qtbot, review_crops)
    _correct(review, qtbot, 0)
    review.accept()  # image 1 accepted without edits
    _shown(review, qtbot, 2)
    review.go(1)
    _shown(review, qtbot, 1)
    name = review.review.names[1]
    assert review.review.entries[name].status == "accepted"
    review._labels_layer.paint((30, 30), 777)
    review.autosave()  # the 3-second timer writes the stroke
    review.writer.flush()
    assert review.review.entries[name].status == "corrected"
    review._labels_layer.undo()  # Ctrl+Z: the labels as accepted again
    send_corrected(review, qtbot)
    assert "Sent 1 corrected images" in review._report.value
    assert _pair_names(train) == [f"{REVIEW_NAMES[0]} (reviewed)"]
    assert review.review.entries[name].status == "accepted"
