"""A review loses nothing: exports, crashes, rewritten files and two sessions at once."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest

from napari_unet.core.errors import InputError
from napari_unet.core.images.io import write_image
from napari_unet.core.review.export import export_review
from napari_unet.core.review.session import Review


def _accepted(tmp_path, names=("a", "b"), shape=(32, 32)) -> Review:
    images = tmp_path / "images"
    images.mkdir(parents=True, exist_ok=True)
    labels = np.zeros(shape, np.int32)
    labels[4:12, 4:12] = 1
    for name in names:
        write_image(images / f"{name}.tif", np.full(shape, 100, np.uint16))
    review = Review(images, tmp_path / "out")
    for name in review.names:
        review.check_hash(name)  # as the dock does when it shows an image
        review.save_labels(name, labels)
        review.set_status(name, "accepted")
    review.save()
    return review


def test_an_export_never_deletes_what_it_did_not_write(tmp_path):
    """Images in OUTPUT/export/plate1 were deleted by the first export."""
    plate = tmp_path / "export" / "plate1"
    plate.mkdir(parents=True)
    write_image(plate / "a.tif", np.zeros((16, 16), np.uint8))
    with pytest.raises(InputError, match="holds the images under review"):
        Review(plate, tmp_path)
    masks = tmp_path / "out" / "export" / "cellpose"  # another tool's labels kept there
    masks.mkdir(parents=True)
    with pytest.raises(InputError, match="labels folder .* inside the output folder"):
        Review(plate, tmp_path / "out", labels_folder=masks)
    review = _accepted(tmp_path / "second")
    notes = review.output / "export" / "notes.txt"
    notes.parent.mkdir()
    notes.write_text("mine")
    with pytest.raises(InputError, match="notes.txt, which no export wrote"):
        export_review(review)
    assert notes.read_text() == "mine"
    notes.unlink()
    export_review(review)
    assert export_review(review).images == 2  # its own export is replaced


def test_an_image_changed_or_unreadable_since_review_is_left_out_and_named(tmp_path):
    """Before, a rewritten image's new pixels were measured under the old labels, and one
    image that could not be measured stopped the whole export without naming it."""
    review = _accepted(tmp_path, names=("a", "b", "c"))
    write_image(review.path("a.tif"), np.full((32, 32), 250, np.uint16))  # re-acquired
    review.entries["c.tif"].hash = None  # accepted through the API, never hashed
    write_image(review.path("c.tif"), np.zeros((40, 40), np.uint16))  # another size
    result = export_review(review)
    assert result.images == 1 and set(result.skipped) == {"a.tif", "c.tif"}
    assert "changed since it was reviewed (check its labels again): a.tif" in result.report
    assert "could not be measured" in result.report and "c.tif" in result.report
    summary = (result.folder / "summary.csv").read_text()
    assert "b.tif" in summary and "a.tif" not in summary


def test_an_export_folder_that_is_a_link_is_written_through(tmp_path):
    review = _accepted(tmp_path)
    elsewhere = tmp_path / "bigdisk" / "export"
    elsewhere.mkdir(parents=True)
    (review.output / "export").symlink_to(elsewhere, target_is_directory=True)
    result = export_review(review)  # before: IsADirectoryError
    assert result.images == 2 and (review.output / "export").is_symlink()
    assert sorted(p.name for p in (elsewhere / "labels").iterdir()) == [
        "a_labels.tif",
        "b_labels.tif",
    ]


KILLED_SWAP = """
import os, sys
import numpy as np
from napari_unet.core.files import atomic_folder
path = sys.argv[1]
real = os.replace
def replace(a, b):
    real(a, b)
    if os.path.basename(str(a)) == os.path.basename(path):  # the old store renamed aside
        os._exit(9)
os.replace = replace
with atomic_folder(path) as tmp:
    (tmp / "new").write_text("new")
