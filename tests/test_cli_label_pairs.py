"""Which image a label file goes with (``measure``, ``train``, ``evaluate``).

A label file named after its image goes with no other; the labels a review set aside are
skipped; a bioformats2raw root is measured as the Review reads it, under its own name.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest
import tifffile

from napari_unet.cli import main


def _labels(value: int, shape=(32, 32)) -> np.ndarray:
    labels = np.zeros(shape, np.uint16)
    labels[4:12, 4:12] = value
    return labels


def _read(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def without_b(tmp_path):
    """Images a and c (b left the folder); the labels of a and b, named after them."""
    images, labels = tmp_path / "imgs", tmp_path / "labels"
    images.mkdir()
    labels.mkdir()
    for name, level in (("a", 10), ("c", 30)):
        tifffile.imwrite(images / f"{name}.tif", np.full((32, 32), level, np.uint8))
    for name, value in (("a", 1), ("b", 2)):
        tifffile.imwrite(labels / f"{name}_labels.tif", _labels(value))
    return images, labels


def test_measure_refuses_labels_whose_image_is_missing_instead_of_taking_another(
    without_b, tmp_path, capsys
):
    """b_labels.tif was measured with c.tif, reported as image c (a note on stderr only)."""
    images, labels = without_b
    out = tmp_path / "o.csv"
    code = main(["measure", str(labels), "--images", str(images), "-o", str(out)])
    assert code == 2
    assert "b_labels.tif: no image named 'b'" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("files", [False, True])
def test_train_refuses_labels_whose_image_is_missing_before_training(
    without_b, tmp_path, capsys, files
):
    """train trained on the pair (c.tif, b_labels.tif); also given file by file (a glob)."""
    pytest.importorskip("torch")
    images, labels = without_b
    if files:  # --images imgs/*.tif --labels labels/*.tif
        images, labels = sorted(images.glob("*.tif")), sorted(labels.glob("*.tif"))
    else:
        images, labels = [images], [labels]
    out = tmp_path / "m.safetensors"
    code = main(["train", "--images", *map(str, images), "--labels", *map(str, labels),
                 "-o", str(out), "--arch", "tiny", "--steps", "1", "--crop-size", "32",
                 "--val-fraction", "0", "--device", "cpu", "-q"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 2
    assert "b_labels.tif: no image named 'b'" in captured.err
    assert "training on" not in captured.out + captured.err and not out.exists()


def test_region_masks_named_after_a_missing_image_are_refused(tmp_path):
    from napari_unet.cli.measure import pair_images
    from napari_unet.core.errors import InputError

    images = [tmp_path / "a.tif", tmp_path / "c.tif"]
    regions = [tmp_path / "a_region.tif", tmp_path / "b_region.tif"]
    with pytest.raises(InputError, match="b_region.tif: no image named 'b'"):
        pair_images(regions, images, "train", ("_regions", "_region"), "region masks")


def test_names_that_name_no_image_still_pair_in_order(tmp_path, capsys):
    """measure.md: label files whose names name no image pair with the images left, in order."""
    from napari_unet.cli.measure import pair_images

    images = [tmp_path / "a.tif", tmp_path / "raw1.tif"]
    labels = [tmp_path / "a_labels.tif", tmp_path / "seg_x.tif"]
    assert [i.name for _, _, i in pair_images(labels, images)] == ["a.tif", "raw1.tif"]
    assert "seg_x.tif with raw1.tif" in capsys.readouterr().err


def test_one_label_file_and_one_image_given_by_name_pair_whatever_their_names(tmp_path, capsys):
    """As evaluate pairs two files given by name: the user chose the pair."""
    tifffile.imwrite(tmp_path / "cell_labels.tif", _labels(3))
    tifffile.imwrite(tmp_path / "raw.tif", np.full((32, 32), 7, np.uint8))
    out = tmp_path / "o.csv"
    code = main(["measure", str(tmp_path / "cell_labels.tif"), "--images",
                 str(tmp_path / "raw.tif"), "-o", str(out)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert [(r["image"], float(r["mean_intensity"])) for r in _read(out)] == [("raw", 7.0)]


@pytest.fixture
def set_aside(tmp_path):
    """A review's output folder after b.tif was re-acquired at another size (refit.set_aside)."""
    from napari_unet.core.review.refit import set_aside
    from napari_unet.core.review.session import Review

    images = tmp_path / "imgs"
    images.mkdir()
    for name, level in (("a", 10), ("b", 20)):
        tifffile.imwrite(images / f"{name}.tif", np.full((32, 32), level, np.uint8))
    review = Review(images, tmp_path / "out")
    for name, value in (("a.tif", 1), ("b.tif", 2)):
        review.check_hash(name)
        review.save_labels(name, _labels(value).astype(np.int32))
        review.set_status(name, "accepted")
    review.save()
    tifffile.imwrite(images / "b.tif", np.full((24, 24), 20, np.uint8))  # re-acquired
    review.check_hash("b.tif")
    assert set_aside(review, "b.tif", (32, 32), (24, 24)).name == "b_labels.old.tif"
    review.save_labels("b.tif", _labels(2, (24, 24)).astype(np.int32))
    review.save()
    return images, tmp_path / "out" / "labels"


