"""Review: an image kept in the read-ahead cache starts over when its reviewed labels file is
gone; a review says whether it resumed a review file that was there before it.

docs/review.md ("What is saved"): an image whose reviewed labels file vanished starts over
when its labels are next read (shown, or read ahead). Before, an image still in the
prefetcher's cache was handed out from memory as "reviewed" (its correction neither on disk
nor written back, and left out of Export). And a folder holding ``a.tif`` and ``a.tif.png``
had its review file written by the constructor, so the dock said "Resumed:" on the first Open.
"""

from __future__ import annotations

import time

import numpy as np

from napari_unet.core.images.io import read_image, write_image
from napari_unet.core.review.prefetch import Item, Prefetcher
from napari_unet.core.review.session import Review


class _NoModel(Prefetcher):
    """Labels from the labels folder only: no predictor, labels the image's shape."""

    def _plane_shape(self, image):
        return image.shape[-2:]


def _cells(k: int = 0) -> np.ndarray:
    labels = np.zeros((32, 32), np.uint16)
    labels[2:10, 2:10], labels[15:25, 12 + k : 22 + k] = 1, 2
    return labels


def _folder(tmp_path):
    images, labels_in = tmp_path / "images", tmp_path / "labels_in"
    images.mkdir()
    labels_in.mkdir()
    for k, name in enumerate("ab"):
        write_image(images / f"{name}.tif", ((_cells(k) > 0) * 200 + 20).astype(np.uint8))
        write_image(labels_in / f"{name}_labels.tif", _cells(k))
    return images, labels_in


def _got(prefetcher, name, ok, timeout=20.0):
    """The item of ``name`` once the prefetcher hands one out for which ``ok(item)``."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        item = prefetcher.get(name)
        if item is not None and ok(item):
            return item
        time.sleep(0.02)
    return prefetcher.get(name)


def _reviewed(tmp_path, unsaved=None):
    """A review whose image ``a.tif`` was corrected, saved and is kept in the cache."""
    images, labels_in = _folder(tmp_path)
    review = Review(images, tmp_path / "out", labels_in)
    prefetcher = _NoModel(review, None, {}, "none", cache=4, unsaved=unsaved)
    prefetcher.want(["a.tif", "b.tif"])
    item = _got(prefetcher, "a.tif", lambda it: True)
    assert item is not None and item.source == "file a_labels.tif"
    edited = np.array(item.labels)
    edited[28:31, 28:31] = 999
    review.save_labels("a.tif", edited)
    review.mark_edited("a.tif")
    review.set_status("a.tif", "corrected")
    prefetcher.put(Item("a.tif", item.image, edited, "reviewed"))  # as the dock does
    return review, prefetcher, edited


def test_cached_image_whose_reviewed_labels_file_is_gone_starts_over(tmp_path):
    review, prefetcher, _ = _reviewed(tmp_path)
    try:
        review.labels_path("a.tif").unlink()  # to start the image over
        prefetcher.want(["a.tif", "b.tif"])  # the reviewer comes back to it
        item = _got(prefetcher, "a.tif", lambda it: it.source != "reviewed")
        assert item is not None and item.source == "file a_labels.tif", item and item.source
        np.testing.assert_array_equal(item.labels, _cells())  # the labels it came with
        entry = review.entries["a.tif"]
        assert entry.status == "unreviewed" and entry.source == "file a_labels.tif"
        assert "gone" in entry.extra["changed"]  # the status line says why
    finally:
        assert prefetcher.close()


def test_cached_labels_still_on_their_way_to_the_disk_are_kept(tmp_path):
    pending: dict = {}
    review, prefetcher, edited = _reviewed(tmp_path, unsaved=pending.get)
    try:
        review.labels_path("a.tif").unlink()
        pending["a.tif"] = edited  # the writer holds a newer save, not written yet
        prefetcher.want(["a.tif", "b.tif"])
        item = prefetcher.get("a.tif")
        assert item is not None and item.source == "reviewed"
        np.testing.assert_array_equal(item.labels, edited)
        assert review.entries["a.tif"].status == "corrected"
    finally:
        assert prefetcher.close()


def test_a_review_file_written_by_the_constructor_is_no_resumed_review(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    write_image(images / "a.tif", np.full((16, 16), 10, np.uint8))
    write_image(images / "a.tif.png", np.full((16, 16), 20, np.uint8))
    review = Review(images, tmp_path / "out")
    assert review.review_file.exists()  # the stems' claim was saved at once
    assert review.resumed is False
    assert Review(images, tmp_path / "out").resumed is True


def test_the_labels_read_back_are_the_saved_ones(tmp_path):
    review, prefetcher, edited = _reviewed(tmp_path)
    try:
        prefetcher.want(["a.tif", "b.tif"])  # the file is there: still the reviewed labels
        item = prefetcher.get("a.tif")
        assert item is not None and item.source == "reviewed"
        np.testing.assert_array_equal(read_image(review.labels_path("a.tif"), labels=True), edited)
    finally:
        assert prefetcher.close()
