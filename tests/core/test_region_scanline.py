"""Polygons rasterised by scanlines: exactly skimage.draw.polygon's pixels, without its cost.

skimage tested every pixel of the bounding box against every edge while holding the GIL
(1.8 s for a 4-vertex polygon on 4096 x 4096, napari frozen): ``polygon_block`` must give the
same pixels, boundary pixels included, for any vertices.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage.draw import polygon

from napari_unet.core.annotation.project import REGION_FILE, load_project, save_project
from napari_unet.core.annotation.regions import region_mask
from napari_unet.core.annotation.scanline import polygon_block
from napari_unet.core.errors import InputError

EXAMPLES = settings(max_examples=400, deadline=None)


def skimage_mask(verts: np.ndarray, shape) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    rr, cc = polygon(verts[:, 0], verts[:, 1], shape=shape)
    mask[rr, cc] = True
    return mask


def scanline_mask(verts: np.ndarray, shape) -> np.ndarray:
    mask = np.zeros(shape, dtype=bool)
    rows, cols, inside = polygon_block(verts[:, 0], verts[:, 1], shape)
    assert inside.dtype == bool and inside.shape == mask[rows, cols].shape
    mask[rows, cols] = inside
    return mask


def assert_same(verts, shape):
    verts = np.asarray(verts, dtype=float).reshape(-1, 2)
    expected, got = skimage_mask(verts, shape), scanline_mask(verts, shape)
    diff = np.argwhere(expected != got)
    assert diff.size == 0, f"vertices {verts.tolist()} on {shape}: differ at {diff.tolist()}"


# Coordinates: on pixel centres, on half pixels, anywhere; some off the image (-6 .. 30 on
# images up to 24 px).
on_centres = st.integers(-6, 30).map(float)
on_halves = st.integers(-12, 60).map(lambda v: v / 2)
anywhere = st.floats(-6, 30, allow_nan=False, allow_infinity=False)
coordinate = st.one_of(on_centres, on_halves, anywhere)
image_shape = st.tuples(st.integers(1, 24), st.integers(1, 24))


@EXAMPLES
@given(
    verts=st.lists(st.tuples(coordinate, coordinate), min_size=3, max_size=12),
    shape=image_shape,
)
def test_random_polygons_give_skimages_pixels(verts, shape):
    # Self-intersecting, zero-area, repeated vertices and horizontal edges included.
    assert_same(verts, shape)


@EXAMPLES
@given(
    verts=st.lists(st.tuples(on_centres, on_centres), min_size=3, max_size=12),
    shape=image_shape,
)
def test_polygons_on_pixel_centres_give_skimages_pixels(verts, shape):
    # Every vertex on a pixel centre: many pixels lie exactly on edges and vertices.
    assert_same(verts, shape)


@settings(max_examples=300, deadline=None)
@given(
    centre=st.tuples(anywhere, anywhere),
    size=st.tuples(st.floats(0, 30), st.floats(0, 30)),
    angle=st.one_of(st.sampled_from([0, 30, 45, 60, 90, 135]), st.floats(0, 360)),
    rounded=st.booleans(),
    shape=image_shape,
)
def test_rotated_rectangles_give_skimages_pixels(centre, size, angle, rounded, shape):
    # napari's rectangle: 4 corners in order, turned about its centre.
    a = np.deg2rad(angle)
    turn = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    h, w = size
    corners = np.array([[-h, -w], [-h, w], [h, w], [h, -w]]) / 2 @ turn.T + centre
    assert_same(np.round(corners) if rounded else corners, shape)


@pytest.mark.parametrize(
    "verts",
    [
        [[3, 3]],  # one vertex on a pixel centre
        [[3.2, 3]],  # one vertex off it
        [[1, 1], [6, 6]],  # two vertices: a segment through pixel centres
        [[1, 1], [1, 6], [1, 9]],  # collinear, horizontal
        [[1, 2], [5, 2], [9, 2]],  # collinear, vertical
        [[2, 2], [2, 2], [2, 2]],  # one point three times
        [[0, 0], [8, 8], [0, 8], [8, 0]],  # a bow tie
        [[1, 1], [1, 9], [9, 9], [9, 1], [1, 1], [3, 3], [3, 7], [7, 7], [7, 3], [3, 3]],
        [[-5, -5], [-5, -1], [-1, -1]],  # wholly off the image
        [[-50, -50], [-50, 50], [50, 50], [50, -50]],  # covers the whole image
        [[4, -100], [4.5, 200], [5, -100]],  # a thin sliver far beyond both sides
        [[2, 2 + 1e-13], [2, 6], [6, 6]],  # a vertex within skimage's 1e-12 of a centre
    ],
)
def test_degenerate_and_boundary_cases_give_skimages_pixels(verts):
    assert_same(verts, (12, 12))


def test_a_large_freehand_shape_gives_skimages_pixels():
    # Many vertices and long rows: the rows are filled in blocks.
    rng = np.random.default_rng(3)
    t = np.sort(rng.uniform(0, 2 * np.pi, 300))
    radius = rng.uniform(40, 140, t.size)
    verts = np.stack([150 + radius * np.sin(t), 170 + radius * np.cos(t)], axis=1)
    verts[::7] = np.round(verts[::7])  # some vertices on pixel centres
    assert_same(verts, (300, 330))


def test_region_mask_of_polygons_on_a_stack_is_skimages():
    shapes = [
        np.array([[1, 2, 3.5], [1, 20, 10], [1, 3, 25.2], [1, 12, 12]]),  # plane 1
        np.array([[2, 2], [2, 12], [12, 12]]),  # a 2D polygon: every plane
        np.array([[5, 4, 4], [5, 4, 9], [5, 9, 9]]),  # plane 5 is not in the stack: nothing
        np.array([[0, 1, 1], [0, 15, 4], [0, 12, 19], [0, 0, 14]]),  # a turned rectangle
    ]
    types = ["polygon", "polygon", "polygon", "rectangle"]
    got = region_mask(shapes, types, (3, 24, 28))
    expected = np.zeros((3, 24, 28), dtype=bool)
    expected[1] |= skimage_mask(shapes[0][:, 1:], (24, 28))
    expected[:] |= skimage_mask(shapes[1], (24, 28))
    expected[0] |= skimage_mask(shapes[3][:, 1:], (24, 28))
    assert np.array_equal(got, expected)


def test_loading_a_project_checks_the_region_fits_without_rasterising(tmp_path, monkeypatch):
    big = [np.array([[0, 0], [0, 9000], [9000, 9000], [9000, 0]])]
    save_project(tmp_path, region_data=big, region_types=["polygon"])
    import napari_unet.core.annotation.scanline as scanline

    def refuse(*args, **kwargs):
        raise AssertionError("the region was rasterised to check it")

    monkeypatch.setattr(scanline, "polygon_block", refuse)
    monkeypatch.setattr("skimage.draw.polygon", refuse)
    project = load_project(tmp_path, expected_shape=(8192, 8192))
    assert project is not None and len(project.region_data) == 1

    # A region that does not fit the image (3D vertices for a 2D image) is still refused.
    saved = {"shapes": [{"type": "polygon", "data": [[0, 1, 1], [0, 1, 5], [0, 5, 5]]}]}
    (tmp_path / REGION_FILE).write_text(json.dumps(saved))
    with pytest.raises(InputError, match="does not fit an image of shape"):
        load_project(tmp_path, expected_shape=(16, 16))
    assert load_project(tmp_path, expected_shape=(2, 16, 16)) is not None
