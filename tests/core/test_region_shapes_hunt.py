"""A turned ellipse is rasterised as drawn, also when its box maps to a parallelogram.

A Shapes layer of scale 1 over labels of scale (1, 0.5) (napari's New shapes with no layer
selected) maps a rotated ellipse's box into the labels' pixels as a parallelogram whose
half-edges are not perpendicular. Before, ``_turned_ellipse`` read a pixel's coordinates by
projection onto each half-edge, right only for perpendicular edges: 1,312 of ~1,577 pixels
of a 45-degree ellipse were wrong. The reference here is brute force: each pixel centre
mapped into the Shapes layer's coordinates and tested against the ellipse drawn there.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet.core.annotation.regions import region_mask
from napari_unet.core.errors import InputError

SHAPE = (120, 120)


def _turned_box(centre, half, degrees) -> np.ndarray:
    """The 4 corners (napari's order) of a box of half-sizes ``half`` turned by ``degrees``."""
    t = np.deg2rad(degrees)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    h0, h1 = half
    box = np.array([[-h0, -h1], [-h0, h1], [h0, h1], [h0, -h1]], float)
    return box @ rot.T + np.asarray(centre, float)


def _brute_force(centre, half, degrees, pixel_size, shape=SHAPE) -> np.ndarray:
    """Pixels whose centres, in the drawing's coordinates, lie inside the turned ellipse."""
    t = np.deg2rad(degrees)
    rr, cc = np.mgrid[0 : shape[0], 0 : shape[1]].astype(float)
    y, x = rr * pixel_size[0] - centre[0], cc * pixel_size[1] - centre[1]
    u = (np.cos(t) * y + np.sin(t) * x) / half[0]  # along the box's first half-edge
    v = (-np.sin(t) * y + np.cos(t) * x) / half[1]
    return u * u + v * v < 1


CASES = [
    # (centre, half-sizes, degrees, labels' pixel size in the drawing's units)
    ((60.0, 30.0), (25.0, 10.0), 45.0, (1.0, 0.5)),  # the hunt's case
    ((60.0, 30.0), (25.0, 10.0), 30.0, (1.0, 0.5)),
    ((50.0, 40.0), (12.0, 30.0), 70.0, (1.0, 0.5)),
    ((30.0, 60.0), (20.0, 8.0), 20.0, (0.5, 1.0)),
    ((40.0, 45.0), (15.0, 25.0), 135.0, (0.7, 0.4)),
]


@pytest.mark.parametrize(("centre", "half", "degrees", "pixel_size"), CASES)
def test_a_turned_ellipse_on_a_parallelogram_marks_the_drawn_ellipse(
    centre, half, degrees, pixel_size
):
    box = _turned_box(centre, half, degrees) / np.asarray(pixel_size)  # in the labels' pixels
    got = region_mask([box], ["ellipse"], SHAPE)
    want = _brute_force(centre, half, degrees, pixel_size)
    wrong = int((got != want).sum())
    assert want.sum() > 300
    assert wrong <= 3, f"{wrong} of {int(want.sum())} pixels differ from the drawn ellipse"


@pytest.mark.parametrize("degrees", [15.0, 45.0, 60.0, 100.0, 135.0])
def test_a_rotated_ellipse_on_the_labels_grid_still_marks_the_drawn_ellipse(degrees):
    got = region_mask([_turned_box((60.3, 55.1), (30.0, 12.5), degrees)], ["ellipse"], SHAPE)
    want = _brute_force((60.3, 55.1), (30.0, 12.5), degrees, (1.0, 1.0))
    assert int((got != want).sum()) <= 2


def test_an_upright_ellipse_keeps_skimages_pixels():
    from skimage.draw import ellipse

    box = np.array([[10, 20], [10, 60], [40, 60], [40, 20]], float)
    want = np.zeros(SHAPE, bool)
    want[ellipse(25, 40, 15, 20, shape=SHAPE)] = True
    assert np.array_equal(region_mask([box], ["ellipse"], SHAPE), want)


def test_shapes_with_more_axes_than_the_image_are_still_refused_here():
    """The core keeps refusing them: only the docks know which axes the shapes' extra ones are."""
    rect = np.array([[1, 0, 0], [1, 0, 60], [1, 95, 60], [1, 95, 0]], float)
    with pytest.raises(InputError, match=r"vertices of shape \(4, 3\) does not fit"):
        region_mask([rect], ["rectangle"], (96, 96))
