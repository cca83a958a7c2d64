"""Per-object measurements: scikit-image's numbers on real images, units, summaries, CSV files."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import tifffile
from skimage.measure import regionprops_table

from napari_unet.core.errors import InputError
from napari_unet.core.images.io import read_image
from napari_unet.core.images.pixels import read_pixel_size
from napari_unet.core.review.measure import (
    PHYSICAL_COLUMNS,
    measure_objects,
    summarize,
    table_rows,
    write_csv,
)

HISTO = "032_0bf33d3db428"  # H&E colour, 256 x 320, 29 nuclei (test split)
FLUO = "001_003cee89357d"  # fluorescence, grey, 256 x 256, 36 nuclei (test split)
SHAPE = [
    "label", "area", "centroid_y", "centroid_x", "bbox_min_y", "bbox_min_x", "bbox_max_y",
    "bbox_max_x", "equivalent_diameter", "perimeter", "eccentricity", "solidity",
]  # fmt: skip
SKIMAGE = [
    "label", "area", "centroid-0", "centroid-1", "bbox-0", "bbox-1", "bbox-2", "bbox-3",
    "equivalent_diameter_area", "perimeter", "eccentricity", "solidity",
]  # fmt: skip


def _real(shared_data, name):
    folder = shared_data / "dsb2018_full"
    image = np.asarray(read_image(folder / "images" / f"{name}.png"))
    return image, np.asarray(read_image(folder / "masks" / f"{name}.tif"))


def _reference(labels, image=None):
    props = ("label", "area", "centroid", "bbox", "equivalent_diameter_area", "perimeter")
    props += ("eccentricity", "solidity")
    if image is not None:
        props += ("intensity_mean", "intensity_min", "intensity_max")
    return regionprops_table(labels, image, properties=props)


def _blobs() -> np.ndarray:
    labels = np.zeros((40, 50), np.uint16)
    labels[2:10, 3:15] = 1
    labels[20:35, 20:30] = 7
    labels[30:38, 40:48] = 3
    return labels


def test_histology_table_is_scikit_images_per_channel(shared_data):
    image, labels = _real(shared_data, HISTO)
    assert image.shape == (*labels.shape, 3)  # RGB, channels last as PNG files hold them
    table = measure_objects(labels, image)
    ref = _reference(labels, image)
    assert len(table["label"]) == 29 == len(np.unique(labels)) - 1
    for ours, theirs in zip(SHAPE, SKIMAGE, strict=True):
        np.testing.assert_array_equal(table[ours], ref[theirs], err_msg=ours)
    for c in range(3):
        for stat in ("mean", "min", "max"):
            ours = table[f"{stat}_intensity_c{c}"]
            np.testing.assert_array_equal(ours, ref[f"intensity_{stat}-{c}"])
    assert "mean_intensity" not in table
    # Independently of scikit-image: the pixels of one nucleus in the green channel.
    i = int(np.argmax(table["area"]))
    inside = labels == table["label"][i]
    assert table["area"][i] == inside.sum()
    assert table["mean_intensity_c1"][i] == pytest.approx(image[inside, 1].mean())
    assert table["max_intensity_c2"][i] == image[inside, 2].max()
    assert table["mean_intensity_c0"][i] != pytest.approx(table["mean_intensity_c2"][i])
    rows, cols = np.nonzero(inside)
    assert (table["centroid_y"][i], table["centroid_x"][i]) == pytest.approx(
        (rows.mean(), cols.mean())
    )
    box = (rows.min(), cols.min(), rows.max() + 1, cols.max() + 1)
    assert tuple(table[k][i] for k in SHAPE[4:8]) == box


def test_fluorescence_table_has_one_intensity_channel(shared_data):
    image, labels = _real(shared_data, FLUO)
    assert image.ndim == 2
    table = measure_objects(labels, image)
    ref = _reference(labels, image)
    assert len(table["label"]) == 36
    for ours, theirs in zip(SHAPE, SKIMAGE, strict=True):
        np.testing.assert_array_equal(table[ours], ref[theirs], err_msg=ours)
    for stat in ("mean", "min", "max"):
        np.testing.assert_array_equal(table[f"{stat}_intensity"], ref[f"intensity_{stat}"])
    assert not [k for k in table if k.endswith("_c0")]
    # The nuclei are brighter than the background: the measurements read the right pixels.
    assert table["mean_intensity"].min() > np.median(image[labels == 0])


def test_channels_first_and_a_given_channel_axis_give_the_same_numbers():
    labels = _blobs()
    rng = np.random.default_rng(0)
    image = rng.integers(0, 4000, (*labels.shape, 2)).astype(np.uint16)
    last = measure_objects(labels, image)
    first = measure_objects(labels, np.moveaxis(image, -1, 0))
    given = measure_objects(labels, np.moveaxis(image, -1, 0), channel_axis=0)
    for table in (first, given):
        for key, column in last.items():
            np.testing.assert_array_equal(table[key], column, err_msg=key)
    assert last["max_intensity_c1"].dtype.kind == "i"  # integer images keep integer extremes


def test_stack_is_measured_plane_by_plane():
    labels = _blobs()
    image = np.arange(labels.size, dtype=np.float32).reshape(labels.shape)
    stack = np.stack([labels, np.zeros_like(labels), labels[::-1]])
    table = measure_objects(stack, np.stack([image, image, image[::-1]]))
    assert list(table)[:2] == ["plane", "label"]
    plane = measure_objects(labels, image)
    assert table["plane"].tolist() == [0, 0, 0, 2, 2, 2]
    for key, column in plane.items():
        np.testing.assert_array_equal(table[key][:3], column, err_msg=key)
    flipped = table["plane"] == 2
    assert table["centroid_y"][flipped] == pytest.approx(39 - plane["centroid_y"])
    assert table["mean_intensity"][flipped] == pytest.approx(plane["mean_intensity"])
    row = summarize(table, "stack", planes=3)
    assert (row["planes"], row["objects"]) == (3, 6)


def test_zero_objects_give_the_columns_and_no_rows():
    labels = np.zeros((16, 16), np.uint16)
    table = measure_objects(labels, np.ones((16, 16, 3), np.uint8), pixel_size=0.5)
    assert all(len(column) == 0 for column in table.values())
    assert {"label", "area", "area_um2", "perimeter_um", "mean_intensity_c2"} <= set(table)
    row = summarize(table, "empty")
    assert row["objects"] == 0 and row["total_area"] == 0
    for key in ("mean_area", "median_area", "mean_equivalent_diameter", "mean_area_um2"):
        assert math.isnan(row[key]), key
    assert math.isnan(row["mean_intensity_c0"])
    stack = measure_objects(np.zeros((2, 8, 8), np.uint8))
    assert len(stack["plane"]) == 0 and summarize(stack, "s", planes=2)["planes"] == 2


def test_huge_ids_are_measured_without_memory_per_id():
    # regionprops allocates per id up to the largest: one id of 4e9 ran out of memory
    labels = np.zeros((64, 64), np.uint32)
    labels[5:15, 5:15], labels[30:40, 30:42] = 7, 4_000_000_000
    image = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)
    table = measure_objects(labels, image)
    assert table["label"].tolist() == [7, 4_000_000_000] and table["area"].tolist() == [100, 120]
    assert table["max_intensity"].tolist() == [image[14, 14], image[39, 41]]


def test_whole_number_float_labels_are_accepted():
    labels = _blobs()
    a, b = measure_objects(labels), measure_objects(labels.astype(np.float32))
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


@pytest.mark.parametrize(
    ("labels", "image", "kwargs", "message"),
    [
        (np.full((8, 8), 1.5), None, {}, "fractional"),
        (np.full((8, 8), np.nan), None, {}, "fractional or non-finite"),
        (np.full((8, 8), -1, np.int32), None, {}, "negative labels"),
        (np.full((8, 8), -2.0), None, {}, "negative labels"),
        (np.zeros((0, 8), np.uint8), None, {}, "an empty array"),
        (np.zeros((8,), np.uint8), None, {}, "expected 2D or 3D"),
        (np.zeros((2, 2, 8, 8), np.uint8), None, {}, "expected 2D or 3D"),
        (np.zeros((8, 8), np.uint8), np.zeros((8, 9)), {}, "does not fit labels of shape (8, 8)"),
        (np.zeros((8, 8), np.uint8), np.zeros((0, 0)), {}, "does not fit"),
        (np.zeros((2, 8, 8), np.uint8), np.zeros((8, 8)), {}, "does not fit"),
        (np.zeros((8, 8), np.uint8), np.zeros((8, 8)), {"channel_axis": 0}, "channel_axis 0"),
        (np.zeros((8, 8), np.uint8), np.zeros((8, 8), complex), {}, "integer or float"),
        (np.zeros((8, 8), np.uint8), None, {"pixel_size": 0}, "pixel_size"),
        (np.zeros((8, 8), np.uint8), None, {"pixel_size": (0.5, -1)}, "pixel_size"),
        (np.zeros((8, 8), np.uint8), None, {"pixel_size": (1, 2, 3)}, "pixel_size"),
        (np.zeros((8, 8), np.uint8), None, {"pixel_size": "0.5"}, "pixel_size"),
        (np.zeros((8, 8), np.uint8), None, {"pixel_size": math.inf}, "pixel_size"),
    ],
)
def test_bad_input_says_what_is_wrong(labels, image, kwargs, message):
    with pytest.raises(InputError) as info:
        measure_objects(labels, image, **kwargs)
    assert message in str(info.value)


def test_square_pixels_scale_every_length():
    labels = _blobs()
    px = measure_objects(labels)
    um = measure_objects(labels, pixel_size=0.5)
    assert list(um)[: len(px)] == list(px)  # the pixel columns stay, unchanged
    for key in px:
        np.testing.assert_array_equal(um[key], px[key])
    np.testing.assert_allclose(um["area_um2"], px["area"] * 0.25)
    np.testing.assert_allclose(um["centroid_y_um"], px["centroid_y"] * 0.5)
    np.testing.assert_allclose(um["centroid_x_um"], px["centroid_x"] * 0.5)
    np.testing.assert_allclose(um["equivalent_diameter_um"], px["equivalent_diameter"] * 0.5)
    np.testing.assert_allclose(um["perimeter_um"], px["perimeter"] * 0.5)
    assert [k for k in um if k not in px] == list(PHYSICAL_COLUMNS)


def test_non_square_pixels_measure_the_physical_object():
    # A disc of radius 10 um imaged with 0.5 um rows and 0.25 um columns is an ellipse in
    # pixels; its physical measures must agree with the same disc on 0.5 um square pixels.
    yy, xx = np.mgrid[0:60, 0:100]
    stretched = ((((yy - 30) * 0.5) ** 2 + ((xx - 50) * 0.25) ** 2) <= 100).astype(np.uint8)
    square = ((((yy - 30) * 0.5) ** 2 + ((xx - 50) * 0.5) ** 2) <= 100).astype(np.uint8)
    a = measure_objects(stretched, pixel_size=(0.5, 0.25))
    b = measure_objects(square, pixel_size=0.5)
    assert a["area_um2"][0] == pytest.approx(math.pi * 100, rel=0.01)
    assert a["equivalent_diameter_um"][0] == pytest.approx(20, rel=0.01)
    assert (a["centroid_y_um"][0], a["centroid_x_um"][0]) == pytest.approx((15.0, 12.5))
    assert a["perimeter_um"][0] == pytest.approx(b["perimeter_um"][0], rel=0.04)
    assert a["eccentricity"][0] > 0.8  # on the pixel grid it is an ellipse


def test_summary_row():
    labels = _blobs()
    image = np.zeros(labels.shape, np.float32)
    image[labels == 7] = 10.0
    table = measure_objects(labels, image, pixel_size=(0.5, 0.5))
    row = summarize(table, "blobs")
    areas = [96, 150, 64]
    assert row["image"] == "blobs" and row["objects"] == 3 and "planes" not in row
    assert row["total_area"] == sum(areas)
    assert row["mean_area"] == pytest.approx(np.mean(areas))
    assert row["median_area"] == 96
    assert row["mean_equivalent_diameter"] == pytest.approx(
        np.mean([math.sqrt(4 * a / math.pi) for a in areas])
    )
    assert row["total_area_um2"] == pytest.approx(sum(areas) / 4)
    assert row["mean_area_um2"] == pytest.approx(np.mean(areas) / 4)
    assert row["mean_intensity"] == pytest.approx(10 / 3)
    with pytest.raises(InputError, match="not a measurement table"):
        summarize({"x": [1]}, "bad")


def _read(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_csv_round_trip_gives_the_same_numbers(tmp_path):
    labels = _blobs()
    image = np.random.default_rng(1).random(labels.shape)
    table = measure_objects(labels, image, pixel_size=(0.3, 0.7))
    path = write_csv(tmp_path / "objects.csv", table)
    rows = _read(path)
    assert list(rows[0]) == list(table)
    assert len(rows) == 3
    for key, column in table.items():
        kind = int if column.dtype.kind == "i" else float
        assert [kind(r[key]) for r in rows] == column.tolist(), key
    assert sorted(p.name for p in tmp_path.iterdir()) == ["objects.csv"]  # no debris


def test_csv_of_rows_unions_columns_and_writes_nan(tmp_path):
    grey = measure_objects(_blobs(), np.ones((40, 50)))
    empty = measure_objects(np.zeros((40, 50), np.uint8), pixel_size=1.0)
    rows = [summarize(grey, "grey"), summarize(empty, "empty")]
    back = _read(write_csv(tmp_path / "summary.csv", rows))
    assert [r["image"] for r in back] == ["grey", "empty"]
    assert back[0]["mean_area_um2"] == "" and back[1]["mean_intensity"] == ""
    assert math.isnan(float(back[1]["mean_area"])) and back[1]["objects"] == "0"
    assert float(back[0]["mean_equivalent_diameter"]) == rows[0]["mean_equivalent_diameter"]
    per_object = table_rows(grey, image="grey")
    assert list(per_object[0])[:2] == ["image", "label"] and len(per_object) == 3
    header = ["image", *empty]
    back = write_csv(tmp_path / "none.csv", table_rows(empty), columns=header)
    assert back.read_text(encoding="utf-8").splitlines() == [",".join(header)]


def test_read_pixel_size_from_imagej_ome_and_resolution_tags(tmp_path):
    data = np.zeros((8, 8), np.uint16)
    tifffile.imwrite(
        tmp_path / "ij.tif", data, imagej=True, resolution=(1 / 0.5, 1 / 0.5),
        metadata={"unit": "um"},
    )  # fmt: skip
    assert read_pixel_size(tmp_path / "ij.tif") == pytest.approx((0.5, 0.5))
    tifffile.imwrite(
        tmp_path / "ij_nm.tif", data, imagej=True, resolution=(1 / 650, 1 / 325),
        metadata={"unit": "nm"},
    )  # fmt: skip
    assert read_pixel_size(tmp_path / "ij_nm.tif") == pytest.approx((0.325, 0.65))
    tifffile.imwrite(
        tmp_path / "ij_micron.tif", data, imagej=True, resolution=(4.0, 4.0),
        metadata={"unit": "\\u00B5m"},
    )  # fmt: skip
    assert read_pixel_size(tmp_path / "ij_micron.tif") == pytest.approx((0.25, 0.25))
    tifffile.imwrite(
        tmp_path / "ome.ome.tif", data, ome=True,
        metadata={"PhysicalSizeX": 0.65, "PhysicalSizeY": 0.4},
    )  # fmt: skip
    assert read_pixel_size(tmp_path / "ome.ome.tif") == pytest.approx((0.4, 0.65))
    tifffile.imwrite(
        tmp_path / "ome_nm.ome.tif", data, ome=True,
        metadata={"PhysicalSizeX": 130, "PhysicalSizeXUnit": "nm", "PhysicalSizeY": 0.13},
    )  # fmt: skip
    assert read_pixel_size(tmp_path / "ome_nm.ome.tif") == pytest.approx((0.13, 0.13))
    tifffile.imwrite(
        tmp_path / "cm.tif", data, resolution=(1e4 / 0.65, 1e4 / 0.65), resolutionunit="CENTIMETER"
    )
    assert read_pixel_size(tmp_path / "cm.tif") == pytest.approx((0.65, 0.65))


def test_read_pixel_size_is_none_when_unknown(tmp_path):
    data = np.zeros((8, 8), np.uint8)
    tifffile.imwrite(tmp_path / "plain.tif", data)
    tifffile.imwrite(tmp_path / "dpi.tif", data, resolution=(72, 72), resolutionunit="INCH")
    tifffile.imwrite(tmp_path / "px.tif", data, imagej=True, resolution=(2, 2))
    from PIL import Image

    Image.fromarray(data).save(tmp_path / "plain.png", dpi=(300, 300))
    for name in ("plain.tif", "dpi.tif", "px.tif", "plain.png"):
        assert read_pixel_size(tmp_path / name) is None, name
    with pytest.raises(InputError, match="no such file"):
        read_pixel_size(tmp_path / "missing.tif")
