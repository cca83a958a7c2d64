"""The review of a folder (core): review file, resume, label lookup, prefetching, export."""

from __future__ import annotations

import csv
import json
import time

import numpy as np
import pytest
from review_data import REVIEW_NAMES

from napari_unet.core.errors import InputError
from napari_unet.core.images.io import read_image, write_image
from napari_unet.core.review.session import Review, collect_images, label_candidates

NAMES = REVIEW_NAMES


@pytest.fixture
def folder(review_folder, shared_data):
    """The review folder and the folder of its ground-truth labels."""
    return review_folder, shared_data / "dsb2018_full" / "masks"


@pytest.fixture(scope="module")
def builtin():
    from napari_unet.core.models.modelfile import load_model
    from napari_unet.core.models.pretrained import pretrained_path

    return load_model(pretrained_path("nuclei"), device="cpu")


def test_review_file_resumes_statuses_times_and_the_current_image(folder, tmp_path):
    images, _ = folder
    review = Review(images, tmp_path / "out")
    assert review.names == [f"{n}.png" for n in NAMES]
    assert review.first_unreviewed() == 0
    review.set_status(review.names[0], "accepted")
    review.set_status(review.names[1], "rejected")
    review.add_time(review.names[2], 12.5)
    review.current = 2
    review.save()
    again = Review(images, tmp_path / "out")
    assert again.current == 2
    assert again.entries[again.names[0]].status == "accepted"
    assert again.entries[again.names[2]].seconds == 12.5
    assert again.first_unreviewed() == 2
    assert again.report().startswith("5 images: 3 unreviewed, 1 accepted, 1 rejected")
    with pytest.raises(InputError, match="status must be one of"):
        again.set_status(again.names[0], "great")


