"""Review core: every image keeps files of its own, whatever names without suffix it has.

Before, ``a.tif`` (named in full: ``a.png`` had the stem ``a``) and ``a.tif.png`` (its stem is
``a.tif``) both saved their labels as ``labels/a.tif_labels.tif``: the second save overwrote
the first's reviewed labels, and the export measured ``a.tif`` with ``a.tif.png``'s labels.
"""

import csv

import numpy as np
import pytest
import tifffile

from napari_unet.cli import main
from napari_unet.core.errors import InputError
from napari_unet.core.images.io import read_image, write_image
from napari_unet.core.review.export import export_review
from napari_unet.core.review.session import Review


def squares(n: int) -> np.ndarray:
    """``n`` objects of 4 x 4 pixels in a row."""
    labels = np.zeros((32, 32), np.int32)
    for k in range(n):
        labels[2 + 6 * k : 6 + 6 * k, 2:6] = k + 1
    return labels


def _add(images, name, value):
    images.mkdir(exist_ok=True)
    write_image(images / name, np.full((32, 32), value, np.uint8))


def _judge(review, name, labels):
    review.check_hash(name)
    review.save_labels(name, labels)
    review.set_status(name, "accepted")
    review.save()


def _objects(path) -> int:
    return len(np.unique(np.asarray(read_image(path, labels=True)))) - 1


def _a_png_left(tmp_path):
    """a.png reviewed, then gone; a.tif (named in full, a_labels.tif is a.png's) and
    a.tif.png added: ``(images, out, review)``."""
    images, out = tmp_path / "images", tmp_path / "out"
    _add(images, "a.png", 10)
    _judge(Review(images, out), "a.png", squares(1))
    (images / "a.png").unlink()
    _add(images, "a.tif", 20)
    _add(images, "a.tif.png", 30)
    return images, out, Review(images, out)


def test_an_image_whose_stem_is_another_images_whole_name_keeps_its_own_labels(tmp_path):
    """The hunter's steps: a.png reviewed, then a.tif (named in full) and a.tif.png."""
    images, out, review = _a_png_left(tmp_path)
    paths = {n: (review.labels_path(n), review.prediction_path(n)) for n in review.names}
    assert paths["a.tif"][0].name == "a.tif_labels.tif"
    assert paths["a.tif.png"][0].name == "a.tif.png_labels.tif"  # before: a.tif_labels.tif
    assert paths["a.tif"][1] != paths["a.tif.png"][1]
    assert "the labels of a.tif.png are saved as a.tif.png_labels.tif" in review.report()
    _judge(review, "a.tif", squares(2))
    _judge(review, "a.tif.png", squares(3))  # before: over a.tif's reviewed labels
    labels = out / "labels"
    assert _objects(labels / "a_labels.tif") == 1  # a.png's, kept
    assert _objects(labels / "a.tif_labels.tif") == 2
    assert _objects(labels / "a.tif.png_labels.tif") == 3
    again = Review(images, out)  # the naming is for good
    assert again.labels_path("a.tif.png") == paths["a.tif.png"][0]
    assert again.stored_labels("a.tif", None)[0].max() == 2

    export_review(again)
    with open(out / "export" / "summary.csv", newline="") as f:
        rows = {r["image"]: r["objects"] for r in csv.DictReader(f)}
    assert rows == {"a.tif": "2", "a.tif.png": "3"}  # before: 3 and 3


def test_measure_and_evaluate_pair_each_reviewed_file_with_its_image(tmp_path, capsys):
    images, out, review = _a_png_left(tmp_path)
    _judge(review, "a.tif", squares(2))
    _judge(review, "a.tif.png", squares(3))
    export_review(review)
    csv_path = tmp_path / "objects.csv"
    assert main(["measure", str(out / "export" / "labels"), "--images", str(images),
                 "-o", str(csv_path)]) == 0  # fmt: skip
    with open(csv_path, newline="") as f:
        found = sorted((r["image"], r["mean_intensity"]) for r in csv.DictReader(f))
    assert found == [("a.tif", "20.0")] * 2 + [("a.tif.png", "30.0")] * 3
    gt = tmp_path / "gt"
    gt.mkdir()
    tifffile.imwrite(gt / "a.tif", squares(2))
    tifffile.imwrite(gt / "a.tif.png.tif", squares(3))  # named after the image a.tif.png
    capsys.readouterr()
    assert main(["evaluate", str(out / "export" / "labels"), str(gt)]) == 0
    table = capsys.readouterr().out
    rows = {w[0]: w[1:4] for w in map(str.split, table.splitlines()[1:]) if w and w[0][0] != "-"}
    assert rows["a.tif"] == ["2", "2", "1.0000"]  # its own labels, not a.tif.png's
    assert rows["a.tif.png"] == ["3", "3", "1.0000"]


