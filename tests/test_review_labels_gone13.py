"""A reviewed image whose labels file is gone starts over; Export makes a vanished output again.

docs/review.md: a labels file removed "to start the image over" (or gone with the output
folder) is nobody's labels. Before, the entry kept the reviewed labels' source, count and
verdict: the dock said "corrected; 3 objects from reviewed" over a 2-object prediction, and
Accept without an edit recorded "corrected" (exported, sent to Train on corrected).
"""

from __future__ import annotations

import shutil

import numpy as np

from napari_unet.core.images.io import write_image
from napari_unet.core.review.export import export_review
from napari_unet.core.review.session import Review


def _prediction() -> np.ndarray:
    labels = np.zeros((32, 32), np.uint16)
    labels[2:8, 2:8], labels[12:18, 12:18] = 1, 2  # two objects
    return labels


def _reviewed(images, out, status="corrected") -> tuple[Review, str]:
    """A review whose first image was predicted, edited (a third object) and judged."""
    images.mkdir(exist_ok=True)
    for k in range(2):
        write_image(images / f"im{k}.tif", np.full((32, 32), 40 * k + 10, np.uint8))
    review = Review(images, out)
    name = review.names[0]
    review.stored_labels(name, "key")  # nothing yet: predicted
    review.save_prediction(name, _prediction(), "key", "nuclei")
    edited = _prediction()
    edited[24:30, 24:30] = 3
    review.save_labels(name, edited)
    review.mark_edited(name)
    review.set_status(name, status)
    review.save()
    return review, name


def test_removed_labels_file_shows_the_prediction_and_is_not_corrected(tmp_path):
    review, name = _reviewed(tmp_path / "images", tmp_path / "out")
    assert review.entries[name].objects == 3
    review.labels_path(name).unlink()  # "the file removed to start the image over"
    again = Review(tmp_path / "images", tmp_path / "out")
    labels, source = again.stored_labels(name, "key")
    assert np.array_equal(labels, _prediction())
    entry = again.entries[name]
    assert source.startswith("prediction") and entry.source == source  # not "reviewed"
    assert entry.objects == 2  # the prediction's count (before: the reviewed labels' 3)
    assert entry.status == "unreviewed"  # before: "corrected", and Accept kept it so
    assert "edited" not in entry.extra
    assert "gone" in entry.extra["changed"] and "corrected" in entry.extra["changed"]
    again.set_status(name, "accepted")  # judged again: the note goes
    assert "changed" not in again.entries[name].extra
    assert again.first_unreviewed() == 1


def test_gone_output_folders_count_the_new_prediction(tmp_path):
    review, name = _reviewed(tmp_path / "images", tmp_path / "out", status="accepted")
    shutil.rmtree(tmp_path / "out" / "labels")
    shutil.rmtree(tmp_path / "out" / "predictions")
    again = Review(tmp_path / "images", tmp_path / "out")
    assert again.stored_labels(name, "key") is None  # predicted again
    again.save_prediction(name, _prediction(), "key", "nuclei")
    entry = again.entries[name]
    assert (entry.objects, entry.source) == (2, "prediction (nuclei)")  # before: 3 objects
    assert entry.status == "unreviewed"


def test_a_rejected_image_keeps_its_verdict_without_its_labels(tmp_path):
    review, name = _reviewed(tmp_path / "images", tmp_path / "out", status="rejected")
    review.labels_path(name).unlink()
    labels, source = review.stored_labels(name, "key")  # the same session
    entry = review.entries[name]
    assert entry.status == "rejected" and entry.objects == 2 and "edited" not in entry.extra
    assert "changed" not in entry.extra


def test_export_makes_a_vanished_output_folder_again(tmp_path):
    review, name = _reviewed(tmp_path / "images", tmp_path / "out", status="accepted")
    shutil.rmtree(tmp_path / "out")
    result = export_review(review)  # before: "the folder ... does not exist"
    assert result.folder == tmp_path / "out" / "export" and result.folder.is_dir()
    assert result.images == 0 and name in result.skipped  # its labels went with the folder
    assert (result.folder / "summary.csv").exists()
