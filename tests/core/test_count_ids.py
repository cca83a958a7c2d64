"""count_ids: the number of cells painted, by counting or (huge ids) by sorting."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet.core.images.labels import count_ids


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.int64, np.uint64])
def test_count_ids_equals_the_distinct_positive_ids(dtype):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 50, (64, 64)).astype(dtype)
    labels[labels == 7] = 0
    assert count_ids(labels) == np.unique(labels[labels > 0]).size == 48


def test_huge_ids_and_negative_and_empty():
    labels = np.zeros((8, 8), np.int64)
    assert count_ids(labels) == 0
    labels[0, 0], labels[1, 1], labels[2, 2] = 2**40, 2**40, 3
    labels[3, 3] = -5  # not a cell
    assert count_ids(labels) == 2
    assert count_ids(labels.astype(np.uint64)[:2]) == 1
