"""An undo's pixels that were empty already are taken back too (erase, then two undos).

Paint a cell, erase it, then undo twice at once: the labels are as the trainer held them
after the erase, so no pixel was "gone", and the erase's background stayed annotated.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet.core.errors import InputError
from napari_unet.core.live.data import RING, LiveData


def test_a_mask_of_pixels_taken_back_unannotates_them_and_their_ring():
    raw = np.random.default_rng(0).random((1, 80, 80)).astype(np.float32)
    data = LiveData(raw)
    cell = np.zeros((40, 40), np.int32)
    cell[15:25, 15:25] = 1
    data.update((10, 50, 10, 50), cell)
    keep = np.zeros((40, 40), np.int32)
    data.update((40, 80, 40, 80), keep + np.pad(np.ones((5, 5), np.int32), ((30, 5), (30, 5))) * 2)
    data.update((10, 50, 10, 50), np.zeros((40, 40), np.int32))  # erased: background
    assert data.mask[25:35, 25:35].all()
    empty = np.zeros((40, 40), np.int32)
    data.update((10, 50, 10, 50), empty, undone=True)  # nothing gone: nothing taken back
    assert data.mask[25:35, 25:35].all()
    taken = cell > 0
    data.update((10, 50, 10, 50), empty, undone=taken)
    assert not data.mask[25:35, 25:35].any()  # the cell's place, as before it was painted
    assert not data.mask[25 + 5, 25 + 10 + RING - 1]  # and its ring
    assert data.mask[72:75, 72:75].all()  # another cell stays annotated
    with pytest.raises(InputError, match="undone mask"):
        data.checked((10, 50, 10, 50), empty, None, np.zeros((3, 3), bool))