@pytest.mark.parametrize("with_images", [True, False])
def test_measure_skips_the_labels_a_review_set_aside(set_aside, tmp_path, with_images, capsys):
    """Refused ("no image named 'b_labels.old'") with --images, measured as an image without."""
    images, labels = set_aside
    out = tmp_path / "o.csv"
    extra = ["--images", str(images)] if with_images else []
    assert main(["measure", str(labels), *extra, "-o", str(out)]) == 0, capsys.readouterr().err
    assert sorted({r["image"] for r in _read(out)}) == ["a", "b"]
    assert "b_labels.old.tif" in capsys.readouterr().err  # the note


def test_evaluate_skips_the_labels_a_review_set_aside(set_aside, tmp_path, capsys):
    """The review's labels as ground truth: "no prediction for ... b_labels.old.tif"."""
    _, labels = set_aside
    predictions = tmp_path / "pred"
    predictions.mkdir()
    for path in labels.glob("*_labels.tif"):
        predictions.joinpath(path.name).write_bytes(path.read_bytes())
    assert main(["evaluate", str(predictions), str(labels)]) == 0
    captured = capsys.readouterr()
    assert "b_labels.old.tif" in captured.err and "has no ground truth" not in captured.err


def _bioformats2raw(root, level: int) -> None:
    """A bioformats2raw root holding one NGFF 0.4 image (t, c, z, y, x) of 0.5 µm pixels."""
    zarr = pytest.importorskip("zarr")
    group = zarr.open_group(str(root), mode="w", zarr_format=2)
    group.attrs["bioformats2raw.layout"] = 3
    image = group.create_group("0")
    image.create_array("0", data=np.full((1, 1, 1, 32, 32), level, np.uint8))
    kinds = ["time", "channel", "space", "space", "space"]
    axes = [{"name": a, "type": t} | ({"unit": "micrometer"} if t == "space" else {})
            for a, t in zip("tczyx", kinds, strict=True)]  # fmt: skip
    level0 = {
        "path": "0",
        "coordinateTransformations": [{"type": "scale", "scale": [1, 1, 1, 0.5, 0.5]}],
    }
    image.attrs["multiscales"] = [{"version": "0.4", "axes": axes, "datasets": [level0]}]


@pytest.fixture
def slides(tmp_path):
    images, labels = tmp_path / "imgs", tmp_path / "labels"
    labels.mkdir()
    for name, level in (("slide", 40), ("slide2", 80)):
        _bioformats2raw(images / f"{name}.zarr", level)
        tifffile.imwrite(labels / f"{name}_labels.tif", _labels(1))
    return images, labels


def test_measure_reads_a_bioformats2raw_root_as_the_review_does(slides, tmp_path, capsys):
    """review.md's ``measure OUTPUT/export/labels --images images/``: "give the image inside
    it: slide.zarr/0" for the root the Review reviewed as ``slide``."""
    images, labels = slides
    out = tmp_path / "o.csv"
    assert main(["measure", str(labels), "--images", str(images), "-o", str(out)]) == 0, (
        capsys.readouterr().err
    )
    found = {r["image"]: r for r in _read(out)}
    assert set(found) == {"slide", "slide2"}
    assert float(found["slide"]["mean_intensity"]) == 40
    assert float(found["slide"]["area_um2"]) == 64 * 0.25  # the series' pixel size


def test_the_series_of_a_bioformats2raw_root_is_named_after_the_root(slides, tmp_path, capsys):
    """slide.zarr/0 was named '0': two slides clashed ("two images are named '0'")."""
    images, labels = slides
    out = tmp_path / "o.csv"
    given = [str(images / "slide.zarr" / "0"), str(images / "slide2.zarr" / "0")]
    assert main(["measure", str(labels), "--images", *given, "-o", str(out)]) == 0, (
        capsys.readouterr().err
    )
    found = {r["image"]: float(r["mean_intensity"]) for r in _read(out)}
    assert found == {"slide": 40, "slide2": 80}


def test_train_skips_the_labels_a_review_set_aside(set_aside, capsys):
    """``train --labels OUT/labels`` stopped: "2 images but 3 label files"."""
    from napari_unet.cli._train_inputs import image_and_label_files

    images, labels = set_aside
    found = image_and_label_files([images], [labels], ("--images", "--labels"))
    assert [p.name for p in found[1]] == ["a_labels.tif", "b_labels.tif"]
    assert "b_labels.old.tif" in capsys.readouterr().err  # the note