def test_two_new_images_a_tif_and_a_tif_png_get_files_no_tool_confuses(tmp_path, capsys):
    """a.tif.png by its stem would be a.tif_labels.tif, which measure pairs with a.tif."""
    images, out = tmp_path / "images", tmp_path / "out"
    _add(images, "a.tif", 20)
    _add(images, "a.tif.png", 30)
    review = Review(images, out)
    assert review.labels_path("a.tif").name == "a_labels.tif"
    assert review.labels_path("a.tif.png").name == "a.tif.png_labels.tif"
    _judge(review, "a.tif", squares(2))
    _judge(review, "a.tif.png", squares(3))
    csv_path = tmp_path / "objects.csv"
    assert main(["measure", str(out / "labels"), "--images", str(images),
                 "-o", str(csv_path)]) == 0  # fmt: skip
    with open(csv_path, newline="") as f:
        found = sorted((r["image"], r["mean_intensity"]) for r in csv.DictReader(f))
    assert found == [("a", "20.0")] * 2 + [("a.tif.png", "30.0")] * 3


def test_reviewed_files_keep_their_names_when_an_image_arrives_later(tmp_path):
    images, out = tmp_path / "images", tmp_path / "out"
    _add(images, "a.tif.png", 30)  # alone: named by its stem, as before
    _judge(Review(images, out), "a.tif.png", squares(3))
    _add(images, "a.tif", 20)
    review = Review(images, out)
    assert review.labels_path("a.tif.png").name == "a.tif_labels.tif"  # still found
    assert review.stored_labels("a.tif.png", None)[0].max() == 3
    assert review.labels_path("a.tif").name == "a_labels.tif"
    # a.tif named in full earlier (a.png had its stem): a.tif.png arriving later is too
    images2, out2 = tmp_path / "images2", tmp_path / "out2"
    _add(images2, "a.png", 10)
    _judge(Review(images2, out2), "a.png", squares(1))
    (images2 / "a.png").unlink()
    _add(images2, "a.tif", 20)
    _judge(Review(images2, out2), "a.tif", squares(2))
    _add(images2, "a.tif.png", 30)
    review = Review(images2, out2)
    assert review.labels_path("a.tif.png").name == "a.tif.png_labels.tif"
    _judge(review, "a.tif.png", squares(3))
    assert _objects(out2 / "labels" / "a.tif_labels.tif") == 2  # before: 3, overwritten


def test_an_image_with_no_free_name_is_refused_naming_the_files(tmp_path):
    images, out = tmp_path / "images", tmp_path / "out"
    _add(images, "a.png", 10)
    _add(images, "a.tif.png", 30)
    review = Review(images, out)
    _judge(review, "a.png", squares(1))
    _judge(review, "a.tif.png", squares(3))  # a.tif_labels.tif, by its stem
    (images / "a.png").unlink()
    _add(images, "a.tif", 20)  # a_labels.tif is a.png's, a.tif_labels.tif a.tif.png's
    before = {p.name: p.read_bytes() for p in (out / "labels").iterdir()}
    with pytest.raises(InputError, match=r"a\.tif cannot have label files of its own.*"
                       r"a\.png \(not listed\).*a\.tif\.png; rename a\.tif"):  # fmt: skip
        Review(images, out)
    assert {p.name: p.read_bytes() for p in (out / "labels").iterdir()} == before
    (images / "a.tif").rename(images / "a-2.tif")
    assert Review(images, out).labels_path("a-2.tif").name == "a-2_labels.tif"
