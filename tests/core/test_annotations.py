"""Annotation arithmetic and project persistence (Qt-free core)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import tifffile

from napari_unet import InputError
from napari_unet.core.annotation.axes import plan_axes
from napari_unet.core.annotation.edits import count_cells, merge_prediction, next_free_id
from napari_unet.core.annotation.project import (
    ANNOTATIONS_FILE,
    content_hash,
    folder_is_writable,
    identity_warnings,
    image_identity,
    load_project,
    project_folder_for,
    read_annotations,
    save_project,
    write_annotations,
)
from napari_unet.core.annotation.regions import region_mask, whole_image_rectangle

# --- ids, counts, axes -------------------------------------------------------------------


def test_next_free_id_is_above_every_id():
    lab = np.zeros((5, 5), np.uint16)
    assert next_free_id(lab) == 1
    lab[0, 0], lab[3, 3] = 7, 2
    assert next_free_id(lab) == 8


def test_next_free_id_refuses_overflow_and_floats():
    with pytest.raises(InputError, match="no free label id"):
        next_free_id(np.full((2, 2), 255, np.uint8))
    with pytest.raises(InputError, match="integer"):
        next_free_id(np.zeros((2, 2), np.float32))


def test_count_cells():
    lab = np.zeros((6, 6), np.int32)
    lab[:2, :2], lab[4:, 4:], lab[0, 5] = 3, 9, 9
    assert count_cells(lab) == (2, 9)
    assert count_cells(np.zeros((3, 3), np.int32)) == (0, 0)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.uint32, np.int64, np.uint64])
def test_count_cells_agrees_with_unique_for_every_id_range(dtype):
    rng = np.random.default_rng(0)
    lab = (rng.integers(0, 60, (64, 64)) * (rng.random((64, 64)) > 0.4)).astype(dtype)
    assert count_cells(lab) == (np.unique(lab[lab != 0]).size, int(np.count_nonzero(lab)))
    if np.iinfo(dtype).max > 2**40:  # ids far above the table's range are counted too
        lab[0, 0], lab[1, 1] = 2**40 + 1, 2**40 + 1
        assert count_cells(lab)[0] == np.unique(lab[lab != 0]).size
    if np.iinfo(dtype).min < 0:  # a negative id (refused elsewhere) is still counted
        lab[2, 2] = -3
        assert count_cells(lab)[0] == np.unique(lab[lab != 0]).size


@pytest.mark.parametrize(
    ("shape", "rgb", "axes", "kind", "labels_shape"),
    [
        ((64, 80), False, "auto", "2D", (64, 80)),
        ((64, 80, 3), True, "auto", "rgb", (64, 80)),
        ((3, 64, 80), False, "auto", "channels", (64, 80)),
        ((12, 64, 80), False, "auto", "stack", (12, 64, 80)),
        ((3, 64, 80), False, "stack", "stack", (3, 64, 80)),
        ((12, 64, 80), False, "channels", "channels", (64, 80)),
    ],
)
def test_plan_axes(shape, rgb, axes, kind, labels_shape):
    plan = plan_axes(shape, rgb=rgb, axes=axes)
    assert plan.kind == kind and plan.labels_shape == labels_shape
    assert plan.is_stack == (kind == "stack")


@pytest.mark.parametrize(
    ("shape", "rgb", "axes"),
    [
        ((4, 64, 80, 3), True, "auto"),
        ((64, 80), False, "stack"),
        ((5, 2, 64, 80), False, "auto"),
        ((64, 80, 2), False, "auto"),
    ],
)
def test_plan_axes_refuses_unclear_layouts(shape, rgb, axes):
    with pytest.raises(InputError, match="expected|supported|no stack|channels last"):
        plan_axes(shape, rgb=rgb, axes=axes)


def test_plan_axes_reads_channels_last_as_a_stack_only_when_asked():
    assert plan_axes((64, 80, 2), axes="stack").labels_shape == (64, 80, 2)


# --- region ------------------------------------------------------------------------------


def test_whole_image_rectangle_covers_every_pixel():
    rect = whole_image_rectangle((20, 30))
    assert region_mask([rect], ["rectangle"], (20, 30)).all()


def test_region_mask_rectangle_polygon_ellipse_and_ignores_lines():
    rect = np.array([[2, 2], [2, 5], [5, 5], [5, 2]])
    tri = np.array([[10, 10], [10, 19], [19, 10]])
    ell = np.array([[0, 20], [0, 29], [9, 29], [9, 20]])
    line = np.array([[0, 0], [19, 19]])
    mask = region_mask(
        [rect, tri, ell, line], ["rectangle", "polygon", "ellipse", "line"], (30, 30)
    )
    assert mask[3, 3] and not mask[6, 6]  # rectangle, nothing of the line
    assert mask[11, 11] and not mask[18, 18]  # triangle below its diagonal only
    assert mask[4, 24] and not mask[0, 20]  # ellipse centre, not its bounding-box corner
    assert not region_mask([], [], (4, 4)).any()


def test_region_mask_rectangles_include_the_pixel_centres_they_cover():
    rect = np.array([[1.5, 2.2], [1.5, 6.0], [4.9, 6.0], [4.9, 2.2]])
    expected = np.zeros((8, 8), bool)
    expected[2:5, 3:7] = True
    np.testing.assert_array_equal(region_mask([rect], ["rectangle"], (8, 8)), expected)
    # A rotated rectangle (a diamond) is rasterised as a polygon.
    diamond = np.array([[0, 4], [4, 8], [8, 4], [4, 0]])
    mask = region_mask([diamond], ["rectangle"], (9, 9))
    assert mask[4, 4] and not mask[0, 0] and not mask[8, 8]
    # Rectangles reaching past the image are clipped.
    assert region_mask([rect - 10], ["rectangle"], (8, 8)).sum() == 0


def test_region_mask_on_a_stack_marks_only_its_plane():
    rect = whole_image_rectangle((8, 8), plane=(2,))
    mask = region_mask([rect], ["rectangle"], (4, 8, 8))
    assert mask[2].all() and not mask[[0, 1, 3]].any()
    # A 2D shape on a stack applies to every plane.
    assert region_mask([whole_image_rectangle((8, 8))], ["rectangle"], (4, 8, 8)).all()


# --- merge -------------------------------------------------------------------------------


def test_merge_prediction_user_strokes_win_and_ids_are_fresh():
    ann = np.zeros((20, 20), np.uint32)
    ann[0:6, 0:6] = 5  # a user's cell
    pred = np.zeros((20, 20), np.int32)
    pred[3:9, 3:9] = 1  # overlaps the user's cell
    pred[12:18, 12:18] = 5  # same id as the user's cell, elsewhere
    pred[0, 19] = 2  # a 1-pixel speck
    out = merge_prediction(ann, pred, min_size=4)
    assert out.dtype == ann.dtype and ann[3, 3] == 5  # input untouched
    assert (out[0:6, 0:6] == 5).all()  # user's pixels kept
    a, b = out[7, 7], out[15, 15]
    assert {a, b} == {6, 7}  # fresh ids above the user's, no collision with 5
    assert (out[3:9, 3:9][out[3:9, 3:9] != 5] == a).all()  # only the free pixels
    assert out[0, 19] == 0  # fragment below min_size dropped


def test_merge_prediction_respects_region_and_splits_fragments():
    ann = np.zeros((10, 30), np.uint16)
    ann[:, 14:16] = 1  # a user's stroke cutting a predicted cell in two
    pred = np.zeros((10, 30), np.uint16)
    pred[2:8, 2:28] = 3
    region = np.zeros((10, 30), bool)
    region[:, :20] = True
    out = merge_prediction(ann, pred, region, min_size=5)
    assert out[5, 25] == 0  # outside the region
    left, right = out[5, 5], out[5, 17]
    assert left > 1 and right > 1 and left != right  # two pieces, two ids
    assert (out[:, 14:16] == 1).all()


def test_merge_prediction_keeps_touching_predicted_cells_apart():
    pred = np.zeros((10, 10), np.int32)
    pred[:, :5], pred[:, 5:] = 1, 2
    out = merge_prediction(np.zeros((10, 10), np.uint32), pred)
    assert len(np.unique(out)) == 2 and out[0, 0] != out[0, 9]


def test_merge_prediction_bad_input():
    ann = np.zeros((5, 5), np.uint32)
    with pytest.raises(InputError, match="does not match"):
        merge_prediction(ann, np.zeros((5, 6), np.int32))
    with pytest.raises(InputError, match="integer"):
        merge_prediction(ann, np.zeros((5, 5), np.float32))


# --- persistence -------------------------------------------------------------------------


def test_project_folder_beside_image(tmp_path):
    assert project_folder_for(tmp_path / "cells.tif") == tmp_path / "cells.napari-unet"
    assert project_folder_for(tmp_path / "a.ome.tif").name == "a.napari-unet"


def test_an_image_of_the_same_stem_gets_its_own_project_folder(tmp_path):
    """cells.tif and cells.png shared cells.napari-unet: the second loaded the first's cells
    and autosave then wrote over them."""
    ann = np.ones((4, 4), np.uint16)
    tif, png = tmp_path / "cells.tif", tmp_path / "cells.png"
    tifffile.imwrite(tif, np.zeros((4, 4), np.uint8))
    png.write_bytes(b"another image")
    ident = image_identity(np.zeros((4, 4), np.uint8), "cells", ann.shape, source=tif)
    folder = save_project(project_folder_for(tif), ann, identity=ident, image=tif)
    before = (folder / ANNOTATIONS_FILE).read_bytes()
    assert project_folder_for(tif) == folder == tmp_path / "cells.napari-unet"  # still its own
    assert project_folder_for(png) == tmp_path / "cells.png.napari-unet"
    assert load_project(folder, ann.shape, tif).annotations.sum() == 16
    with pytest.raises(InputError, match=r"annotations of cells\.tif, not of cells\.png"):
        load_project(folder, ann.shape, png)
    with pytest.raises(InputError, match="cells.tif"):
        save_project(folder, ann * 2, identity={**ident, "file_name": "cells.png"}, image=png)
    assert (folder / ANNOTATIONS_FILE).read_bytes() == before
    # the image saved under another ending, the old file gone: still its project
    tiff = tif.rename(tmp_path / "cells.tiff")
    assert project_folder_for(tiff) == folder
    assert load_project(folder, ann.shape, tiff).annotations.sum() == 16


def test_a_project_whose_annotations_would_be_the_image_is_refused(tmp_path):
    """An image named annotations.tif, its own folder chosen as project folder: it was
    loaded as saved annotations, and autosave wrote the mask over the image."""
    image = tmp_path / ANNOTATIONS_FILE
    pixels = np.arange(64, dtype=np.uint16).reshape(8, 8)
    tifffile.imwrite(image, pixels)
    before = image.read_bytes()
    with pytest.raises(InputError, match="image file itself"):
        load_project(tmp_path, pixels.shape, image)
    with pytest.raises(InputError, match="image file itself"):
        save_project(tmp_path, np.ones((8, 8), np.uint16), image=tmp_path / "." / image.name)
    assert image.read_bytes() == before and not (tmp_path / "project.json").exists()


def test_save_and_load_roundtrip(tmp_path):
    image = np.random.default_rng(0).random((16, 24)).astype(np.float32)
    ann = np.zeros((16, 24), np.uint32)
    ann[2:5, 3:9] = 4
    rect = whole_image_rectangle((16, 24))
    ident = image_identity(image, "cells", ann.shape, (0.5, 0.5), (0, 0), tmp_path / "c.tif")
    folder = save_project(tmp_path / "p", ann, [rect], ["rectangle"], ident)
    assert not list(folder.glob("*.tmp")) and not list(folder.glob(".*"))
    saved = tifffile.imread(folder / ANNOTATIONS_FILE)
    assert saved.dtype == np.uint16
    proj = load_project(folder, ann.shape)
    np.testing.assert_array_equal(proj.annotations, ann)
    np.testing.assert_allclose(proj.region_data[0], rect)
    assert proj.region_types == ["rectangle"] and proj.identity["file_name"] == "c.tif"
    assert str(tmp_path) not in json.dumps(proj.identity)  # no absolute path stored
    assert identity_warnings(proj.identity, ident) == []
    assert load_project(tmp_path / "empty") is None


def test_wide_ids_saved_as_uint32(tmp_path):
    ann = np.zeros((4, 4), np.uint32)
    ann[0, 0] = 70000
    write_annotations(tmp_path / "a.tif", ann)
    assert read_annotations(tmp_path / "a.tif", (4, 4))[0, 0] == 70000


@pytest.mark.parametrize("planes", [3, 4])
def test_a_stack_of_three_or_four_planes_roundtrips(tmp_path, planes):
    # tifffile records 3- and 4-plane arrays as planar RGB unless told otherwise
    ann = np.zeros((planes, 12, 20), np.uint16)
    ann[1, 2:5, 3:9] = 5
    write_annotations(tmp_path / "a.tif", ann)
    np.testing.assert_array_equal(read_annotations(tmp_path / "a.tif", ann.shape), ann)
    tifffile.imwrite(tmp_path / "old.tif", ann)  # as files of earlier versions were written
    np.testing.assert_array_equal(read_annotations(tmp_path / "old.tif", ann.shape), ann)


def test_a_rotated_ellipse_covers_what_was_drawn():
    # napari turns an ellipse's 4 box corners with it: their axis-aligned box was filled,
    # 6 times the drawn ellipse (50 x 5 px radii at 45 degrees), unpainted cells and all
    turn = np.pi / 4
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    box = np.array([[-5, -50], [-5, 50], [5, 50], [5, -50]], float) @ rotation.T + 100
    mask = region_mask([box], ["ellipse"], (200, 200))
    assert abs(mask.sum() - np.pi * 50 * 5) < 0.02 * np.pi * 50 * 5
    yy, xx = np.nonzero(mask)
    along = ((xx - 100) - (yy - 100)) / np.sqrt(2)  # the long axis: x turned by 45 degrees
    across = ((yy - 100) + (xx - 100)) / np.sqrt(2)
    assert (along**2 / 50**2 + across**2 / 5**2 <= 1.05).all()


def test_load_refuses_annotations_of_another_shape_and_keeps_them(tmp_path):
    folder = save_project(tmp_path / "p", np.ones((8, 8), np.uint16))
    before = (folder / ANNOTATIONS_FILE).read_bytes()
    with pytest.raises(InputError, match=r"shape \(8, 8\).*another image"):
        load_project(folder, (9, 8))
    assert (folder / ANNOTATIONS_FILE).read_bytes() == before


def test_read_annotations_refuses_floats_and_negatives(tmp_path):
    tifffile.imwrite(tmp_path / "f.tif", np.zeros((4, 4), np.float32))
    tifffile.imwrite(tmp_path / "n.tif", -np.ones((4, 4), np.int16))
    with pytest.raises(InputError, match="integer"):
        read_annotations(tmp_path / "f.tif", (4, 4))
    with pytest.raises(InputError, match="negative"):
        read_annotations(tmp_path / "n.tif", (4, 4))
    with pytest.raises(InputError, match="no such"):
        read_annotations(tmp_path / "missing.tif", None)


def test_ids_beyond_the_layer_are_renumbered_on_read_and_refused_on_write(tmp_path):
    """Ids above 2^32 were cast to uint32 on import (4294967297 became 1: two cells
    merged) and on export."""
    mask = np.zeros((4, 6), np.uint64)
    mask[0, :2], mask[2, :2], mask[2, 4:] = 1, 2**32 + 1, 2**40
    tifffile.imwrite(tmp_path / "big.tif", mask)
    read = read_annotations(tmp_path / "big.tif", (4, 6))
    assert read.dtype == np.uint32 and count_cells(read)[0] == 3
    np.testing.assert_array_equal(read > 0, mask > 0)
    with pytest.raises(InputError, match="relabel"):
        write_annotations(tmp_path / "out.tif", mask)
    assert not (tmp_path / "out.tif").exists()


def test_accepted_cells_on_a_plane_can_start_above_the_stacks_ids():
    plane = np.zeros((8, 8), np.int32)
    pred = np.zeros((8, 8), np.int32)
    pred[1:4, 1:4] = 1
    assert merge_prediction(plane, pred, min_size=1, first_id=9).max() == 9
    plane[6, 6] = 12
    assert merge_prediction(plane, pred, min_size=1, first_id=9)[2, 2] == 13  # above its own


def test_accepted_changes_are_the_merge_on_the_box_of_the_prediction(monkeypatch):
    """Accepting on a large image merged the whole image (10 s on 8192 x 8192): the change
    is now computed on the box of the predicted pixels, with the same result."""
    from napari_unet.core.annotation import edits

    rng = np.random.default_rng(0)
    for trial in range(60):
        shape = (3, 40, 50) if trial % 3 == 0 else (40, 50)
        ann, pred = np.zeros(shape, np.uint32), np.zeros(shape, np.int32)
        for array, top in ((ann, 6), (pred, 9)):
            for _ in range(int(rng.integers(0, 8))):
                box = tuple(slice(a, a + int(rng.integers(1, 14))) for a in
                            (int(rng.integers(0, n)) for n in shape))  # fmt: skip
                array[box] = rng.integers(1, top)
        region = rng.random(shape) > 0.3 if trial % 2 else None
        first, size = int(rng.integers(1, 20)), int(rng.integers(1, 12))
        expected = merge_prediction(ann, pred, region, size, first)
        idx, values, added = edits.accepted_changes(ann, pred, region, size, first)
        got = ann.copy()
        got[idx] = values
        np.testing.assert_array_equal(got, expected)
        assert added == count_cells(expected)[0] - count_cells(ann)[0]
    seen = []
    monkeypatch.setattr(edits, "merge_prediction", lambda a, *r: seen.append(a.shape) or a)
    big, pred = np.zeros((2000, 3000), np.uint16), np.zeros((2000, 3000), np.int32)
    pred[100:110, 200:230] = 1
    edits.accepted_changes(big, pred)
    assert seen == [(10, 30)]


def test_save_into_unwritable_place_is_a_clear_error(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert not folder_is_writable(blocker / "p") and folder_is_writable(tmp_path / "new" / "p")
    with pytest.raises(InputError, match="cannot create the project folder"):
        save_project(blocker / "p", np.zeros((2, 2), np.uint16))
    if os.geteuid() != 0:  # root ignores permission bits
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        try:
            with pytest.raises(InputError, match="read-only"):
                save_project(ro, np.zeros((2, 2), np.uint16))
        finally:
            ro.chmod(0o700)


def test_content_hash_tells_images_apart():
    a = np.arange(100, dtype=np.uint8).reshape(10, 10)
    b = a.copy()
    b[5, 5] += 1
    assert content_hash(a) == content_hash(a.copy()) != content_hash(b)
    ident_a = image_identity(a, "a", a.shape)
    assert identity_warnings(ident_a, image_identity(b, "a", a.shape)) == [
        "the image's pixels: not the same as in the annotated image"
    ]


class _Lazy:
    """An array read in slices only (as a dask or Zarr level is); records each read's size."""

    def __init__(self, data):
        self._data, self.shape, self.dtype, self.reads = data, data.shape, data.dtype, []

    def __getitem__(self, key):
        part = self._data[key]
        self.reads.append(part.size)
        return part

    def __array__(self, *args, **kwargs):
        raise AssertionError("read whole")


