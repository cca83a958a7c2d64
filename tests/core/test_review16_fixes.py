"""A review's labels folder: never OUTPUT/labels, and seen as it is now; a bad pixel size.

- A labels folder that is the output folder's ``labels`` (``project/labels`` with the output
  folder ``project``) is refused: before, its files were taken for reviewed labels and the
  first save overwrote the user's original.
- The labels folder is listed again when it changes: a label file that did not fit, moved
  elsewhere as the message says, no longer blocks its image (before: "no such file or
  folder"), and a file added during the review is found.
- ``export_review`` with a bad ``pixel_size`` raises before writing anything: before, every
  image was skipped and the empty export replaced the last complete one.
"""

from __future__ import annotations

import os
import shutil
import time

import numpy as np
import pytest

from napari_unet.core.errors import InputError
from napari_unet.core.images.io import read_image, write_image
from napari_unet.core.review.export import export_review
from napari_unet.core.review.session import Review


def _project(tmp_path):
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    labels.mkdir()
    img = np.zeros((40, 40), np.uint16)
    img[5:15, 5:15] = img[25:35, 25:35] = 900
    write_image(images / "a.tif", img)
    cells = np.zeros((40, 40), np.uint16)
    cells[5:15, 5:15], cells[25:35, 25:35] = 1, 2
    return images, labels, cells


@pytest.mark.parametrize("inside", ["labels", "labels/sub"])
def test_a_labels_folder_in_the_output_folders_labels_is_refused(tmp_path, inside):
    images, labels, cells = _project(tmp_path)
    folder = tmp_path / inside
    folder.mkdir(exist_ok=True)
    write_image(folder / "a_labels.tif", cells)
    with pytest.raises(InputError, match="labels folder") as err:
        Review(images, tmp_path, labels_folder=folder)  # output: the project folder
    assert "another output folder" in str(err.value)
    np.testing.assert_array_equal(read_image(folder / "a_labels.tif", labels=True), cells)
    assert not (tmp_path / "review.json").exists()


def test_a_labels_folder_beside_the_output_folder_is_still_used(tmp_path):
    images, labels, cells = _project(tmp_path)
    write_image(labels / "a_labels.tif", cells)
    review = Review(images, tmp_path / "out", labels_folder=labels)
    found, source = review.stored_labels("a.tif", None)
    assert source == "file a_labels.tif"
    review.save_labels("a.tif", np.where(found == 2, 0, found))
    np.testing.assert_array_equal(read_image(labels / "a_labels.tif", labels=True), cells)


def test_label_files_moved_away_or_added_during_a_review_are_seen(tmp_path):
    images, labels, cells = _project(tmp_path)
    write_image(labels / "a_masks.tif", cells)
    review = Review(images, tmp_path / "out", labels_folder=labels)
    assert review.existing_labels("a.tif") == labels / "a_masks.tif"
    shutil.move(labels / "a_masks.tif", tmp_path / "a_masks.tif")
    assert review.existing_labels("a.tif") is None
    assert review.stored_labels("a.tif", None) is None  # predicted, not "no such file"
    write_image(labels / "a_cp_masks.png", cells.astype(np.uint8))  # added meanwhile
    deadline = time.monotonic() + 10  # a folder time that did not change: seen later
    while review.existing_labels("a.tif") is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert review.existing_labels("a.tif") == labels / "a_cp_masks.png"
    assert review.stored_labels("a.tif", None)[1] == "file a_cp_masks.png"


def test_a_file_moved_away_is_not_used_even_if_the_folder_time_stays(tmp_path):
    images, labels, cells = _project(tmp_path)
    write_image(labels / "a_masks.tif", cells)
    write_image(labels / "a.tif", cells)  # the next candidate, a tool's NAME.tif
    review = Review(images, tmp_path / "out", labels_folder=labels)
    assert review.existing_labels("a.tif") == labels / "a_masks.tif"
    before = os.stat(labels)
    (labels / "a_masks.tif").unlink()
    os.utime(labels, ns=(before.st_atime_ns, before.st_mtime_ns))  # a coarse share's time
    assert review.existing_labels("a.tif") == labels / "a.tif"


def _settle(pf, name):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if pf.error(name) or pf.get(name) is not None:
            return
        time.sleep(0.02)
    raise AssertionError(f"{name} neither failed nor came")


def test_the_prefetcher_predicts_an_image_once_labels_that_do_not_fit_moved_away(tmp_path):
    from napari_unet.core.models import UNet
    from napari_unet.core.review.prefetch import Prefetcher

    images, labels, _ = _project(tmp_path)
    write_image(labels / "a_masks.tif", np.ones((30, 30), np.uint16))  # another image's
    review = Review(images, tmp_path / "out", labels_folder=labels)
    model = UNet(1, 2, base_channels=4, depth=2, padding="same").eval()
    pf = Prefetcher(review, model, {}, "tiny")
    try:
        pf.want(["a.tif"])
        _settle(pf, "a.tif")
        assert "fix or move it" in pf.error("a.tif")
        shutil.move(labels / "a_masks.tif", tmp_path / "a_masks.tif")  # as the message says
        deadline = time.monotonic() + 60
        while pf.get("a.tif") is None and time.monotonic() < deadline:
            pf.want(["a.tif"])  # the dock's next move
            time.sleep(0.05)
        item = pf.get("a.tif")
        assert item is not None, pf.error("a.tif")
        assert pf.error("a.tif") is None
        assert item.source.startswith("prediction") and item.labels.shape == (40, 40)
    finally:
        pf.close()


def test_an_export_with_a_bad_pixel_size_raises_and_keeps_the_last_export(tmp_path):
    images, labels, cells = _project(tmp_path)
    write_image(labels / "a_masks.tif", cells)
    review = Review(images, tmp_path / "out", labels_folder=labels)
    review.save_labels("a.tif", review.stored_labels("a.tif", None)[0])
    review.set_status("a.tif", "accepted")
    review.save()
    first = export_review(review, pixel_size=0.5)
    assert first.images == 1
    export = tmp_path / "out" / "export"
    files = sorted(p.relative_to(export) for p in export.rglob("*"))
    for bad in (-0.5, 0, float("nan"), "0.5", (1, 2, 3)):
        with pytest.raises(InputError, match="pixel_size"):
            export_review(review, pixel_size=bad)
        assert sorted(p.relative_to(export) for p in export.rglob("*")) == files
    np.testing.assert_array_equal(read_image(export / "labels/a_labels.tif", labels=True), cells)
