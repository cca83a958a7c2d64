"""A review follows a renamed image; a bioformats2raw root is reviewed as its image."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from napari_unet.core.images.io import read_image, write_image
from napari_unet.core.review.export import export_review
from napari_unet.core.review.session import Review

SIDE = 24


def _image(path, value):
    pixels = np.full((SIDE, SIDE), value, np.uint8)
    pixels[2:6, 2:6] = 200  # not flat: measurable
    return write_image(path, pixels)


def _labels(value=1):
    lab = np.zeros((SIDE, SIDE), np.int32)
    lab[2:6, 2:6] = value
    lab[10:16, 10:16] = value + 1
    return lab


def _judged(tmp_path, names=("a_grey.png", "b_grey.png", "c_grey.png"), status="accepted"):
    """A folder of images, each judged ``status`` with its labels saved (hashes recorded)."""
    folder, out = tmp_path / "images", tmp_path / "out"
    folder.mkdir()
    for k, name in enumerate(names):
        _image(folder / name, 10 * (k + 1))
    review = Review(folder, out)
    for k, name in enumerate(review.names):
        review.check_hash(name)  # as the dock does when it shows an image
        review.save_labels(name, _labels(k + 1))
        review.set_status(name, status)
        review.add_time(name, 3.0)
    review.save()
    return folder, out


def _file_entries(out):
    return json.loads((out / "review.json").read_text(encoding="utf-8"))["images"]


def test_a_renamed_image_keeps_its_review_labels_and_export(tmp_path):
    """Before: b2_grey.png came back unreviewed, b_grey's labels were orphaned, and the
    export left them out without a word."""
    folder, out = _judged(tmp_path)
    (folder / "b_grey.png").rename(folder / "b2_grey.png")
    review = Review(folder, out)
    entry = review.entries["b2_grey.png"]
    assert (entry.status, entry.seconds, entry.source) == ("accepted", 3.0, "reviewed")
    assert review.renamed == [("b_grey.png", "b2_grey.png")]
    assert not (out / "labels" / "b_grey_labels.tif").exists()
    moved = out / "labels" / "b2_grey_labels.tif"
    np.testing.assert_array_equal(read_image(moved, labels=True), _labels(2))
    assert review.stored_labels("b2_grey.png", None)[1] == "reviewed"
    assert "b_grey.png was renamed b2_grey.png: its review carried over" in review.report()
    assert "unreviewed" not in review.report()
    entries = _file_entries(out)  # saved at once, without the old name
    assert "b_grey.png" not in entries and entries["b2_grey.png"]["status"] == "accepted"
    result = export_review(review)
    assert result.images == 3 and (result.folder / "labels" / "b2_grey_labels.tif").exists()
    assert "b_grey.png was renamed b2_grey.png" in (result.folder / "report.txt").read_text()
    again = Review(folder, out)  # nothing more to carry, the review stays
    assert again.renamed == [] and again.entries["b2_grey.png"].status == "accepted"
    assert "renamed" not in again.report()


def test_a_later_save_of_another_session_does_not_bring_the_old_name_back(tmp_path):
    folder, out = _judged(tmp_path)
    (folder / "b_grey.png").rename(folder / "b2_grey.png")
    review = Review(folder, out)
    review.set_status("a_grey.png", "rejected")
    review.save()
    assert "b_grey.png" not in _file_entries(out)
    assert "left the folder" not in review.report()


def test_the_cached_prediction_follows_the_renamed_image(tmp_path):
    folder, out = tmp_path / "images", tmp_path / "out"
    folder.mkdir()
    _image(folder / "a.png", 10)
    review = Review(folder, out)
    review.check_hash("a.png")
    review.save_prediction("a.png", _labels(), "key1", "nuclei")
    review.set_status("a.png", "needs-work")
    review.save()
    (folder / "a.png").rename(folder / "z.png")
    review = Review(folder, out)
    assert (out / "predictions" / "z_labels.tif").exists()
    assert review.renamed == [("a.png", "z.png")]
    assert review.entries["z.png"].status == "needs-work"
    assert not (out / "predictions" / "a_labels.tif").exists()
    labels, source = review.stored_labels("z.png", "key1")
    assert source == "prediction (nuclei)"
    np.testing.assert_array_equal(labels, _labels())


def test_labels_already_at_the_new_name_are_not_overwritten(tmp_path):
    folder, out = _judged(tmp_path)
    (folder / "b_grey.png").rename(folder / "b2_grey.png")
    write_image(out / "labels" / "b2_grey_labels.tif", _labels(7))  # another image's
    review = Review(folder, out)
    assert review.renamed == []
    np.testing.assert_array_equal(
        read_image(out / "labels" / "b2_grey_labels.tif", labels=True), _labels(7)
    )
    assert (out / "labels" / "b_grey_labels.tif").exists()
    report = review.report()
    assert "b_grey.png was renamed b2_grey.png, but" in report
    assert "b2_grey_labels.tif exists: its review was not carried over" in report


def test_two_copies_of_a_renamed_image_take_its_review_neither(tmp_path):
    folder, out = _judged(tmp_path)
    shutil.copy(folder / "b_grey.png", folder / "b3_grey.png")
    (folder / "b_grey.png").rename(folder / "b2_grey.png")
    review = Review(folder, out)
    assert review.renamed == []
    assert review.entries["b2_grey.png"].status == "unreviewed"
    assert review.entries["b3_grey.png"].status == "unreviewed"
    assert (out / "labels" / "b_grey_labels.tif").exists()
    assert (
        "b_grey.png left the folder and b2_grey.png, b3_grey.png have its content: its review "
        "was carried to none of them"
    ) in review.report()


def test_reviewed_images_that_left_without_a_successor_are_named(tmp_path):
    """Before: "6 images: 2 unreviewed, 4 accepted", and nothing of the two that left."""
    folder, out = _judged(tmp_path, names=("a.png", "b.png", "c.png", "d.png"))
    (folder / "a.png").unlink()
    (folder / "b.png").unlink()
    _image(folder / "e.png", 90)  # new content: no successor
    review = Review(folder, out)
    assert review.entries["e.png"].status == "unreviewed"
    assert review.report().endswith(
        f"2 reviewed images left the folder: a.png, b.png; their labels stay in {out / 'labels'}"
    )


def test_an_image_still_in_the_folder_keeps_its_entry(tmp_path):
    """A review of chosen files: another session's image of the same content is not taken."""
    folder, out = _judged(tmp_path, names=("a.png",))
    shutil.copy(folder / "a.png", folder / "copy.png")
    review = Review([folder / "copy.png"], out)
    assert review.renamed == [] and review.entries["copy.png"].status == "unreviewed"
    assert (out / "labels" / "a_labels.tif").exists()
    assert "left the folder" not in review.report()


