"""The default hold-out never leaves the training part without a cell."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet import touching_cells
from napari_unet.core.training.pairs import make_pairs
from napari_unet.core.training.validation import split_holdout


def bottom_painted(region: bool = False):
    """A 200-row image whose cells were painted in rows 165-199 only (its bottom edge)."""
    image, labels = touching_cells((200, 200), n_cells=12, seed=0)
    image, labels = np.roll(image, 75, axis=0), np.roll(labels, 75, axis=0)
    labels[:165] = 0
    mask = None if not region else np.ones(labels.shape, np.uint8)  # all rows checked
    return make_pairs([image], [labels], [mask])


def test_cells_painted_at_the_bottom_stay_in_the_training_part():
    # Before: the strip of the bottom 20% of the rows (160-200) took every painted cell and
    # the network trained on background only, silently.
    (pair,) = bottom_painted()
    (train,), (val,) = split_holdout([pair], 0.2)
    assert train.fg_index.size > 0  # cells left to train on
    assert (val.labels > 0).any()  # and some to score
    cut = 200 - val.shape[0]
    assert 165 < cut < 200  # the cells' rows are the ones cut
    assert (train.weights[cut:] == 0).all() and (train.weights[:cut] > 0).any()


def test_a_regions_cells_painted_at_its_bottom_are_split_too():
    # A region marks every row as checked; its cells' rows are cut all the same (before,
    # the strip could not move: no validation, with a warning).
    (pair,) = bottom_painted(region=True)
    (train,), (val,) = split_holdout([pair], 0.2)
    assert train.fg_index.size > 0 and (val.labels > 0).any()
    assert 165 < 200 - val.shape[0] < 200


def last_row_painted():
    """A region over a whole image whose only painted cells touch its last row alone."""
    image, _ = touching_cells((200, 200), n_cells=12, seed=0)
    labels = np.zeros(image.shape, np.uint16)
    labels[199, 50:70] = 1  # one row of cells: no row to cut between them
    return make_pairs([image], [labels], [np.ones(labels.shape, np.uint8)])


def test_a_cut_that_leaves_no_cell_to_train_on_gives_no_validation_and_says_so():
    (pair,) = last_row_painted()
    with pytest.warns(RuntimeWarning, match="no validation"):
        train, val = split_holdout([pair], 0.2)
    assert val == [] and train[0] is pair


def test_another_pair_with_cells_keeps_the_hold_out():
    (pair,) = last_row_painted()
    image, labels = touching_cells((48, 48), n_cells=3, seed=1)
    (small,) = make_pairs([image], [labels])
    train, (val,) = split_holdout([small, pair], 0.2)
    assert train[0] is small and train[1].fg_index.size == 0 and val.n_cells > 0
