"""The review after a third bug hunt: the user's files in an export, an output folder gone."""

from __future__ import annotations

import json
import shutil
import tempfile

import numpy as np
import pytest

from napari_unet.core.errors import InputError
from napari_unet.core.images.io import read_image, write_image
from napari_unet.core.review.export import export_review
from napari_unet.core.review.session import Review


def _images(folder, names=("a", "b", "c")):
    folder.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(names):
        write_image(folder / f"{name}.tif", np.full((32, 32), 100 + k, np.uint16))
    return folder


def _labels():
    lab = np.zeros((32, 32), np.int32)
    lab[4:12, 4:12] = 1
    lab[16:28, 16:28] = 2
    return lab


def _reviewed(tmp_path):
    review = Review(_images(tmp_path / "images"), tmp_path / "out")
    for name in review.names:
        review.save_labels(name, _labels())
        review.set_status(name, "accepted")
    review.save()
    return review


def _statuses(path):
    return {k: v["status"] for k, v in json.loads(path.read_text())["images"].items()}


@pytest.mark.parametrize(
    "user_file", ["measurements/my_statistics_by_hand.csv", "labels/fiji_fixed_labels.tif"]
)
def test_an_export_refuses_to_delete_the_users_files_in_its_folders(tmp_path, user_file):
    review = _reviewed(tmp_path)
    export_review(review)
    folder = review.output / "export"
    mine = folder / user_file
    if mine.suffix == ".csv":
        mine.write_text("group,mean\nctrl,12\n", encoding="utf-8")
    else:
        write_image(mine, _labels())
    before = mine.read_bytes()
    with pytest.raises(InputError, match=mine.name) as info:
        export_review(review)
    assert "no export wrote" in str(info.value)
    assert mine.read_bytes() == before  # still there, untouched
    assert (folder / "labels" / "a_labels.tif").exists()  # the last export too


def test_an_export_replaces_its_own_files_and_drops_a_rejected_images(tmp_path):
    review = _reviewed(tmp_path)
    export_review(review)
    folder = review.output / "export"
    review.set_status("b.tif", "rejected")
    result = export_review(review)  # again: its own files are replaced
    assert result.images == 2
    assert sorted(p.name for p in (folder / "labels").iterdir()) == ["a_labels.tif", "c_labels.tif"]
    assert sorted(p.name for p in (folder / "measurements").iterdir()) == ["a.csv", "c.csv"]
    assert "1 rejected" in (folder / "report.txt").read_text(encoding="utf-8")
    export_review(review)  # and again


def test_an_older_export_without_a_list_owns_only_the_files_of_its_images(tmp_path):
    review = _reviewed(tmp_path)
    export_review(review)
    folder = review.output / "export"
    (folder / "export-files.json").unlink(missing_ok=True)  # as an older version left it
    review.set_status("b.tif", "rejected")
    export_review(review)  # the files named after the images are its own: replaced
    assert not (folder / "labels" / "b_labels.tif").exists()
    (folder / "export-files.json").unlink(missing_ok=True)
    notes = folder / "measurements" / "my_statistics_by_hand.csv"
    notes.write_text("group,mean\nctrl,12\n", encoding="utf-8")
    with pytest.raises(InputError, match="my_statistics_by_hand.csv"):
        export_review(review)
    assert notes.exists()


def test_an_output_folder_gone_mid_review_is_made_again_by_the_next_save(tmp_path):
    review = Review(_images(tmp_path / "images"), tmp_path / "out")
    review.set_status("a.tif", "accepted")
    review.save()
    shutil.rmtree(review.output)  # moved away, or a share remounted empty
    review.set_status("b.tif", "rejected")
    review.save()
    assert _statuses(review.review_file) == {
        "a.tif": "accepted",
        "b.tif": "rejected",
        "c.tif": "unreviewed",
    }