def test_nothing_is_hashed_without_a_judged_image_gone(tmp_path, monkeypatch):
    from napari_unet.core.review import renames

    folder, out = _judged(tmp_path, names=("a.png",))
    _image(folder / "b.png", 50)
    _image(folder / "c.png", 60)
    review = Review(folder, out)
    review.check_hash("c.png")  # only predicted ahead: hashed by the prefetcher
    review.save()
    (folder / "c.png").unlink()
    monkeypatch.setattr(renames, "content_hashes", lambda p: pytest.fail(f"hashed {p}"))
    Review(folder, out)  # b.png is new, c.png gone unjudged: nothing hashed
    _image(folder / "d.png", 70)
    Review(folder, out)  # the judged a.png is still there: nothing hashed


def test_the_review_resumes_on_the_renamed_image(tmp_path):
    folder, out = _judged(tmp_path)
    review = Review(folder, out)
    review.current = review.names.index("b_grey.png")
    review.save()
    (folder / "b_grey.png").rename(folder / "b2_grey.png")
    review = Review(folder, out)
    assert review.names[review.current] == "b2_grey.png"


# -- a bioformats2raw root ------------------------------------------------------------------


def _bioformats2raw(root, count=1):
    """A bioformats2raw root (as ``bioformats2raw`` writes it) with ``count`` series."""
    zarr = pytest.importorskip("zarr")

    group = zarr.open_group(str(root), mode="w", zarr_format=2)
    group.attrs["bioformats2raw.layout"] = 3
    for k in range(count):
        series = group.create_group(str(k))
        data = np.full((1, 1, 1, SIDE, SIDE), 20 + k, np.uint8)
        data[..., 2:6, 2:6] = 200
        series.create_array("0", data=data, chunks=(1, 1, 1, SIDE, SIDE))
        kinds = ["time", "channel", "space", "space", "space"]
        axes = [{"name": a, "type": t} for a, t in zip("tczyx", kinds, strict=True)]
        scale = [{"type": "scale", "scale": [1, 1, 1, 0.5, 0.5]}]
        level = {"path": "0", "coordinateTransformations": scale}
        series.attrs["multiscales"] = [{"version": "0.4", "axes": axes, "datasets": [level]}]
    return root