"""


def test_a_store_swapped_when_the_process_died_comes_back(tmp_path):
    """Killed between atomic_folder's two renames, the old store was deleted as stale."""
    from napari_unet.core.files import atomic_folder, recover_folder

    store = tmp_path / "big_labels.zarr"
    with atomic_folder(store) as tmp:
        (tmp / "old").write_text("old")
    script = tmp_path / "swap.py"
    script.write_text(KILLED_SWAP)
    assert subprocess.run([sys.executable, str(script), str(store)]).returncode == 9
    assert not store.exists()
    assert recover_folder(store) and (store / "old").read_text() == "old"
    # and a next write after such a crash starts from the old store, not from nothing
    assert subprocess.run([sys.executable, str(script), str(store)]).returncode == 9
    with atomic_folder(store) as tmp:
        (tmp / "third").write_text("third")
    assert sorted(p.name for p in store.iterdir()) == ["third"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_reviewed_zarr_labels_left_aside_by_a_crash_are_found(tmp_path, monkeypatch):
    from napari_unet.core.review import session

    monkeypatch.setattr(session, "ZARR_PIXELS", 100)
    review = _accepted(tmp_path, names=("a",))
    store = review.labels_path("a.tif")
    assert store.suffix == ".zarr" and store.is_dir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    os.replace(store, store.with_name(f".{store.name}.{dead.pid}.abcd.old.tmp"))
    labels, source = Review(review.images, review.output).stored_labels("a.tif", None)
    assert source == "reviewed" and labels.max() == 1


def test_editing_an_accepted_image_makes_it_corrected(tmp_path):
    review = _accepted(tmp_path, names=("a",))
    review.mark_edited("a.tif")
    assert review.entries["a.tif"].status == "corrected"


def test_two_sessions_on_one_folder_keep_each_others_verdicts(tmp_path):
    review = _accepted(tmp_path, names=("a", "b"))
    one, two = Review(review.images, review.output), Review(review.images, review.output)
    one.set_status("a.tif", "rejected")
    one.save()
    two.set_status("b.tif", "needs-work")
    two.save()  # before: wrote a.tif back as "accepted"
    again = Review(review.images, review.output)
    assert again.entries["a.tif"].status == "rejected"
    assert again.entries["b.tif"].status == "needs-work"
    assert two.entries["a.tif"].status == "rejected"


@pytest.mark.parametrize("reviewing", [False, True])
def test_the_later_of_two_verdicts_in_one_second_wins(tmp_path, reviewing):
    """Before, verdicts were stamped to the second: B's later "rejected" tied with A's
    "accepted", and A's idle autosave put "accepted" back."""
    review = _accepted(tmp_path, names=("a",))
    one, two = Review(review.images, review.output), Review(review.images, review.output)
    one.set_status("a.tif", "needs-work")
    one.save()
    two.set_status("a.tif", "rejected")
    two.save()
    if reviewing:  # A still shows the image: its reviewer time grows
        one.add_time("a.tif", 2.0)
    one.save()  # the dock's autosave, no new verdict
    assert Review(review.images, review.output).entries["a.tif"].status == "rejected"
    assert one.entries["a.tif"].status == "rejected"


def test_a_new_prediction_updates_the_object_count(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    write_image(images / "a.tif", np.zeros((32, 32), np.uint8))
    review = Review(images, tmp_path / "out")
    one, three = np.zeros((32, 32), np.int32), np.zeros((32, 32), np.int32)
    one[2:6, 2:6] = 1
    three[2:6, 2:6], three[10:14, 10:14], three[20:24, 20:24] = 1, 2, 3
    review.save_prediction("a.tif", one, "old", "nuclei")
    review.forget_predictions()
    review.save_prediction("a.tif", three, "new", "retrained")
    assert review.entries["a.tif"].objects == 3
    review.save_labels("a.tif", one)  # reviewed labels count, whatever is predicted later
    review.save_prediction("a.tif", three, "newer", "again")
    assert review.entries["a.tif"].objects == 1


def test_huge_unsigned_ids_are_measured_as_they_are():
    from napari_unet.core.review.measure import measure_objects

    labels = np.zeros((40, 40), np.uint64)
    labels[1:5, 1:5] = 4_000_000_000
    labels[10:20, 10:20] = 2**63 + 5
    labels[25:30, 25:30] = 2**64 - 1
    table = measure_objects(labels)
    assert [int(v) for v in table["label"]] == [4_000_000_000, 2**63 + 5, 2**64 - 1]
    assert list(table["area"]) == [16, 100, 25]


@pytest.fixture(scope="module")
def tiny_model():
    from napari_unet.core.models import build_model
    from napari_unet.core.training.config import TrainConfig

    return build_model(TrainConfig(model="tiny").model), {}


def test_the_prefetcher_reads_again_a_rewritten_or_repaired_file(tmp_path, tiny_model):
    """Shown from memory, a rewritten image kept its old pixels and no warning; an image
    that failed once (still being copied) stayed failed for the whole session."""
    from napari_unet.core.review.prefetch import Prefetcher

    review = _accepted(tmp_path, names=("a", "b"))
    good = review.path("b.tif").read_bytes()
    review.path("b.tif").write_bytes(good[:200])  # still being copied
    pf = Prefetcher(review, *tiny_model, "tiny")
    try:
        pf.want(["a.tif", "b.tif"])
        _wait(lambda: pf.get("a.tif") is not None and pf.error("b.tif"))
        assert pf.get("a.tif").image.max() == 100 and pf.get("a.tif").warning is None
        write_image(review.path("a.tif"), np.full((32, 32), 7, np.uint16))
        review.path("b.tif").write_bytes(good)
        pf.want(["a.tif", "b.tif"])
        _wait(lambda: pf.get("a.tif") is not None and pf.get("b.tif") is not None)
        item = pf.get("a.tif")
        assert item.image.max() == 7 and "changed since it was reviewed" in item.warning
        assert pf.error("b.tif") is None
    finally:
        pf.close()


def _wait(cond, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.mark.parametrize("save", ["save_labels", "save_prediction"])
def test_counting_saved_labels_leaves_the_review_free(tmp_path, monkeypatch, save):
    """The writer thread counted a big image's cells under the review's lock, so the GUI
    thread's autosave (adding the time spent) waited for it: 2.2 s at 8192 x 8192."""
    import threading

    from napari_unet.core.review import session

    review = _accepted(tmp_path)
    counting, release, real = threading.Event(), threading.Event(), session.count_cells

    def slow_count(labels):
        counting.set()
        release.wait(10)
        return real(labels)

    monkeypatch.setattr(session, "count_cells", slow_count)
    labels = np.zeros((32, 32), np.int32)
    labels[2:9, 2:9] = 7
    args = (review.names[0], labels) + (("key", "model") if save == "save_prediction" else ())
    writer = threading.Thread(target=getattr(review, save), args=args)
    writer.start()
    try:
        assert counting.wait(10)
        added = threading.Thread(target=review.add_time, args=(review.names[0], 3.0))
        added.start()
        added.join(5)
        assert not added.is_alive()  # not waiting for the count
    finally:
        release.set()
        writer.join(10)
    assert review.entries[review.names[0]].objects == 1
