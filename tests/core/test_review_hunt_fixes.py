"""The review's core after a bug hunt: saved items read again, two sessions, odd files."""

from __future__ import annotations

import json
import os
import threading
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


def _statuses(review):
    return {k: v["status"] for k, v in json.loads(review.review_file.read_text())["images"].items()}


def _wait(cond, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _rewrite(path, value):
    """Rewrite an image file with other pixels (and a later time, whatever the clock)."""
    before = path.stat().st_mtime_ns
    write_image(path, np.full((32, 32), value, np.uint16))
    os.utime(path, ns=(before + 10**10, before + 10**10))


@pytest.fixture(scope="module")
def tiny_model():
    from napari_unet.core.models import build_model
    from napari_unet.core.training.config import TrainConfig

    return build_model(TrainConfig(model="tiny").model), {}


def test_an_item_the_reviewer_saved_is_read_again_when_its_file_changed(tmp_path, tiny_model):
    """The dock's saved item had no stamp: a replaced file was shown with its old pixels."""
    from napari_unet.core.review.prefetch import Item, Prefetcher

    review = Review(_images(tmp_path / "images"), tmp_path / "out")
    pf = Prefetcher(review, *tiny_model, "tiny")
    try:
        pf.want(["a.tif"])
        _wait(lambda: pf.get("a.tif") is not None)
        item = pf.get("a.tif")
        labels = np.zeros((32, 32), np.int32)
        labels[2:8, 2:8] = 1
        review.save_labels("a.tif", labels)
        review.set_status("a.tif", "accepted")
        pf.put(Item("a.tif", item.image, labels.copy(), "reviewed"))  # as the dock saved it
        pf.want(["a.tif"])
        assert pf.get("a.tif").image.max() == 100  # unchanged: from memory
        _rewrite(review.path("a.tif"), 7)
        pf.want(["a.tif"])
        _wait(lambda: pf.get("a.tif") is not None)
        again = pf.get("a.tif")
        assert again.image.max() == 7
        assert "changed since it was reviewed" in again.warning
    finally:
        pf.close()


def test_a_second_session_keeps_the_entries_of_images_it_does_not_list(tmp_path):
    images = _images(tmp_path / "images")
    one = Review(images, tmp_path / "out")
    write_image(images / "z.tif", np.zeros((32, 32), np.uint16))  # arrives later
    two = Review(images, tmp_path / "out")
    two.set_status("z.tif", "rejected")
    two.set_status("a.tif", "accepted")
    two.save()
    one.set_status("b.tif", "needs-work")
    one.save()  # before: z.tif's entry (and verdict) was dropped
    assert _statuses(one) == {"a.tif": "accepted", "b.tif": "needs-work", "z.tif": "rejected"}


def test_sessions_on_other_files_of_one_output_folder_keep_each_others(tmp_path):
    files = sorted(_images(tmp_path / "images", names="abcd").iterdir())
    one, two = Review(files[:2], tmp_path / "out"), Review(files[2:], tmp_path / "out")
    two.set_status("c.tif", "accepted")
    two.save()
    one.set_status("a.tif", "rejected")
    one.save()
    two.set_status("d.tif", "corrected")
    two.save()
    assert _statuses(Review(files, tmp_path / "out")) == {
        "a.tif": "rejected",
        "b.tif": "unreviewed",
        "c.tif": "accepted",
        "d.tif": "corrected",
    }


def test_a_save_waits_for_the_other_sessions_save(tmp_path):
    """The read, merge and write of a save is made under a lock other sessions take."""
    from napari_unet.core.review.reviewfile import locked

    images = _images(tmp_path / "images")
    one, two = Review(images, tmp_path / "out"), Review(images, tmp_path / "out")
    two.set_status("a.tif", "rejected")
    with locked(one.review_file) as held:  # another session is saving
        assert held
        saving = threading.Thread(target=two.save)
        saving.start()
        saving.join(0.5)
        assert saving.is_alive() and not one.review_file.exists()
    saving.join(10)
    assert not saving.is_alive() and _statuses(two)["a.tif"] == "rejected"


def test_many_saves_of_two_sessions_at_once_lose_nothing(tmp_path):
    files = sorted(_images(tmp_path / "images", names=[f"i{k}" for k in range(8)]).iterdir())
    sessions = [Review(files[:4], tmp_path / "out"), Review(files[4:], tmp_path / "out")]

    def judge(review):
        for name in review.names:
            review.set_status(name, "accepted")
            review.save()

    threads = [threading.Thread(target=judge, args=(r,)) for r in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert set(_statuses(sessions[0]).values()) == {"accepted"}
    assert len(_statuses(sessions[0])) == 8


@pytest.mark.parametrize(
    "images",
    [
        {"a.tif": {"status": "accepted"}},  # no "name" in the entry
        {"a.tif": "accepted"},  # an entry that is a string
        [],  # no object of image names
        {"a.tif": {"name": "a.tif", "status": "done"}},  # a status the review does not know
        {"a.tif": {"name": "a.tif", "seconds": "ten"}},
    ],
)
def test_a_review_file_of_another_shape_is_refused_with_a_clear_message(tmp_path, images):
    out = tmp_path / "out"
    out.mkdir()
    (out / "review.json").write_text(json.dumps({"images": images}))
    with pytest.raises(InputError, match="not a readable review file"):
        Review(_images(tmp_path / "images"), out)


def test_undone_edits_make_a_corrected_image_accepted_again(tmp_path):
    review = Review(_images(tmp_path / "images"), tmp_path / "out")
    review.set_status("a.tif", "accepted")
    review.mark_edited("a.tif")
    assert review.entries["a.tif"].status == "corrected"
    review.mark_edited("a.tif", False)
    assert review.entries["a.tif"].status == "accepted"
    assert "edited" not in review.entries["a.tif"].extra


def test_labels_of_a_file_are_said_to_come_from_it_and_counted(tmp_path):
    """The status line said 'None objects from the model' for labels read from a file."""
    labels_in = tmp_path / "labels_in"
    labels_in.mkdir()
    lab = np.zeros((32, 32), np.uint16)
    lab[2:6, 2:6], lab[10:20, 10:20] = 1, 2
    write_image(labels_in / "a_masks.tif", lab)
    review = Review(_images(tmp_path / "images"), tmp_path / "out", labels_in)
    labels, source = review.stored_labels("a.tif", None)
    assert source == "file a_masks.tif"
    assert review.entries["a.tif"].source == source and review.entries["a.tif"].objects == 2


def test_label_file_endings_are_matched_whatever_their_case(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    write_image(images / "a.tif", np.zeros((32, 32), np.uint16))
    (images / "a.tif").rename(images / "a.TIF")
    write_image(images / "b.tif", np.zeros((32, 32), np.uint16))
    labels_in = tmp_path / "labels_in"
    labels_in.mkdir()
    for name in ("a_masks.TIF", "b_cp_masks.tif", "b_CP_MASKS.TIF"):
        write_image(labels_in / name, np.zeros((32, 32), np.uint16))
    review = Review(images, tmp_path / "out", labels_in)
    assert review.existing_labels("a.TIF").name == "a_masks.TIF"
    assert review.existing_labels("b.tif").name == "b_cp_masks.tif"  # the exact name first


def test_rescued_labels_of_two_output_folders_of_one_name_stay_apart(tmp_path, monkeypatch):
    import tempfile

    from napari_unet.core.review.writer import Writer, rescue_folder

    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    folders = []
    for exp, value in (("exp1", 11), ("exp2", 22)):
        review = Review(_images(tmp_path / exp / "images"), tmp_path / exp / "images-review")
        writer = Writer(review)
        writer._latest["a.tif"] = np.full((32, 32), value, np.int32)  # a write that failed
        writer._failed.add("a.tif")
        folder = rescue_folder(review.output)
        assert folder.parent.name == "images-review"
        (path,) = writer.rescue(folder)
        folders.append(folder)
        writer._pool.shutdown()
    assert folders[0] != folders[1]
    for folder, value in zip(folders, (11, 22), strict=True):
        assert read_image(folder / "a_labels.tif", labels=True)[0, 0] == value


def test_label_files_beside_their_images_are_not_reviewed_as_images(tmp_path):
    """Cellpose and predict -o write NAME_cp_masks.png / NAME_labels.tif beside NAME.tif."""
    images = _images(tmp_path / "images", names=("a", "b", "c_masks"))
    lab = np.zeros((32, 32), np.uint16)
    lab[4:12, 4:12] = 1
    write_image(images / "a_cp_masks.png", lab.astype(np.uint8))
    write_image(images / "b_labels.tif", lab)
    review = Review(images, tmp_path / "out", images)  # the labels beside the images
    assert review.names == ["a.tif", "b.tif", "c_masks.tif"]  # c_masks has no image c
    assert review.existing_labels("a.tif").name == "a_cp_masks.png"
    assert review.existing_labels("b.tif").name == "b_labels.tif"
    chosen = Review([images / "a.tif", images / "a_cp_masks.png"], tmp_path / "out2")
    assert chosen.names == ["a.tif", "a_cp_masks.png"]  # files chosen one by one: all


def test_outputs_beside_images_are_left_out_whatever_their_case(tmp_path):
    """predict -o writes a.ome_labels.tif beside a.ome.tif (and NAME_probabilities.tif)."""
    images = tmp_path / "images"
    images.mkdir()
    lab = np.zeros((32, 32), np.uint16)
    for name in ("a.ome.tif", "a.ome_labels.tif", "b.tif", "b_MASKS.tif", "c.tif",
                 "c_Labels.TIF", "c_probabilities.tif"):  # fmt: skip
        write_image(images / name, lab)
    review = Review(images, tmp_path / "out", images)
    assert review.names == ["a.ome.tif", "b.tif", "c.tif"]
    assert review.existing_labels("a.ome.tif").name == "a.ome_labels.tif"


@pytest.mark.parametrize("entry", [{"updated": 5}, {"seconds": float("nan")}, {"seconds": -1}])
def test_a_review_entry_with_odd_times_is_refused(tmp_path, entry):
    review = Review(_images(tmp_path / "images"), tmp_path / "out")
    review.save()
    saved = json.loads(review.review_file.read_text())
    saved["images"]["a.tif"].update(entry)
    review.review_file.write_text(json.dumps(saved))
    with pytest.raises(InputError, match="not a readable review file"):
        Review(tmp_path / "images", tmp_path / "out")
