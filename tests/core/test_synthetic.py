from __future__ import annotations

import numpy as np
import pytest

from napari_unet import InputError, touching_cells


def _touching_pairs(labels: np.ndarray) -> set[tuple[int, int]]:
    pairs = set()
    for axis in (0, 1):
        a = np.moveaxis(labels, axis, 0)
        p, q = a[:-1], a[1:]
        m = (p > 0) & (q > 0) & (p != q)
        pairs |= {tuple(sorted(t)) for t in zip(p[m].tolist(), q[m].tolist(), strict=True)}
    return pairs


def test_deterministic_for_a_seed():
    a = touching_cells((128, 160), 20, seed=3)
    b = touching_cells((128, 160), 20, seed=3)
    c = touching_cells((128, 160), 20, seed=4)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def test_types_ranges_and_consecutive_ids():
    image, labels = touching_cells((200, 150), 30, seed=1)
    assert image.shape == labels.shape == (200, 150)
    assert image.dtype == np.float32 and labels.dtype == np.int32
    assert 0.0 <= image.min() and image.max() <= 1.0
    ids = np.unique(labels)
    assert ids[0] == 0 and np.array_equal(ids, np.arange(len(ids)))
    assert len(ids) - 1 >= 25  # only a few cells may hide behind neighbours


def test_cells_touch_in_clusters_and_are_single_pieces():
    from scipy import ndimage

    _, labels = touching_cells((256, 256), 40, seed=0)
    assert len(_touching_pairs(labels)) >= 20
    for index, box in enumerate(ndimage.find_objects(labels), start=1):
        assert ndimage.label(labels[box] == index)[1] == 1


def test_cells_are_brighter_than_background():
    image, labels = touching_cells((256, 256), 40, seed=2)
    assert image[labels > 0].mean() > image[labels == 0].mean() + 0.2


def test_noise_free_image_is_smooth():
    noisy, _ = touching_cells((128, 128), 10, seed=5, noise=1.0)
    clean, _ = touching_cells((128, 128), 10, seed=5, noise=0.0)
    assert np.abs(np.diff(clean, axis=1)).mean() < np.abs(np.diff(noisy, axis=1)).mean()


@pytest.mark.parametrize(("shape", "n"), [((8, 8), 3), ((64,), 3), ((64, 64), 0)])
def test_bad_arguments(shape, n):
    with pytest.raises(InputError):
        touching_cells(shape, n)
