"""A review reopened after the folder changed: an image with the stem of one that left, and
the image the review was on that left."""

from __future__ import annotations

import numpy as np

from napari_unet.core.images.io import read_image, write_image
from napari_unet.core.review.session import Review

SIDE = 24


def _image(path, value):
    pixels = np.full((SIDE, SIDE), value, np.uint8)
    pixels[2:6, 2:6] = 200
    return write_image(path, pixels)


def _labels(value):
    lab = np.zeros((SIDE, SIDE), np.int32)
    lab[2:6, 2:6] = value
    return lab


def _read(path):
    return np.asarray(read_image(path, labels=True))


def _corrected(folder, out, name, value):
    """Review ``folder``: image ``name`` corrected to labels of id ``value``, saved."""
    review = Review(folder, out)
    review.check_hash(name)
    saved = review.save_labels(name, _labels(value))
    review.set_status(name, "corrected")
    review.save()
    return saved


def test_a_new_image_with_the_stem_of_one_that_left_gets_its_own_labels(tmp_path):
    """Before: a.tif (another image) showed the corrected labels of a.png, which had left the
    folder, as its own reviewed labels, and saving it overwrote them."""
    folder, out = tmp_path / "images", tmp_path / "out"
    folder.mkdir()
    _image(folder / "a.png", 10)
    _image(folder / "b.png", 20)
    _corrected(folder, out, "a.png", 1)
    (folder / "a.png").rename(tmp_path / "a.png")  # a new acquisition: a.tif, other pixels
    _image(folder / "a.tif", 90)

    review = Review(folder, out)
    assert review.renamed == []
    assert review.entries["a.tif"].status == "unreviewed"
    assert review.stored_labels("a.tif", None) is None  # predicted, not a.png's labels
    assert "those of a.png are kept" in review.report()
    assert review.prediction_path("a.tif") != review.prediction_path("a.png")
    saved = review.save_labels("a.tif", _labels(7))
    review.set_status("a.tif", "corrected")
    review.save()
    assert saved.name == "a.tif_labels.tif"
    assert np.array_equal(_read(out / "labels" / "a_labels.tif"), _labels(1))  # untouched

    again = Review(folder, out)  # the next session finds each image's own labels
    labels, source = again.stored_labels("a.tif", None)
    assert source == "reviewed" and np.array_equal(labels, _labels(7))

    (folder / "a.tif").rename(tmp_path / "a.tif")  # a.png comes back: its labels are its own
    (tmp_path / "a.png").rename(folder / "a.png")
    back = Review(folder, out)
    labels, source = back.stored_labels("a.png", None)
    assert source == "reviewed" and np.array_equal(labels, _labels(1))
    assert back.entries["a.png"].status == "corrected"


def test_the_stem_of_another_image_is_remembered_without_a_save(tmp_path):
    """A review only opened (nothing saved by the caller) still names the new image's files
    in full the next time: it is never taken for the image that left."""
    folder, out = tmp_path / "images", tmp_path / "out"
    folder.mkdir()
    _image(folder / "a.png", 10)
    review = Review(folder, out)
    review.save_labels("a.png", _labels(1))
    review.set_status("a.png", "accepted")
    review.save()
    (folder / "a.png").unlink()
    _image(folder / "a.tif", 90)
    Review(folder, out)  # opened, looked at, closed
    again = Review(folder, out)
    assert again.stored_labels("a.tif", None) is None
    assert again.labels_path("a.tif").name == "a.tif_labels.tif"


def _four(tmp_path):
    folder, out = tmp_path / "images", tmp_path / "out"
    folder.mkdir()
    for k in range(4):
        _image(folder / f"{k}.png", 10 * (k + 1))
    return folder, out


def test_resume_when_the_image_it_was_on_left_goes_to_the_first_unfinished(tmp_path):
    """Before: the review resumed on the first image, accepted, when the image it was on had
    left the folder."""
    folder, out = _four(tmp_path)
    review = Review(folder, out)
    review.set_status("0.png", "accepted")
    review.set_status("1.png", "corrected")
    review.current = 2
    review.save()
    (folder / "2.png").unlink()
    again = Review(folder, out)
    assert again.names[again.current] == "3.png"


def test_resume_when_all_are_finished_stays_where_it_was_in_order(tmp_path):
    folder, out = _four(tmp_path)
    review = Review(folder, out)
    for name in review.names:
        review.set_status(name, "accepted")
    review.current = 2
    review.save()
    (folder / "2.png").unlink()
    again = Review(folder, out)
    assert again.names[again.current] == "3.png"
    review.current = 3
    review.save()
    (folder / "3.png").unlink()  # the last one: the last image left
    assert Review(folder, out).names[-1] == "1.png"
    assert Review(folder, out).current == 1


def test_an_image_named_in_full_renamed_keeps_its_review_and_the_others_labels(tmp_path):
    """a.tif (named in full: a.png had its stem) renamed a.tiff: its target was a.png's
    a_labels.tif, 'taken', so its review was not carried (a review catch)."""
    folder, out = tmp_path / "images", tmp_path / "out"
    folder.mkdir()
    _image(folder / "a.png", 10)
    _corrected(folder, out, "a.png", 1)
    (folder / "a.png").rename(tmp_path / "a.png")
    _image(folder / "a.tif", 90)
    _corrected(folder, out, "a.tif", 7)
    (folder / "a.tif").rename(folder / "a.tiff")
    review = Review(folder, out)
    assert review.renamed == [("a.tif", "a.tiff")]
    assert review.entries["a.tiff"].status == "corrected"
    labels, source = review.stored_labels("a.tiff", None)
    assert source == "reviewed" and labels.max() == 7
    assert review.labels_path("a.tiff").name == "a.tiff_labels.tif"
    assert _read(out / "labels" / "a_labels.tif").max() == 1  # a.png's, untouched
    again = Review(folder, out)  # the naming is remembered
    assert again.labels_path("a.tiff").name == "a.tiff_labels.tif"
    assert again.stored_labels("a.tiff", None)[1] == "reviewed"
