"""The review's core after a second bug hunt: changed images, OS files, re-acquired images,
the prediction cache, float label files."""

from __future__ import annotations

import errno
import os
import shutil
import time

import numpy as np
import pytest

from napari_unet.core.errors import InputError
from napari_unet.core.images.io import read_image, write_image
from napari_unet.core.review.session import Review


def _images(folder, names=("a", "b"), shape=(32, 32)):
    folder.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(names):
        write_image(folder / f"{name}.tif", np.full(shape, 100 + k, np.uint16))
    return folder


def _rewrite(path, data):
    """Rewrite an image file with other pixels (and a later time, whatever the clock)."""
    before = path.stat().st_mtime_ns
    write_image(path, data)
    os.utime(path, ns=(before + 10**10, before + 10**10))


def _wait(cond, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _square(shape=(32, 32)):
    labels = np.zeros(shape, np.int32)
    labels[4:12, 4:12] = 1
    return labels


@pytest.fixture(scope="module")
def tiny_model():
    from napari_unet.core.models import build_model
    from napari_unet.core.training.config import TrainConfig

    return build_model(TrainConfig(model="tiny").model), {}


# -- 1. an image changed since it was judged: one check, for Export and training ------------
def test_an_image_changed_since_it_was_judged_is_said_to_have_changed(tmp_path):
    review = Review(_images(tmp_path / "images"), tmp_path / "out")
    for name in review.names:
        review.check_hash(name)
        review.save_labels(name, _square())
        review.set_status(name, "corrected")
    assert not review.changed_since_review("a.tif")
    _rewrite(review.path("a.tif"), np.full((32, 32), 7, np.uint16))
    assert review.changed_since_review("a.tif")  # not hashed since: the hash differs
    review.check_hash("a.tif")  # hashed (the dock read it): the change waits for a verdict
    assert review.changed_since_review("a.tif")
    assert not review.changed_since_review("b.tif")
    review.set_status("a.tif", "corrected")  # judged again, on the new pixels
    assert not review.changed_since_review("a.tif")


# -- 3. the system's own files in the export folder ----------------------------------------
@pytest.mark.parametrize(
    "junk",
    [
        ".DS_Store",
        "._report.txt",
        "labels/Thumbs.db",
        "measurements/.DS_Store",
        "labels/desktop.ini",
    ],
)
def test_files_the_os_drops_into_the_export_do_not_block_the_next_export(tmp_path, junk):
    from napari_unet.core.review.export import export_review

    review = Review(_images(tmp_path / "images"), tmp_path / "out")
    for name in review.names:
        review.check_hash(name)
        review.save_labels(name, _square())
        review.set_status(name, "accepted")
    export_review(review)
    (review.output / "export" / junk).write_bytes(b"\0\0\0\1Bud1")
    result = export_review(review)  # before: "holds .DS_Store, which no export wrote"
    assert result.images == 2
    (review.output / "export" / "notes.txt").write_text("mine")  # still refused: yours
    with pytest.raises(InputError, match="notes.txt"):
        export_review(review)


# -- 4. an image re-acquired at another size -----------------------------------------------
def _reviewed_then_resized(tmp_path):
    images = _images(tmp_path / "images", names=("a",))
    review = Review(images, tmp_path / "out")
    review.check_hash("a.tif")
    review.save_labels("a.tif", _square())
    review.set_status("a.tif", "accepted")
    review.save()
    _rewrite(images / "a.tif", np.full((48, 40), 9, np.uint16))  # re-acquired, other size
    return Review(images, tmp_path / "out")


def _fetch(review, model, name="a.tif"):
    from napari_unet.core.review.prefetch import Prefetcher

    errors = []
    pf = Prefetcher(review, *model, "tiny", on_error=lambda n, m: errors.append(m))
    try:
        pf.want([name])
        _wait(lambda: pf.get(name) is not None or errors)
        return pf.get(name), errors
    finally:
        pf.close()


def test_an_image_reacquired_at_another_size_is_predicted_again(tmp_path, tiny_model):
    review = _reviewed_then_resized(tmp_path)
    labels_dir = review.output / "labels"
    (labels_dir / "a_labels.old.tif").write_bytes(b"an older one")  # never overwritten
    item, errors = _fetch(review, tiny_model)
    assert not errors  # before: a shape error, for good
    assert item.labels.shape == (48, 40) and item.source.startswith("prediction")
    assert (labels_dir / "a_labels.old.tif").read_bytes() == b"an older one"
    aside = labels_dir / "a_labels.old2.tif"
    assert np.array_equal(read_image(aside, labels=True), _square())
    assert not (labels_dir / "a_labels.tif").exists()
    assert "moved to labels/a_labels.old2.tif" in item.warning
    entry = Review(review.images, review.output).entries["a.tif"]  # saved
    assert entry.status == "unreviewed" and "a_labels.old2.tif" in entry.extra["changed"]


def test_reviewed_labels_that_do_not_fit_an_unchanged_image_say_what_to_do(tmp_path, tiny_model):
    review = Review(_images(tmp_path / "images", names=("a",)), tmp_path / "out")
    review.check_hash("a.tif")
    review.save_labels("a.tif", _square())
    write_image(review.labels_path("a.tif"), np.ones((16, 16), np.int32))  # not of this image
    item, errors = _fetch(review, tiny_model)
    assert item is None and "move" in errors[0] and "a_labels.tif elsewhere" in errors[0]
    assert (review.output / "labels" / "a_labels.tif").exists()  # left where it is


# -- 5. the prediction cache cannot be written ---------------------------------------------
def _prefetch_all(review, model):
    from napari_unet.core.review.prefetch import Prefetcher

    ready, errors, warned = [], [], []
    pf = Prefetcher(
        review, *model, "tiny", on_ready=ready.append,
        on_error=lambda n, m: errors.append(m), on_warning=warned.append,
    )  # fmt: skip
    try:
        pf.want(list(review.names))
        _wait(lambda: len(ready) + len(errors) == len(review.names))
    finally:
        pf.close()
    return ready, errors, warned


def test_a_deleted_prediction_cache_is_made_again(tmp_path, tiny_model):
    review = Review(_images(tmp_path / "images"), tmp_path / "out")
    shutil.rmtree(review.output / "predictions")  # "it is only a cache"
    ready, errors, warned = _prefetch_all(review, tiny_model)
    assert sorted(ready) == ["a.tif", "b.tif"] and not errors and not warned
    assert review.prediction_path("a.tif").exists()
    shutil.rmtree(review.output / "labels")
    review.save_labels("a.tif", _square())  # the reviewed labels' folder too
    assert review.labels_path("a.tif").exists()


def test_a_cache_that_cannot_be_written_is_said_once_and_the_images_are_shown(
    tmp_path, tiny_model, monkeypatch
):
    import napari_unet.core.review.session as session

    def full(path, data, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    review = Review(_images(tmp_path / "images"), tmp_path / "out")
    monkeypatch.setattr(session, "write_image", full)
    ready, errors, warned = _prefetch_all(review, tiny_model)
    assert sorted(ready) == ["a.tif", "b.tif"] and not errors  # before: both failed
    assert len(warned) == 1 and "No space left on device" in warned[0]


# -- 9. label files of whole numbers stored as floats --------------------------------------
def _with_label_file(tmp_path, labels):
    images = _images(tmp_path / "images", names=("a",))
    folder = tmp_path / "labels_in"
    folder.mkdir()
    write_image(folder / "a_labels.tif", labels)
    return Review(images, tmp_path / "out", folder)


def test_a_float_label_file_of_whole_numbers_is_read_as_labels(tmp_path):
    review = _with_label_file(tmp_path, _square().astype(np.float32) * 3)  # Fiji's 32-bit
    labels, source = review.stored_labels("a.tif", None)
    assert labels.dtype.kind == "i" and np.array_equal(labels, _square() * 3)
    assert source == "file a_labels.tif" and review.entries["a.tif"].objects == 1


@pytest.mark.parametrize("bad", [0.5, -1.0, np.nan])
def test_a_float_label_file_of_other_values_is_refused(tmp_path, bad):
    labels = _square().astype(np.float32)
    labels[0, 0] = bad
    review = _with_label_file(tmp_path, labels)
    with pytest.raises(InputError, match="a_labels.tif"):
        review.stored_labels("a.tif", None)
