"""ImageJ TIFFs whose unit is inch or cm: a 72-dpi default is no pixel size, a calibration is."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import tifffile

from napari_unet.cli import main
from napari_unet.core.images.pixels import read_pixel_size


@pytest.mark.parametrize(
    ("unit", "per_unit"),
    [("inch", 72.0), ("in", 300.0), ("cm", 72 / 2.54), ("centimeter", 96 / 2.54)],
)
def test_an_imagej_dpi_default_is_no_pixel_size(tmp_path, unit, per_unit, capsys):
    """Fiji keeps a 72-dpi image's unit: before, its labels measured 352.8 µm pixels."""
    labels = np.zeros((40, 40), np.uint16)
    labels[5:15, 5:15] = 1
    path = tmp_path / "cells_labels.tif"
    tifffile.imwrite(path, labels, imagej=True, resolution=(per_unit, per_unit),
                     metadata={"unit": unit})  # fmt: skip
    assert read_pixel_size(path) is None
    out = tmp_path / "objects.csv"
    assert main(["measure", str(path), "-o", str(out)]) == 0
    assert "no pixel size recorded" in capsys.readouterr().out
    with open(out, newline="", encoding="utf-8") as f:
        (row,) = csv.DictReader(f)
    assert "area_um2" not in row and row["area"] == "100"


@pytest.mark.parametrize(("unit", "um_per_unit"), [("inch", 25400.0), ("cm", 1e4)])
def test_an_imagej_calibration_in_inch_or_cm_is_read(tmp_path, unit, um_per_unit):
    path = tmp_path / "cal.tif"
    per_unit = um_per_unit / 0.65  # 0.65 µm pixels: far beyond any dpi default
    tifffile.imwrite(path, np.zeros((8, 8), np.uint16), imagej=True,
                     resolution=(per_unit, per_unit), metadata={"unit": unit})  # fmt: skip
    assert read_pixel_size(path) == pytest.approx((0.65, 0.65))