def test_output_never_beside_the_originals_and_twins_are_refused(folder, tmp_path):
    images, _ = folder
    with pytest.raises(InputError, match="holds the images under review"):
        Review(images, images)
    write_image(images / f"{NAMES[0]}.tif", np.zeros((8, 8), np.uint8))
    with pytest.raises(InputError, match="share the name"):
        Review(images, tmp_path / "out")
    with pytest.raises(InputError, match="no such file"):
        collect_images(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no"):
        collect_images(tmp_path / "empty")


def test_an_output_whose_labels_folder_holds_the_images_is_refused(tmp_path):
    project = tmp_path / "project"
    (project / "labels").mkdir(parents=True)
    image = write_image(project / "labels" / "a_labels.tif", np.ones((16, 16), np.uint8))
    write_image(project / "labels" / "a.tif", np.ones((16, 16), np.uint8))
    with pytest.raises(InputError, match="holds the images under review"):
        Review(project / "labels", project)  # saving a.tif's labels would replace a_labels.tif
    assert read_image(image).max() == 1


def test_an_export_holds_only_what_is_accepted_now(tmp_path):
    from napari_unet.core.review.export import export_review

    images = tmp_path / "images"
    images.mkdir()
    for name in ("a", "b"):
        write_image(images / f"{name}.tif", np.full((32, 32), 100, np.uint16))
    review = Review(images, tmp_path / "out")
    labels = np.zeros((32, 32), np.int32)
    labels[4:12, 4:12] = 1
    for name in ("a.tif", "b.tif"):
        review.save_labels(name, labels)
        review.set_status(name, "accepted")
    assert export_review(review).images == 2
    review.set_status("a.tif", "rejected")  # the reviewer changes their mind
    result = export_review(review)
    assert result.images == 1 and result.folder == tmp_path / "out" / "export"
    assert sorted(p.name for p in (result.folder / "labels").iterdir()) == ["b_labels.tif"]
    assert sorted(p.name for p in (result.folder / "measurements").iterdir()) == ["b.csv"]


def test_another_tools_labels_are_found_by_name(folder, tmp_path):
    images, masks = folder
    other = tmp_path / "cellpose"
    other.mkdir()
    truth = np.asarray(read_image(masks / f"{NAMES[1]}.tif"))
    write_image(other / f"{NAMES[1]}_cp_masks.png", truth.astype(np.uint16))
    write_image(other / f"{NAMES[2]}.tif", np.zeros((4, 4, 3), np.uint8))  # not labels
    assert label_candidates("a")[0] == "a_labels.tif"
    review = Review(images, tmp_path / "out", labels_folder=other)
    labels, source = review.stored_labels(review.names[1], None)
    assert source == f"file {NAMES[1]}_cp_masks.png"
    np.testing.assert_array_equal(labels, truth)
    assert review.stored_labels(review.names[0], None) is None
    with pytest.raises(InputError, match="RGB"):
        review.stored_labels(review.names[2], None)


def test_a_changed_image_is_flagged(folder, tmp_path):
    images, _ = folder
    review = Review(images, tmp_path / "out")
    name = review.names[0]
    assert review.check_hash(name) is None
    review.set_status(name, "accepted")
    path = images / name
    write_image(path, 255 - np.asarray(read_image(path)))
    assert "changed since it was reviewed" in review.check_hash(name)
    assert "changed since it was reviewed" in review.check_hash(name)  # until judged again
    review.set_status(name, "corrected")
    assert review.check_hash(name) is None


def test_prefetcher_predicts_ahead_like_the_predict_command(folder, tmp_path, builtin):
    from napari_unet.core.inference.segment import segment
    from napari_unet.core.review.prefetch import Prefetcher

    images, _ = folder
    model, meta = builtin
    review = Review(images, tmp_path / "out")
    ready: list[str] = []
    pf = Prefetcher(review, model, meta, "nuclei", cache=2, queue_all=True, on_ready=ready.append)
    try:
        pf.want(review.names[:3])
        deadline = time.monotonic() + 120
        while (pf.pending() or pf.busy) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sorted(ready) == review.names  # the whole folder, the wanted ones first
        assert ready[:2] == review.names[:2]
        assert len(pf._cache) <= 2  # memory: the cache, not the folder
        item = pf.get(review.names[0])
        expected = segment(model, np.asarray(read_image(images / review.names[0])), metadata=meta)
        np.testing.assert_array_equal(item.labels, expected)
        assert item.source == "prediction (nuclei)"
        assert pf.get(review.names[4]) is None  # predicted to disk only
        cached = np.asarray(read_image(review.prediction_path(review.names[4])))
        assert cached.shape == (256, 320) and cached.max() > 5
    finally:
        assert pf.close()
    # Reopened: the cached predictions of the same model are used, nothing is predicted.
    again = Review(images, tmp_path / "out")
    pf2 = Prefetcher(again, model, meta, "nuclei", cache=1)
    try:
        assert again.entries[again.names[4]].predicted_with == pf2.key
        labels, source = again.stored_labels(again.names[4], pf2.key)
        np.testing.assert_array_equal(labels, cached)
    finally:
        pf2.close()


def test_prefetcher_reports_unreadable_images_and_closes_mid_prediction(folder, tmp_path, builtin):
    from napari_unet.core.review.prefetch import Prefetcher

    images, _ = folder
    (images / "zz_broken.png").write_bytes(b"not a png")
    model, meta = builtin
    review = Review(images, tmp_path / "out")
    errors: list[tuple[str, str]] = []
    pf = Prefetcher(review, model, meta, "nuclei", on_error=lambda *a: errors.append(a))
    pf.want(["zz_broken.png"])
    deadline = time.monotonic() + 30
    while not errors and time.monotonic() < deadline:
        time.sleep(0.05)
    assert errors and errors[0][0] == "zz_broken.png"
    assert pf.error("zz_broken.png")
    pf.want(review.names[:1])
    t0 = time.monotonic()
    assert pf.close(timeout=30)
    assert time.monotonic() - t0 < 10


def test_writer_saves_in_order_and_export_measures_the_reviewed_labels(folder, tmp_path):
    from napari_unet.core.review.export import export_review
    from napari_unet.core.review.measure import measure_objects
    from napari_unet.core.review.writer import Writer

    images, masks = folder
    review = Review(images, tmp_path / "out")
    writer = Writer(review)
    truths = {}
    for i, name in enumerate(review.names[:3]):
        truth = np.asarray(read_image(masks / f"{NAMES[i]}.tif"))
        truths[name] = truth
        writer.save_labels(name, np.zeros_like(truth))
        writer.save_labels(name, truth)  # the later save wins
    review.set_status(review.names[0], "accepted")
    review.set_status(review.names[1], "corrected")
    review.set_status(review.names[2], "rejected")
    assert writer.close()
    assert writer.writes == 6
    saved = json.loads(review.review_file.read_text())
    assert (
        saved["images"][review.names[0]]["objects"] == len(np.unique(truths[review.names[0]])) - 1
    )
    result = export_review(review)
    assert result.images == 2
    assert result.report.startswith("5 images: 2 unreviewed, 1 accepted, 1 corrected, 1 rejected")
    out = review.output / "export"
    assert sorted(p.name for p in (out / "labels").iterdir()) == [
        f"{NAMES[0]}_labels.tif", f"{NAMES[1]}_labels.tif",
    ]  # fmt: skip
    with open(out / "measurements" / f"{NAMES[1]}.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    image = np.asarray(read_image(images / review.names[1]))
    table = measure_objects(truths[review.names[1]], image)
    assert [int(r["label"]) for r in rows] == list(table["label"])
    np.testing.assert_allclose([float(r["area"]) for r in rows], table["area"])
    with open(out / "summary.csv", newline="") as f:
        summary = list(csv.DictReader(f))
    assert [(r["image"], r["status"]) for r in summary] == [
        (review.names[0], "accepted"), (review.names[1], "corrected"),
    ]  # fmt: skip
    assert int(summary[1]["objects"]) == len(table["label"])


KILLED_WRITER = """
import sys
import numpy as np
from napari_unet.core.review.session import Review
from napari_unet.core.review.writer import Writer

review = Review(sys.argv[1], sys.argv[2])
writer = Writer(review)
rng = np.random.default_rng(int(sys.argv[3]))
print("ready", flush=True)
while True:
    for name in review.names:
        labels = rng.integers(0, 200, (1536, 1536), dtype=np.int32)
        review.add_time(name, 1.0)
        review.set_status(name, "corrected")
        writer.save_labels(name, labels)
    writer.flush()
"""


def test_killing_the_process_during_autosave_leaves_every_file_loadable(folder, tmp_path):
    import subprocess
    import sys

    images, out = tmp_path / "big", tmp_path / "out"
    images.mkdir()
    for name in ("a", "b"):  # images of the labels' size: save_labels refuses others
        write_image(images / f"{name}.tif", np.full((1536, 1536), 100, np.uint16))
    script = tmp_path / "writer.py"
    script.write_text(KILLED_WRITER)
    rng = np.random.default_rng(0)
    for round_ in range(4):
        proc = subprocess.Popen(
            [sys.executable, str(script), str(images), str(out), str(round_)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert proc.stdout.readline().strip() == "ready"
            deadline = time.monotonic() + 120
            while not list(out.glob("labels/*.tif")) and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(float(rng.uniform(0.0, 0.5)))
            while not list(out.glob("labels/.*.tmp")) and time.monotonic() < deadline:
                time.sleep(0.001)  # kill while a label file is being written
        finally:
            proc.kill()
            proc.wait(30)
        saved = sorted((out / "labels").glob("*_labels.tif"))
        for path in saved:  # each file is whole: an old or a new version, never a partial one
            labels = np.asarray(read_image(path))
            assert labels.shape == (1536, 1536) and labels.dtype == np.int32
        state = json.loads((out / "review.json").read_text()) if saved else None
        review = Review(images, out)  # reopens
        if state is not None:
            assert set(state["images"]) == set(review.names)
    assert saved, "the writer never got to write a file"


def test_ome_tiff_names_match_the_predict_commands_output(tmp_path):
    images, other = tmp_path / "images", tmp_path / "predictions"
    images.mkdir()
    other.mkdir()
    write_image(images / "plate.ome.tif", np.zeros((16, 16), np.uint16))
    truth = np.zeros((16, 16), np.int32)
    truth[2:6, 2:6] = 1
    write_image(other / "plate.ome_labels.tif", truth)  # what napari-unet predict writes
    review = Review(images, tmp_path / "out", labels_folder=other)
    labels, source = review.stored_labels("plate.ome.tif", None)
    assert source == "file plate.ome_labels.tif"
    np.testing.assert_array_equal(labels, truth)


def test_a_failed_write_is_kept_retried_and_rescued(folder, tmp_path, monkeypatch):
    from napari_unet.core.review.writer import Writer

    images, _ = folder
    review = Review(images, tmp_path / "out")
    errors: list[Exception] = []
    writer = Writer(review, on_error=errors.append)
    real, broken = review.save_labels, [True]

    def save(name, labels):
        if broken[0]:
            raise OSError("No space left on device")
        return real(name, labels)

    monkeypatch.setattr(review, "save_labels", save)
    labels = np.full((256, 256), 3, np.int32)
    writer.save_labels(review.names[0], labels)
    assert writer.flush()
    assert writer.failed == [review.names[0]] and len(errors) == 1
    assert writer.unsaved(review.names[0]) is labels  # still held for whoever shows it
    rescued = writer.rescue(tmp_path / "rescue")
    assert [p.name for p in rescued] == [f"{NAMES[0]}_labels.tif"]
    np.testing.assert_array_equal(read_image(rescued[0]), labels)
    broken[0] = False
    writer.save_review()  # any later write tries the failed one again first
    assert writer.close()
    assert writer.failed == [] and writer.unsaved(review.names[0]) is None
    np.testing.assert_array_equal(read_image(review.labels_path(review.names[0])), labels)


def test_a_changed_image_is_predicted_again_not_shown_the_old_prediction(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    write_image(images / "a.tif", rng.integers(0, 255, (32, 32), dtype=np.uint8))
    review = Review(images, tmp_path / "out")
    assert review.check_hash("a.tif") is None
    old = np.zeros((32, 32), np.int32)
    old[4:10, 4:10] = 1
    review.save_prediction("a.tif", old, "key", "nuclei")
    assert review.stored_labels("a.tif", "key")[1] == "prediction (nuclei)"
    review.save()
    write_image(images / "a.tif", rng.integers(0, 255, (32, 32), dtype=np.uint8))  # re-acquired
    again = Review(images, tmp_path / "out")
    assert again.check_hash("a.tif") is None  # unreviewed: nothing to warn about
    assert again.stored_labels("a.tif", "key") is None  # before: the old file's objects


def test_the_prefetcher_estimates_the_object_size_as_the_predict_command_does(tmp_path, builtin):
    """Nuclei 2.5 times the model's size: the review shows what ``napari-unet predict`` gives
    (the object size estimated, the image rescaled), not the prediction at the image's scale."""
    from scipy import ndimage as ndi

    import napari_unet as nu
    from napari_unet.core.review.prefetch import Prefetcher

    model, meta = builtin
    image = ndi.zoom(nu.nuclei_data()[0].astype(np.float32), 2.5, order=1).astype(np.uint8)
    images = tmp_path / "images"
    images.mkdir()
    write_image(images / "big.tif", image)
    review = Review(images, tmp_path / "out")
    pf = Prefetcher(review, model, meta, "nuclei", cache=1)
    try:
        pf.want(review.names[:1])
        deadline = time.monotonic() + 120
        while (pf.pending() or pf.busy) and time.monotonic() < deadline:
            time.sleep(0.05)
        labels = pf.get("big.tif").labels
    finally:
        assert pf.close()
    np.testing.assert_array_equal(labels, nu.segment(model, image, metadata=meta))
    assert not np.array_equal(labels, nu.segment(model, image, metadata=meta, object_size=None))
