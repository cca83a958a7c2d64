"""Two review sessions on one output folder: labels and verdicts never written over."""

import numpy as np
import pytest

from napari_unet.core.errors import InputError
from napari_unet.core.images.io import read_image, write_image
from napari_unet.core.review.session import Review


def _sessions(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    write_image(images / "a.tif", np.zeros((32, 32), np.uint8))
    one = Review(images, tmp_path / "out")
    one.save()
    return one, Review(images, tmp_path / "out")


def _labels(value):
    labels = np.zeros((32, 32), np.int32)
    labels[4:10, 4:10] = value
    return labels


def test_labels_read_before_the_other_sessions_save_are_kept_aside(tmp_path):
    one, two = _sessions(tmp_path)
    assert one.stored_labels("a.tif", None) is None  # both read: no reviewed labels yet
    assert two.stored_labels("a.tif", None) is None
    one.save_labels("a.tif", _labels(99))
    with pytest.raises(InputError, match="another session"):
        two.save_labels("a.tif", _labels(77))
    assert read_image(one.labels_path("a.tif")).max() == 99
    (kept,) = (one.output / "conflicts").iterdir()
    assert read_image(kept).max() == 77  # not lost
    two.guard.take_over("a.tif")  # on purpose
    two.save_labels("a.tif", _labels(77))
    assert read_image(one.labels_path("a.tif")).max() == 77


def test_saving_edits_never_resets_the_other_sessions_verdict(tmp_path):
    """Before, the second session's labels save stamped its whole entry later, and its stale
    "unreviewed" went over the first session's "rejected"."""
    one, two = _sessions(tmp_path)
    one.set_status("a.tif", "rejected")
    one.save()
    two.mark_edited("a.tif")
    two.save_labels("a.tif", _labels(5))  # never read here: written (a console, on purpose)
    two.add_time("a.tif", 3.0)
    two.save()
    entry = Review(one.images, one.output).entries["a.tif"]
    assert entry.status == "rejected" and entry.extra == {"edited": True}
    assert entry.seconds == 3.0 and entry.source == "reviewed"


def test_the_later_of_two_verdicts_still_wins_field_by_field():
    from napari_unet.core.review.reviewfile import merge_entry

    written = {"name": "a", "status": "unreviewed", "seconds": 0, "updated": "1", "extra": {}}
    saved = {**written, "status": "rejected", "updated": "2"}
    ours = {**written, "status": "accepted", "updated": "3", "extra": {"edited": True}}
    merged = merge_entry(saved, ours, written)
    assert merged["status"] == "accepted" and merged["extra"] == {"edited": True}
    assert merge_entry(ours, saved, written)["status"] == "accepted"
    assert merge_entry(saved, written, written) == saved
