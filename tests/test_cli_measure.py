"""``napari-unet measure``: label files (and images) in, one per-object CSV and a summary out."""

from __future__ import annotations

import csv
import math
import shutil

import numpy as np
import pytest
import tifffile
from PIL import Image

from napari_unet.cli import main
from napari_unet.core.review.measure import measure_objects


def _labels(seed: int, n: int = 4) -> np.ndarray:
    rng = np.random.default_rng(seed)
    labels = np.zeros((48, 64), np.uint16)
    for i in range(1, n + 1):
        y, x = rng.integers(0, 40), rng.integers(0, 56)
        labels[y : y + 8, x : x + 8] = i * 3  # ids need not be consecutive
    return labels


def _image(seed: int, rgb: bool = False) -> np.ndarray:
    shape = (48, 64, 3) if rgb else (48, 64)
    return np.random.default_rng(100 + seed).integers(0, 255, shape).astype(np.uint8)


def _read(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def folders(tmp_path):
    """Images a.png (RGB), b.tif, c.tif, d.png and their labels under four naming schemes."""
    images, preds = tmp_path / "images", tmp_path / "preds"
    images.mkdir()
    preds.mkdir()
    Image.fromarray(_image(0, rgb=True)).save(images / "a.png")
    tifffile.imwrite(images / "b.tif", _image(1))
    tifffile.imwrite(images / "c.tif", _image(2))
    Image.fromarray(_image(3)).save(images / "d.png")
    tifffile.imwrite(preds / "a_labels.tif", _labels(0))  # napari-unet predict
    Image.fromarray(_labels(1)).save(preds / "b_cp_masks.png")  # Cellpose
    tifffile.imwrite(preds / "c_masks.tif", _labels(2))  # Cellpose
    tifffile.imwrite(preds / "d.tif", _labels(3, n=0))  # same name, no objects
    return tmp_path


def test_folder_of_predictions_with_images_matched_by_name(folders, capsys):
    out, summary = folders / "objects.csv", folders / "summary.csv"
    code = main([
        "measure", str(folders / "preds"), "--images", str(folders / "images"),
        "-o", str(out), "--summary", str(summary),
    ])  # fmt: skip
    assert code == 0
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1
    assert "4 label file(s), 12 objects" in printed[0] and str(out) in printed[0]
    assert str(summary) in printed[0] and "pixels only" in printed[0]
    rows = _read(out)
    assert list(rows[0])[:3] == ["image", "label", "area"]
    assert [r["image"] for r in rows] == ["a"] * 4 + ["b"] * 4 + ["c"] * 4
    # Each image's rows are measure_objects' numbers on that pair, intensities included.
    a = measure_objects(_labels(0), _image(0, rgb=True))
    a_rows = [r for r in rows if r["image"] == "a"]
    assert [int(r["label"]) for r in a_rows] == a["label"].tolist() == [3, 6, 9, 12]
    for key in ("area", "perimeter", "mean_intensity_c0", "mean_intensity_c2"):
        assert [float(r[key]) for r in a_rows] == a[key].tolist(), key
    b = measure_objects(_labels(1), _image(1))
    b_rows = [r for r in rows if r["image"] == "b"]
    assert [float(r["mean_intensity"]) for r in b_rows] == b["mean_intensity"].tolist()
    assert b_rows[0]["mean_intensity_c0"] == "" and a_rows[0]["mean_intensity"] == ""
    table = _read(summary)
    assert [(r["image"], r["objects"]) for r in table] == [
        ("a", "4"), ("b", "4"), ("c", "4"), ("d", "0"),
    ]  # fmt: skip
    assert float(table[0]["mean_area"]) == pytest.approx(a["area"].mean())
    assert math.isnan(float(table[3]["mean_area"]))


def test_probability_files_of_predict_are_skipped_in_a_folder(folders, capsys):
    # predict --probabilities writes a_probabilities.tif beside a_labels.tif: the folder
    # was refused (no image of that name; float labels)
    probs = np.random.default_rng(0).random((48, 64)).astype(np.float32)
    tifffile.imwrite(folders / "preds" / "a_probabilities.tif", probs)
    out = folders / "objects.csv"
    code = main(["measure", str(folders / "preds"), "--images", str(folders / "images"),
                 "-o", str(out)])  # fmt: skip
    assert code == 0 and "skipping 1 probability file" in capsys.readouterr().err
    assert {r["image"] for r in _read(out)} == {"a", "b", "c"}


def test_without_images_measures_shapes_only(folders):
    out = folders / "shapes.csv"
    assert main(["measure", str(folders / "preds" / "c_masks.tif"), "-o", str(out)]) == 0
    rows = _read(out)
    assert {r["image"] for r in rows} == {"c"}
    assert not [k for k in rows[0] if "intensity" in k]
    c = measure_objects(_labels(2))
    assert [float(r["centroid_x"]) for r in rows] == c["centroid_x"].tolist()


def test_zero_objects_still_write_the_header(folders):
    out = folders / "none.csv"
    assert main(["measure", str(folders / "preds" / "d.tif"), "-o", str(out)]) == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1 and lines[0].startswith("image,label,area,centroid_y")


def test_names_that_differ_are_paired_in_order(tmp_path, capsys):
    tifffile.imwrite(tmp_path / "seg1.tif", _labels(0))
    tifffile.imwrite(tmp_path / "seg2.tif", _labels(1))
    tifffile.imwrite(tmp_path / "raw_x.tif", _image(0))
    tifffile.imwrite(tmp_path / "raw_y.tif", _image(1))
    out = tmp_path / "o.csv"
    code = main([
        "measure", str(tmp_path / "seg1.tif"), str(tmp_path / "seg2.tif"),
        "--images", str(tmp_path / "raw_x.tif"), str(tmp_path / "raw_y.tif"), "-o", str(out),
    ])  # fmt: skip
    assert code == 0
    assert "in the order given" in capsys.readouterr().err
    rows = _read(out)
    y_rows = [r for r in rows if r["image"] == "raw_y"]
    expected = measure_objects(_labels(1), _image(1))["mean_intensity"].tolist()
    assert [float(r["mean_intensity"]) for r in y_rows] == expected


def test_a_label_file_without_its_image_is_named(folders, capsys):
    out = folders / "o.csv"
    code = main([
        "measure", str(folders / "preds"), "--images", str(folders / "images" / "a.png"),
        str(folders / "images" / "b.tif"), "-o", str(out),
    ])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "c_masks.tif: no image named 'c'" in err  # named after c: no other image goes with it
    assert not out.exists()


def test_shape_mismatch_names_both_files(tmp_path, capsys):
    tifffile.imwrite(tmp_path / "x_labels.tif", _labels(0))
    tifffile.imwrite(tmp_path / "x.tif", np.zeros((10, 10), np.uint8))
    code = main([
        "measure", str(tmp_path / "x_labels.tif"), "--images", str(tmp_path / "x.tif"),
        "-o", str(tmp_path / "o.csv"),
    ])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "x_labels.tif with" in err and "does not fit labels of shape (48, 64)" in err


def test_refuses_to_overwrite_without_overwrite(folders, capsys):
    labels = str(folders / "preds" / "a_labels.tif")
    out = folders / "o.csv"
    out.write_text("keep me\n", encoding="utf-8")
    assert main(["measure", labels, "-o", str(out)]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert out.read_text(encoding="utf-8") == "keep me\n"
    summary = folders / "s.csv"
    summary.write_text("keep\n", encoding="utf-8")
    assert main(["measure", labels, "-o", str(folders / "new.csv"), "--summary", str(summary)]) == 2
    assert not (folders / "new.csv").exists() and summary.read_text(encoding="utf-8") == "keep\n"
    assert main(["measure", labels, "-o", str(out), "--overwrite"]) == 0
    assert _read(out)[0]["image"] == "a"


def test_refuses_bad_outputs(folders, capsys):
    labels = folders / "preds" / "a_labels.tif"
    shutil.copy(labels, folders / "copy.csv")  # an input that happens to end in .csv
    cases = [
        (["-o", str(folders / "o.tif")], "-o must name a .csv file"),
        (["-o", str(folders / "o.csv"), "--summary", str(folders / "s.txt")], "--summary must"),
        (["-o", str(folders / "o.csv"), "--summary", str(folders / "o.csv")], "both name"),
        (["-o", str(folders / "no" / "o.csv")], "does not exist"),
    ]
    for extra, message in cases:
        assert main(["measure", str(labels), *extra]) == 2, extra
        assert message in capsys.readouterr().err, extra
    code = main(["measure", str(folders / "copy.csv"), "-o", str(folders / "copy.csv")])
    assert code == 2 and "is an input" in capsys.readouterr().err
    assert main(["measure", str(folders / "missing"), "-o", str(folders / "o.csv")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_pixel_size_from_the_image_file_and_from_the_option(tmp_path, capsys):
    labels = _labels(0)
    tifffile.imwrite(tmp_path / "cell_labels.tif", labels)
    tifffile.imwrite(
        tmp_path / "cell.tif", _image(0), imagej=True, resolution=(2.0, 2.0),
        metadata={"unit": "micron"},
    )  # fmt: skip
    px = measure_objects(labels)
    out = tmp_path / "o.csv"
    args = ["measure", str(tmp_path / "cell_labels.tif"), "--images", str(tmp_path / "cell.tif")]
    assert main([*args, "-o", str(out), "--summary", str(tmp_path / "s.csv")]) == 0
    assert "pixel size from the files' metadata" in capsys.readouterr().out
    rows = _read(out)
    assert [float(r["area_um2"]) for r in rows] == pytest.approx(px["area"] * 0.25)
    assert [float(r["centroid_x_um"]) for r in rows] == pytest.approx(px["centroid_x"] * 0.5)
    assert float(_read(tmp_path / "s.csv")[0]["mean_area_um2"]) == pytest.approx(
        px["area"].mean() * 0.25
    )
    assert main([*args, "-o", str(out), "--overwrite", "--pixel-size", "0.2,0.1"]) == 0
    assert "0.2 x 0.1 µm (--pixel-size)" in capsys.readouterr().out
    rows = _read(out)
    assert [float(r["area_um2"]) for r in rows] == pytest.approx(px["area"] * 0.02)
    assert [float(r["centroid_y_um"]) for r in rows] == pytest.approx(px["centroid_y"] * 0.2)
    assert [float(r["centroid_x_um"]) for r in rows] == pytest.approx(px["centroid_x"] * 0.1)
    # Without an image, the label file's own metadata is read.
    tifffile.imwrite(
        tmp_path / "solo.tif", labels, imagej=True, resolution=(4.0, 4.0), metadata={"unit": "um"}
    )
    assert main(["measure", str(tmp_path / "solo.tif"), "-o", str(tmp_path / "p.csv")]) == 0
    rows = _read(tmp_path / "p.csv")
    assert [float(r["perimeter_um"]) for r in rows] == pytest.approx(px["perimeter"] * 0.25)


@pytest.mark.parametrize("value", ["0", "-1", "a", "1,2,3", "nan", "inf"])
def test_bad_pixel_size_is_an_argument_error(tmp_path, capsys, value):
    with pytest.raises(SystemExit) as info:
        main(["measure", str(tmp_path), "-o", str(tmp_path / "o.csv"), "--pixel-size", value])
    assert info.value.code == 2
    assert "positive pixel size in micrometres" in capsys.readouterr().err


def test_stack_summary_counts_planes(tmp_path):
    stack = np.stack([_labels(0), np.zeros((48, 64), np.uint16), _labels(1)])
    tifffile.imwrite(tmp_path / "z_labels.tif", stack, photometric="minisblack")
    out, summary = tmp_path / "o.csv", tmp_path / "s.csv"
    assert main(["measure", str(tmp_path / "z_labels.tif"), "-o", str(out), "--summary",
                 str(summary)]) == 0  # fmt: skip
    rows = _read(out)
    assert list(rows[0])[:3] == ["image", "plane", "label"]
    assert [int(r["plane"]) for r in rows] == [0] * 4 + [2] * 4
    assert (_read(summary)[0]["planes"], _read(summary)[0]["objects"]) == ("3", "8")


def test_two_label_files_of_one_image_are_refused(folders, capsys):
    other = folders / "other"
    other.mkdir()
    shutil.copy(folders / "preds" / "a_labels.tif", other / "a.tif")
    code = main(["measure", str(folders / "preds" / "a_labels.tif"), str(other / "a.tif"),
                 "-o", str(folders / "o.csv")])  # fmt: skip
    assert code == 2 and "two label files are for the image 'a'" in capsys.readouterr().err


def test_real_histology_prediction_folder(shared_data, tmp_path):
    name = "032_0bf33d3db428"
    src = shared_data / "dsb2018_full"
    (tmp_path / "pred").mkdir()
    shutil.copy(src / "masks" / f"{name}.tif", tmp_path / "pred" / f"{name}_labels.tif")
    out = tmp_path / "o.csv"
    code = main(["measure", str(tmp_path / "pred"), "--images", str(src / "images"), "-o",
                 str(out), "--pixel-size", "0.5"])  # fmt: skip
    assert code == 0
    rows = _read(out)
    assert len(rows) == 29 and {r["image"] for r in rows} == {name}
    assert {"mean_intensity_c0", "mean_intensity_c1", "mean_intensity_c2"} <= set(rows[0])


def test_ome_tiff_images_pair_with_the_labels_a_review_export_names(tmp_path, capsys):
    """Export names a.ome.tif's labels a_labels.tif; measure looked for an image "a.ome",
    paired the files in sorted order instead (a with a_b's labels), and said so on stderr."""
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    labels.mkdir()
    for stem, level, n in (("a", 10, 1), ("a_b", 200, 2)):
        tifffile.imwrite(images / f"{stem}.ome.tif", np.full((48, 64), level, np.uint8), ome=True)
        tifffile.imwrite(labels / f"{stem}_labels.tif", _labels(n, n=n))
    out, summary = tmp_path / "objects.csv", tmp_path / "summary.csv"
    code = main(["measure", str(labels), "--images", str(images), "-o", str(out),
                 "--summary", str(summary)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert "match no image by name" not in capsys.readouterr().err
    rows = {r["image"]: r for r in _read(summary)}
    assert set(rows) == {"a", "a_b"}  # the name without suffix, as measure.md says
    assert float(rows["a"]["mean_intensity"]) == 10 and float(rows["a_b"]["mean_intensity"]) == 200


def test_a_refused_pairing_prints_its_error_without_the_order_note(tmp_path, capsys):
    """Two label files of image a and one unmatched: the order note came before the error."""
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    labels.mkdir()
    for stem in ("a", "b"):
        tifffile.imwrite(images / f"{stem}.tif", np.full((48, 64), 10, np.uint8))
    for name in ("a_labels", "a_masks", "x"):
        tifffile.imwrite(labels / f"{name}.tif", _labels(1, n=1))
    code = main(["measure", str(labels), "--images", str(images), "-o", str(tmp_path / "o.csv")])
    assert code == 2
    err = capsys.readouterr().err
    assert "two label files are for the image 'a'" in err
    assert "note" not in err and len(err.strip().splitlines()) == 1


def test_label_files_of_another_tool_pair_with_the_image_their_name_begins_with(
    tmp_path, capsys
):
    """ilastik names labels "img10_Object Identities.tif": paired in the order given, the
    two folders sorted apart (img10_ before img1_, img1 before img10), and img1's objects
    got img10's intensities, said only in a note."""
    images, labels = tmp_path / "I", tmp_path / "L"
    images.mkdir()
    labels.mkdir()
    for k in (1, 2, 10):
        tifffile.imwrite(images / f"img{k}.tif", np.full((48, 64), k, np.uint16))
        tifffile.imwrite(labels / f"img{k}_Object Identities.tif", _labels(k, n=1))
    out = tmp_path / "objects.csv"
    assert main(["measure", str(labels), "--images", str(images), "-o", str(out)]) == 0
    assert "img10_Object Identities.tif with img10.tif" in capsys.readouterr().err
    for row in _read(out):
        assert float(row["mean_intensity"]) == float(row["image"].removeprefix("img"))