def test_a_review_file_that_cannot_be_written_is_tried_again_and_rescued(tmp_path, monkeypatch):
    from napari_unet.core.review.writer import Writer, rescue_folder

    monkeypatch.setattr(tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    review = Review(_images(tmp_path / "images"), tmp_path / "out")
    tries, errors = [], []
    real_save = review.save

    def failing_save():
        tries.append(1)
        raise OSError("the share went away")

    monkeypatch.setattr(review, "save", failing_save)
    writer = Writer(review, on_error=errors.append)
    review.set_status("a.tif", "accepted")
    writer.save_review()
    writer.flush()
    assert errors
    review.set_status("b.tif", "corrected")
    writer.save_labels("b.tif", _labels())  # its labels are written; the review file not
    writer.flush()
    assert not writer.close()  # the review file was tried again, and failed
    assert len(tries) >= 3
    paths = writer.rescue(rescue_folder(review.output))
    rescued = rescue_folder(review.output) / "review.json"
    assert paths == [rescued]
    assert str(rescued).startswith(str(tmp_path / "tmp"))
    assert _statuses(rescued) == {"a.tif": "accepted", "b.tif": "corrected", "c.tif": "unreviewed"}
    assert not review.review_file.exists()
    assert read_image(review.labels_path("b.tif"), labels=True).max() == 2
    monkeypatch.setattr(review, "save", real_save)


def test_a_failed_review_file_write_is_written_by_the_next_write(tmp_path, monkeypatch):
    from napari_unet.core.review.writer import Writer

    review = Review(_images(tmp_path / "images"), tmp_path / "out")
    real_save, fail = review.save, [True]

    def save():
        if fail[0]:
            raise OSError("the share went away")
        return real_save()

    monkeypatch.setattr(review, "save", save)
    writer = Writer(review)
    review.set_status("a.tif", "rejected")
    writer.save_review()
    writer.flush()
    assert not review.review_file.exists()
    fail[0] = False  # the share is back
    writer.save_labels("b.tif", _labels(), then_review=False)  # not a review file write
    writer.flush()
    assert _statuses(review.review_file)["a.tif"] == "rejected"
    assert not writer.review_failed
    assert writer.close()


def test_the_export_summary_keeps_status_second_with_a_stack(tmp_path):
    """A stack beside 2D images: planes goes after status (measure's rule put it before)."""
    _images(tmp_path / "images", ("a",))
    write_image(tmp_path / "images" / "b.tif", np.full((2, 32, 32), 100, np.uint16))
    review = Review(tmp_path / "images", tmp_path / "out")
    review.save_labels("a.tif", _labels())
    review.save_labels("b.tif", np.stack([_labels(), _labels()]))
    for name in review.names:
        review.set_status(name, "accepted")
    review.save()
    export_review(review)
    header = (tmp_path / "out" / "export" / "summary.csv").read_text().splitlines()[0]
    assert header.startswith("image,status,planes,objects"), header


def test_an_ome_zarr_image_is_measured_in_micrometres(tmp_path):
    """Before, the export (and the dock's table) read TIFF metadata only: an OME-Zarr image's
    objects were in pixels, where ``napari-unet measure`` gave micrometres."""
    import csv

    import zarr

    folder = tmp_path / "images"
    folder.mkdir()
    group = zarr.open_group(str(folder / "cells.ome.zarr"), mode="w", zarr_format=2)
    group.create_array("0", data=np.full((32, 32), 100, np.uint16), chunks=(32, 32))
    axes = [{"name": a, "type": "space", "unit": "micrometer"} for a in "yx"]
    level = {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [0.5, 0.5]}]}
    group.attrs["multiscales"] = [{"version": "0.4", "axes": axes, "datasets": [level]}]
    review = Review(folder, tmp_path / "out")
    (name,) = review.names
    review.save_labels(name, _labels())
    review.set_status(name, "accepted")
    result = export_review(review)
    (table,) = (result.folder / "measurements").glob("*.csv")
    rows = list(csv.DictReader(table.open(encoding="utf-8")))
    assert [float(r["area_um2"]) for r in rows] == [64 * 0.25, 144 * 0.25]
    exported = result.folder / "labels"
    from napari_unet.core.images.pixels import read_pixel_size

    assert read_pixel_size(next(exported.iterdir())) == pytest.approx((0.5, 0.5))
