"""A mask given as instance labels (boolean, or one id over many cells) is told apart from
labels: label files are refused, a layer painted in napari is not."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet.core.errors import InputError
from napari_unet.core.images.labels import check_not_mask


def _cells(n: int, value: int = 1, dtype=np.uint8) -> np.ndarray:
    lab = np.zeros((40, 40), dtype)
    for k in range(n):
        lab[2 + 6 * k : 5 + 6 * k, 2:5] = value
    return lab


@pytest.mark.parametrize("value", [1, 255])
def test_one_id_over_three_or_more_pieces_is_a_mask(value):
    with pytest.raises(InputError, match=rf"a.tif: a mask \(the one id {value} covers 3 .*first"):
        check_not_mask(_cells(3, value), "a.tif")  # before: one object, silently


def test_a_mask_with_a_samples_axis_is_refused():
    """(Y, X, 1), as read_image gives some TIFFs: before, counted as Y one-pixel planes."""
    with pytest.raises(InputError, match="covers 3 separate objects"):
        check_not_mask(_cells(3, 255)[..., None], "a.tif")


def test_a_stack_whose_planes_are_masks_is_refused():
    with pytest.raises(InputError, match="label the mask first"):
        check_not_mask(np.stack([_cells(1), _cells(4)]), "stack.tif")


def test_a_boolean_mask_is_refused():
    with pytest.raises(InputError, match="a boolean mask"):
        check_not_mask(_cells(1).astype(bool))


@pytest.mark.parametrize(
    "labels",
    [
        _cells(2),  # one cell painted in two strokes
        _cells(1, 255),  # one cell
        np.where(_cells(5) > 0, np.arange(1600).reshape(40, 40) // 320 + 1, 0),  # five ids
        np.zeros((40, 40), np.uint16),  # nothing annotated
    ],
)
def test_labels_are_not_masks(labels):
    check_not_mask(labels)


def test_make_pairs_keeps_one_id_painted_over_several_cells():
    """napari's Annotate layers go through make_pairs, which does not refuse them."""
    from napari_unet.core.training.pairs import make_pairs

    image = np.random.default_rng(0).random((40, 40)).astype(np.float32)
    assert len(make_pairs([image], [_cells(4)])) == 1