def test_a_bioformats2raw_root_is_reviewed_as_its_image(tmp_path):
    """Before: reading it was refused ("is a bioformats2raw layout: give the image inside
    it: .../0"), and neither picker of the dock could choose the folder inside."""
    folder = tmp_path / "images"
    folder.mkdir()
    root = _bioformats2raw(folder / "slide.zarr")
    _image(folder / "a.png", 10)
    review = Review(folder, tmp_path / "out")
    assert review.names == ["a.png", "slide.zarr"]
    image = np.asarray(read_image(review.path("slide.zarr")))
    assert review.path("slide.zarr") == root / "0"
    assert image.shape[:2] == (SIDE, SIDE) and image[0, 0].max() == 20  # channel of one
    saved = review.save_labels("slide.zarr", _labels())
    assert saved == tmp_path / "out" / "labels" / "slide_labels.tif"
    review.check_hash("slide.zarr")
    review.set_status("slide.zarr", "accepted")
    result = export_review(review)
    assert result.images == 1 and (result.folder / "measurements" / "slide.csv").exists()
    assert result.summary[0]["image"] == "slide.zarr"


def test_a_renamed_bioformats2raw_root_keeps_its_review(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    _bioformats2raw(folder / "slide.zarr")
    review = Review(folder, tmp_path / "out")
    review.check_hash("slide.zarr")
    review.save_labels("slide.zarr", _labels())
    review.set_status("slide.zarr", "accepted")
    review.save()
    (folder / "slide.zarr").rename(folder / "slide2.zarr")
    review = Review(folder, tmp_path / "out")
    assert review.entries["slide2.zarr"].status == "accepted"
    assert (tmp_path / "out" / "labels" / "slide2_labels.tif").exists()
    assert review.renamed == [("slide.zarr", "slide2.zarr")]


def test_a_root_of_several_series_is_refused_naming_them(tmp_path):
    from napari_unet.core.errors import InputError

    folder = tmp_path / "images"
    folder.mkdir()
    root = _bioformats2raw(folder / "multi.zarr", count=2)
    review = Review(folder, tmp_path / "out")
    assert review.path("multi.zarr") == root
    with pytest.raises(InputError, match=r"bioformats2raw layout.*multi.zarr/0.*multi.zarr/1"):
        read_image(review.path("multi.zarr"))


def test_a_rename_that_keeps_the_stem_carries_the_review(tmp_path):
    """b_grey.png renamed b_grey.PNG (same bytes, same stem): its labels are already at its
    stem's name, which was taken for another file's: 'not carried', and predicted again."""
    folder, out = _judged(tmp_path)
    (folder / "b_grey.png").rename(folder / "b_grey.PNG")
    review = Review(folder, out)
    assert review.renamed == [("b_grey.png", "b_grey.PNG")]
    entry = review.entries["b_grey.PNG"]
    assert (entry.status, entry.source) == ("accepted", "reviewed")
    labels, source = review.stored_labels("b_grey.PNG", None)
    assert source == "reviewed"
    np.testing.assert_array_equal(labels, _labels(2))
    assert "not carried" not in review.report()
