"""measure's min and max intensity of 64-bit integer images are their pixel values (hunt 15).

Before: scikit-image gives them as float64, cast to int64: a uint64 image's values above
2**63 came out as -9223372036854775808, and 64-bit values beyond 2**53 rounded.
"""

from __future__ import annotations

import numpy as np

from napari_unet import measure_objects


def _cells() -> np.ndarray:
    lab = np.zeros((32, 32), np.uint16)
    lab[4:12, 4:12] = 1
    lab[20:25, 20:30] = 7
    return lab


def test_uint64_min_and_max_above_2_63_are_exact_and_unsigned():
    lab = _cells()
    img = np.full((32, 32), 2**63 + 1000, np.uint64)
    img[5, 5] = 2**63 + 5
    img[21, 21] = 3
    table = measure_objects(lab, img)
    assert table["min_intensity"].dtype == np.uint64
    assert table["min_intensity"].tolist() == [2**63 + 5, 3]
    assert table["max_intensity"].tolist() == [2**63 + 1000, 2**63 + 1000]


def test_int64_beyond_2_53_and_channels_and_stacks_are_exact():
    lab = _cells()
    img = np.full((32, 32), -(2**62) - 7, np.int64)
    img[6, 6] = 2**60 + 1
    table = measure_objects(lab, img)
    assert table["min_intensity"].dtype == np.int64
    assert table["min_intensity"].tolist() == [-(2**62) - 7, -(2**62) - 7]
    assert table["max_intensity"].tolist() == [2**60 + 1, -(2**62) - 7]
    big = np.full((32, 32), 2**64 - 1, np.uint64)
    rgb = np.stack([big, np.full((32, 32), 9, np.uint64)], axis=-1)
    table = measure_objects(lab, rgb)
    assert table["max_intensity_c0"].tolist() == [2**64 - 1] * 2
    assert table["min_intensity_c1"].tolist() == [9, 9]
    stack_lab = np.stack([lab, np.zeros_like(lab), lab])
    stack_img = np.stack([big, big, np.full((32, 32), 5, np.uint64)])
    table = measure_objects(stack_lab, stack_img)  # a plane in int64 range with one beyond it
    assert table["max_intensity"].dtype == np.uint64
    assert table["max_intensity"].tolist() == [2**64 - 1, 2**64 - 1, 5, 5]
    assert table["plane"].tolist() == [0, 0, 2, 2]


def test_small_integer_images_keep_int64_columns():
    lab = _cells()
    img = np.arange(32 * 32, dtype=np.uint16).reshape(32, 32)
    table = measure_objects(lab, img)
    assert table["min_intensity"].dtype == np.int64
    assert table["min_intensity"].tolist() == [4 * 32 + 4, 20 * 32 + 20]
    assert table["max_intensity"].tolist() == [11 * 32 + 11, 24 * 32 + 29]
