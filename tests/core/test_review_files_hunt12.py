"""Review core: verdicts, times and labels files of two sessions and of stem twins never lost."""

import json
import shutil

import numpy as np
import pytest

from napari_unet.core.errors import InputError
from napari_unet.core.images.io import read_image, write_image
from napari_unet.core.review.session import Review


def _images(tmp_path, names=("a.tif", "b.tif")):
    images = tmp_path / "images"
    images.mkdir()
    for k, name in enumerate(names):
        write_image(images / name, np.full((32, 32), k + 1, np.uint8))
    return images


def _labels(value, at=4):
    labels = np.zeros((32, 32), np.int32)
    labels[at : at + 6, at : at + 6] = value
    return labels


def _on_disk(review, name):
    return json.loads(review.review_file.read_text())["images"][name]


def test_a_session_opened_before_the_review_file_keeps_the_others_verdict(tmp_path):
    """Before, a console opened on a new output folder saved its labels of an image and
    wrote "unreviewed" over the verdict the dock gave it meanwhile."""
    images = _images(tmp_path)
    console = Review(images, tmp_path / "out")  # no review file yet
    dock = Review(images, tmp_path / "out")
    dock.save()
    dock.set_status("a.tif", "rejected")
    dock.set_status("b.tif", "accepted")
    dock.save()
    console.save_labels("a.tif", _labels(3))  # stamps its entry later
    console.add_time("b.tif", 1.0)
    console.save()
    assert _on_disk(console, "a.tif")["status"] == "rejected"
    assert _on_disk(console, "a.tif")["source"] == "reviewed"
    assert _on_disk(console, "b.tif")["status"] == "accepted"
    dock.save()
    assert dock.counts()["rejected"] == 1 and dock.counts()["accepted"] == 1


def test_review_time_of_two_sessions_adds_up_across_saves(tmp_path):
    """Before, the later session's seconds were taken: the other's time was lost."""
    images = _images(tmp_path)
    one = Review(images, tmp_path / "out")
    one.save()
    two = Review(images, tmp_path / "out")
    one.add_time("b.tif", 30)
    two.add_time("b.tif", 20)
    one.set_status("b.tif", "rejected")
    one.save()
    two.save()
    one.save()
    assert _on_disk(one, "b.tif")["seconds"] == 50
    one.add_time("b.tif", 10)
    one.save()
    two.add_time("b.tif", 5)
    two.save()
    one.save()  # nobody's time counted twice
    assert _on_disk(one, "b.tif")["seconds"] == 65
    assert one.entries["b.tif"].seconds == two.entries["b.tif"].seconds == 65


def test_a_second_conflict_never_overwrites_the_first_copy(tmp_path):
    images = _images(tmp_path)
    one = Review(images, tmp_path / "out")
    one.save()
    two = Review(images, tmp_path / "out")
    one.stored_labels("a.tif", None), two.stored_labels("a.tif", None)
    two.save_labels("a.tif", _labels(101))
    with pytest.raises(InputError, match="another session"):
        one.save_labels("a.tif", _labels(201))
    one.stored_labels("a.tif", None)  # shown again: reads the other's
    two.save_labels("a.tif", _labels(102))
    with pytest.raises(InputError, match="another session") as second:
        one.save_labels("a.tif", _labels(202))
    kept = sorted((one.output / "conflicts").iterdir())
    assert len(kept) == 2 and second.value.kept in kept
    assert sorted(int(read_image(p).max()) for p in kept) == [201, 202]


def _twins(tmp_path):
    """a.png reviewed (labels/a_labels.tif), moved out; a different a.tif in (named in full)."""
    images = _images(tmp_path, ("a.png", "b.png"))
    first = Review(images, tmp_path / "out")
    first.save_labels("a.png", _labels(999))
    first.set_status("a.png", "corrected")
    first.save()
    (images / "a.png").rename(tmp_path / "a_moved.png")
    write_image(images / "a.tif", np.full((32, 32), 7, np.uint8))
    review = Review(images, tmp_path / "out")
    assert review.labels_path("a.tif").name == "a.tif_labels.tif"
    return images, review


def test_a_label_file_named_after_the_whole_name_goes_with_that_image(tmp_path):
    """Before, a review whose labels folder was another review's labels/ showed a.tif the
    labels of a.png (a_labels.tif), and never its own a.tif_labels.tif."""
    images, review = _twins(tmp_path)
    review.save_labels("a.tif", _labels(555))
    labels = tmp_path / "out" / "labels"
    again = Review(images, tmp_path / "out2", labels)
    found, source = again.stored_labels("a.tif", None)
    assert source == "file a.tif_labels.tif" and found.max() == 555
    only_whole = tmp_path / "only"
    only_whole.mkdir()
    (labels / "a.tif_labels.tif").rename(only_whole / "a.tif_labels.tif")
    found, source = Review(images, tmp_path / "out3", only_whole).stored_labels("a.tif", None)
    assert source == "file a.tif_labels.tif" and found.max() == 555
    # named in full (a.png had its stem): a_labels.tif is a.png's, never a.tif's
    # (a copy: out/labels itself is refused as the labels folder of the review into out)
    copy = tmp_path / "copy"
    shutil.copytree(labels, copy)
    assert Review(images, tmp_path / "out", copy).existing_labels("a.tif") is None


def test_a_rescue_and_labels_set_aside_are_named_by_the_images_files(tmp_path, monkeypatch):
    """Before, a.tif's (named in full) rescued and set-aside labels were named a_labels."""
    from napari_unet.core.review import session
    from napari_unet.core.review.refit import set_aside
    from napari_unet.core.review.writer import Writer

    images, review = _twins(tmp_path)
    review.save_labels("a.tif", _labels(5))
    real = session.write_image

    def full_disk(path, *args, **kwargs):
        if "out" in path.parts:
            raise OSError(28, "No space left on device")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(session, "write_image", full_disk)
    rescued = []
    for value in (41, 42):  # two closes: the second rescue keeps the first
        writer = Writer(review)
        writer.save_labels("a.tif", _labels(value), then_review=False)
        assert not writer.close(timeout=30)
        rescued += writer.rescue(tmp_path / "rescue")
    assert [p.name for p in rescued] == ["a.tif_labels.tif", "a.tif_labels2.tif"]
    assert [int(read_image(p).max()) for p in rescued] == [41, 42]
    monkeypatch.setattr(session, "write_image", real)
    aside = set_aside(review, "a.tif", (32, 32), (40, 40))
    assert aside.name == "a.tif_labels.old.tif"
    assert read_image(tmp_path / "out" / "labels" / "a_labels.tif").max() == 999
