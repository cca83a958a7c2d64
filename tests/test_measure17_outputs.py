"""``measure`` and the review export after the 17th hunt: names that are not UTF-8, a 0/255
mask, and one column order whichever file comes first (each failed before its fix)."""

from __future__ import annotations

import csv
import os
import sys

import numpy as np
import pytest
import tifffile

from napari_unet.cli import main
from napari_unet.core.images.io import write_image
from napari_unet.core.review.measure import table_rows, write_csv

LATIN1 = b"c\xe9llule"  # "cellule" with an e-acute, as unzip gives an old archive's name

SHAPE = [
    "label", "area", "centroid_y", "centroid_x", "bbox_min_y", "bbox_min_x", "bbox_max_y",
    "bbox_max_x", "equivalent_diameter", "perimeter", "eccentricity", "solidity",
]  # fmt: skip
UM = ["area_um2", "centroid_y_um", "centroid_x_um", "equivalent_diameter_um", "perimeter_um"]
GREY = ["mean_intensity", "min_intensity", "max_intensity"]
SUMMARY = ["objects", "total_area", "mean_area", "median_area", "mean_equivalent_diameter"]
SUMMARY_UM = ["total_area_um2", "mean_area_um2", "mean_equivalent_diameter_um"]


def _latin1_name(folder, suffix: str) -> str:
    """A file name of Latin-1 bytes in ``folder``; skips where the system refuses one."""
    if sys.platform in ("darwin", "win32"):
        pytest.skip("file names are always Unicode here")
    name = os.fsdecode(LATIN1 + suffix.encode())
    try:
        (folder / name).touch()
    except (OSError, UnicodeError):
        pytest.skip("this file system refuses names that are not UTF-8")
    (folder / name).unlink()
    return name


def _square(shape=(16, 16), at=2) -> np.ndarray:
    labels = np.zeros(shape, np.uint16)
    labels[at : at + 4, at : at + 4] = 1
    return labels


def _header(path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as f:
        return next(csv.reader(f))


# -- 1. a file name that is not UTF-8 ------------------------------------------------------
def test_a_file_name_that_is_not_utf8_is_written_to_the_csv_as_its_bytes(tmp_path, capsys):
    folder = tmp_path / "lat"
    folder.mkdir()
    tifffile.imwrite(folder / _latin1_name(folder, "_labels.tif"), _square())
    tifffile.imwrite(folder / _latin1_name(folder, ".tif"), np.ones((16, 16), np.uint8))
    out, summary = tmp_path / "o.csv", tmp_path / "s.csv"
    # before: UnicodeEncodeError after every file was measured, and no CSV
    assert main(["measure", str(folder), "-o", str(out), "--summary", str(summary)]) == 0
    for path in (out, summary):
        lines = path.read_bytes().splitlines()
        assert len(lines) == 2 and lines[1].startswith(LATIN1 + b",1,16,")
    capsys.readouterr()


def test_the_review_export_writes_its_summary_and_report_for_such_names(tmp_path):
    from napari_unet.core.review.export import export_review
    from napari_unet.core.review.session import Review

    images = tmp_path / "images"
    images.mkdir()
    kept, dropped = _latin1_name(images, ".tif"), _latin1_name(images, "2.tif")
    for name in (kept, dropped):
        write_image(images / name, np.full((16, 16), 100, np.uint16))
    review = Review(images, tmp_path / "out")
    for name in review.names:
        review.check_hash(name)
        review.save_labels(name, _square().astype(np.int32))
        review.set_status(name, "accepted")
    review.labels_path(dropped).unlink()  # skipped: its name goes into report.txt
    result = export_review(review)  # before: UnicodeEncodeError, and no export
    export = tmp_path / "out" / "export"
    assert result.images == 1
    lines = (export / "summary.csv").read_bytes().splitlines()
    assert len(lines) == 2 and lines[1].startswith(LATIN1 + b".tif,accepted,1,16,")
    assert LATIN1 + b"2.tif" in (export / "report.txt").read_bytes()
    assert (export / "measurements" / os.fsdecode(LATIN1 + b".csv")).exists()


# -- 2. a 0/255 mask -----------------------------------------------------------------------
def test_a_binary_mask_is_measured_with_a_warning_naming_the_file(tmp_path, capsys):
    mask = np.zeros((32, 32), np.uint8)
    for at in (2, 10, 20):
        mask[at : at + 4, at : at + 4] = 255  # Fiji's Convert to Mask: three cells, one id
    tifffile.imwrite(tmp_path / "mask.tif", mask)
    tifffile.imwrite(tmp_path / "cells.tif", _square((32, 32)) * 7)  # one id, one piece
    out = tmp_path / "o.csv"
    files = [str(tmp_path / "mask.tif"), str(tmp_path / "cells.tif")]
    assert main(["measure", *files, "-o", str(out)]) == 0
    err = capsys.readouterr().err
    warned = [line for line in err.splitlines() if "warning:" in line]
    assert len(warned) == 1  # before: none
    assert "mask.tif" in warned[0] and "binary mask" in warned[0]
    assert "255 covers 3 separate pieces" in warned[0] and "label it first" in warned[0]


# -- 3. one column order -------------------------------------------------------------------
def test_columns_come_in_one_order_whichever_file_comes_first(tmp_path, capsys):
    lab, img = tmp_path / "lab", tmp_path / "img"
    lab.mkdir()
    img.mkdir()
    for name, size in (("a", None), ("b", 0.5)):  # a: no pixel size; b: 0.5 µm
        tifffile.imwrite(lab / f"{name}_labels.tif", _square())
        write_image(img / f"{name}.tif", np.full((16, 16), 9, np.uint8), pixel_size=size)
    headers = []
    for which in (["a", "b"], ["b"]):
        out, summary = tmp_path / f"o{len(which)}.csv", tmp_path / f"s{len(which)}.csv"
        labels = [str(lab / f"{n}_labels.tif") for n in which]
        images = [str(img / f"{n}.tif") for n in which]
        args = ["measure", *labels, "--images", *images, "-o", str(out), "--summary", str(summary)]
        assert main(args) == 0
        headers.append((_header(out), _header(summary)))
    capsys.readouterr()
    # before: the µm columns after the intensities when the uncalibrated file came first
    assert headers[0] == headers[1]
    assert headers[0][0] == ["image", *SHAPE, *UM, *GREY]
    assert headers[0][1] == ["image", *SUMMARY, *SUMMARY_UM, "mean_intensity"]


def test_write_csv_orders_known_columns_and_keeps_others_last(tmp_path):
    grey = {"label": [1], "area": [4], "mean_intensity": [1.0], "max_intensity": [2]}
    rgb = {"label": [2], "area": [5], "area_um2": [1.25], "mean_intensity_c1": [3.0],
           "mean_intensity_c0": [2.0], "min_intensity_c0": [1]}  # fmt: skip
    rows = table_rows(grey, image="g", note="x") + table_rows(rgb, image="c")
    header = _header(write_csv(tmp_path / "t.csv", rows))
    assert header == [
        "image", "label", "area", "area_um2", "mean_intensity", "mean_intensity_c0",
        "mean_intensity_c1", "min_intensity_c0", "max_intensity", "note",
    ]  # fmt: skip
    assert _header(write_csv(tmp_path / "u.csv", rows[::-1])) == header
