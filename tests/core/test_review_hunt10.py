"""The review after a tenth bug hunt: a Zarr image's hash, and a save while labels are counted."""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pytest

from napari_unet.core.images.io import write_image
from napari_unet.core.review import session
from napari_unet.core.review.export import export_review
from napari_unet.core.review.folders import file_hash
from napari_unet.core.review.session import Review

pytest.importorskip("zarr")

SIDE = 32


def _labels():
    lab = np.zeros((SIDE, SIDE), np.int32)
    lab[4:12, 4:12] = 1
    lab[16:28, 16:28] = 2
    return lab


def _ome_image(path, version="0.4"):
    """A small OME-Zarr image (four chunks) of NGFF ``version`` (Zarr v2 or v3)."""
    import zarr

    fmt = 3 if version == "0.5" else 2
    group = zarr.open_group(str(path), mode="w", zarr_format=fmt)
    pixels = np.arange(SIDE * SIDE, dtype=np.uint16).reshape(SIDE, SIDE)
    group.create_array("0", data=pixels, chunks=(SIDE // 2, SIDE // 2))
    axes = [{"name": a, "type": "space", "unit": "micrometer"} for a in "yx"]
    level = {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1, 1]}]}
    multiscales = [{"axes": axes, "datasets": [level]}]
    if fmt == 3:
        group.attrs["ome"] = {"version": version, "multiscales": multiscales}
    else:
        group.attrs["multiscales"] = [{"version": version, **multiscales[0]}]
    return path


def _add_label_image(image, version="0.4", name="nuclei"):
    """What ``napari-unet slide`` does to an image: a label image in ``image/labels``."""
    from napari_unet.core.images import omezarr

    arrays = omezarr.create_labels(
        image / "labels" / name, (SIDE, SIDE), (SIDE, SIDE), 1, name=name, version=version,
        source="../../",
    )  # fmt: skip
    arrays[0][...] = _labels()
    omezarr.add_label_name(image, name, version)


def _accepted(tmp_path, version="0.4"):
    folder = tmp_path / "images"
    folder.mkdir()
    image = _ome_image(folder / "cells.ome.zarr", version)
    review = Review(folder, tmp_path / "out")
    (name,) = review.names
    assert review.check_hash(name) is None  # what the dock does when it shows the image
    review.save_labels(name, _labels())
    review.set_status(name, "accepted")
    review.save()
    return review, name, image


@pytest.mark.parametrize("version", ["0.4", "0.5"])
def test_a_label_image_written_into_an_accepted_zarr_image_is_no_change(tmp_path, version):
    """Before, the store's hash held every file's time, ``labels`` included: ``slide``
    writing its labels into the image flagged it changed, and the export left it out."""
    review, name, image = _accepted(tmp_path, version)
    _add_label_image(image, version)
    assert not review.changed_since_review(name)
    assert review.check_hash(name) is None
    result = export_review(review)
    assert result.images == 1
    assert len(list((result.folder / "labels").iterdir())) == 1


def test_copied_folders_keep_their_accepted_zarr_images(tmp_path):
    """Before, ``cp -r`` of the image and output folders (new times) flagged every one."""
    review, name, image = _accepted(tmp_path)
    _add_label_image(image)
    review.save()
    copy = tmp_path / "copy"
    for sub in ("images", "out"):
        shutil.copytree(tmp_path / sub, copy / sub, copy_function=shutil.copy)
    moved = Review(copy / "images", copy / "out")
    assert not moved.changed_since_review(name)
    assert moved.check_hash(name) is None
    assert export_review(moved).images == 1


def test_changed_pixels_of_a_zarr_image_are_still_a_change(tmp_path):
    import zarr

    review, name, image = _accepted(tmp_path)
    array = zarr.open_array(str(image / "0"), mode="r+")
    array[0, 0] = 999  # one chunk's bytes
    assert review.changed_since_review(name)
    assert "changed since it was reviewed" in review.check_hash(name)
    assert export_review(review).images == 0


def test_a_renamed_chunk_is_a_change(tmp_path):
    review, name, image = _accepted(tmp_path)
    chunks = sorted(p for p in (image / "0").iterdir() if not p.name.startswith("."))
    first, second = chunks[0], chunks[1]
    tmp = first.with_name("swap")
    first.rename(tmp)
    second.rename(first)
    tmp.rename(second)
    assert review.changed_since_review(name)


def _stamp_hash(store) -> str:
    """The hash the versions before gave a store (names, sizes and times of its files)."""
    h = hashlib.blake2b(digest_size=16)
    for q in sorted(store.rglob("*")):
        if q.is_file():
            st = q.stat()
            h.update(f"{q.relative_to(store)}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


def test_a_review_file_of_an_older_version_flags_no_zarr_image(tmp_path):
    """A review.json of a version that hashed times: upgrading must not flag every image."""
    review, name, image = _accepted(tmp_path)
    text = json.loads(review.review_file.read_text(encoding="utf-8"))
    text["images"][name]["hash"] = _stamp_hash(image)
    review.review_file.write_text(json.dumps(text), encoding="utf-8")
    reopened = Review(tmp_path / "images", tmp_path / "out")
    assert not reopened.changed_since_review(name)
    assert export_review(reopened).images == 1
    assert reopened.check_hash(name) is None
    assert reopened.entries[name].hash == file_hash(image)  # stored in the new way
    assert reopened.entries[name].status == "accepted"


def test_a_bioformats2raw_layout_leaves_out_the_labels_of_its_image(tmp_path):
    import zarr

    root = tmp_path / "slide.zarr"
    zarr.open_group(str(root), mode="w", zarr_format=2).attrs["bioformats2raw.layout"] = 3
    image = _ome_image(root / "0")
    before = file_hash(root), file_hash(image)
    _add_label_image(image)
    assert (file_hash(root), file_hash(image)) == before


def test_a_tiff_image_is_still_hashed_by_its_bytes(tmp_path):
    path = write_image(tmp_path / "a.tif", np.ones((SIDE, SIDE), np.uint16))
    before = file_hash(path)
    write_image(path, np.ones((SIDE, SIDE), np.uint16))
    assert file_hash(path) == before
    write_image(path, np.full((SIDE, SIDE), 2, np.uint16))
    assert file_hash(path) != before


def test_a_save_while_labels_are_counted_keeps_their_source_and_count(tmp_path, monkeypatch):
    """Before, a save (the writer thread, the prefetcher) while a label file's objects were
    counted put the file's copy of the entry in place: the count went to the old one, and
    the status line said "None objects from the model"."""
    folder, labels_in = tmp_path / "images", tmp_path / "labels_in"
    folder.mkdir()
    labels_in.mkdir()
    write_image(folder / "cell.tif", np.full((SIDE, SIDE), 100, np.uint16))
    write_image(labels_in / "cell_labels.tif", _labels())
    review = Review(folder, tmp_path / "out", labels_in)
    review.save()
    real = session.count_cells

    def count_then_save(labels):
        counted = real(labels)
        review.save()  # another thread's save, at the worst moment
        return counted

    monkeypatch.setattr(session, "count_cells", count_then_save)
    labels, source = review.stored_labels("cell.tif", None)
    entry = review.entries["cell.tif"]
    assert (source, entry.source, entry.objects) == ("file cell_labels.tif",) * 2 + (2,)
    review.save()
    saved = json.loads(review.review_file.read_text(encoding="utf-8"))["images"]["cell.tif"]
    assert (saved["source"], saved["objects"]) == ("file cell_labels.tif", 2)