def test_a_multiscale_identity_is_its_full_resolution_level(monkeypatch):
    """project.json recorded the smallest level (np.asarray of napari's multiscale data)."""
    from napari_unet.core.annotation import identity

    full = np.random.default_rng(1).integers(0, 60000, (300, 200), dtype=np.uint16)
    one = image_identity(full, "slide", full.shape)
    pyramid = image_identity([full, full[::2, ::2]], "slide", full.shape)
    assert pyramid["image_shape"] == [300, 200] and pyramid["image_dtype"] == "uint16"
    assert identity_warnings(pyramid, one) == []  # the same pixels as one level
    # a project saved by an earlier version recorded the smallest level: the same image
    legacy = image_identity(full[::2, ::2], "slide", full.shape)
    assert identity_warnings(legacy, pyramid) == []
    assert identity_warnings(legacy, one)  # not a pyramid: a different image
    monkeypatch.setattr(identity, "BLOCK_PIXELS", 1000)  # five rows at a time
    monkeypatch.setattr(identity, "HASH_SAMPLES", 777)  # a step that crosses rows unevenly
    lazy = _Lazy(full)
    lazy_identity = image_identity([lazy, full[::2, ::2]], "slide", full.shape)
    lazy_identity.pop("smallest_level")
    assert lazy_identity == image_identity(full, "slide", full.shape)
    assert lazy.reads and max(lazy.reads) <= 1000  # sampled in blocks, never read whole


def test_shared_data_masks_roundtrip(shared_data, tmp_path):
    mask = tifffile.imread(shared_data / "stardist_nuclei2d" / "tests_mask2d_256.tif")
    image = tifffile.imread(shared_data / "stardist_nuclei2d" / "tests_img2d_256.tif")
    folder = save_project(tmp_path / "p", mask, identity=image_identity(image, "n", mask.shape))
    proj = load_project(folder, mask.shape)
    np.testing.assert_array_equal(proj.annotations, mask)
    # Accepting the ground truth as a prediction onto half-painted annotations keeps every
    # painted cell and adds the rest.
    ann = np.where(np.arange(256)[None, :] < 128, mask, 0).astype(np.uint32)
    merged = merge_prediction(ann, mask, min_size=1)
    assert (merged[ann > 0] == ann[ann > 0]).all()
    assert count_cells(merged)[1] == count_cells(mask)[1]
    assert count_cells(merged)[0] >= count_cells(mask)[0]
