"""Accepting a prediction wrapped a painted cell in a ring-shaped new cell when the predicted
outline was a pixel or two larger than the painted cell; a genuinely different object's
remainder, and a predicted cell cut by a stroke, are still copied."""

from __future__ import annotations

import numpy as np

from napari_unet.core.annotation.edits import accepted_changes, merge_prediction


def _disc(shape, centre, r):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= r * r


def test_a_slightly_larger_outline_adds_no_ring_cell():
    ann = np.zeros((64, 64), np.uint32)
    ann[_disc(ann.shape, (30, 30), 8)] = 1
    for r, shift in ((9, 0), (10, 0), (10, 1)):
        pred = np.zeros((64, 64), np.int32)
        pred[_disc(pred.shape, (30, 30 + shift), r)] = 4
        out = merge_prediction(ann, pred)
        assert np.array_equal(out, ann), (r, shift)
        idx, _, added = accepted_changes(ann, pred)
        assert added == 0 and idx[0].size == 0


def test_the_rest_of_a_different_object_is_still_copied():
    ann = np.zeros((64, 64), np.uint32)
    ann[_disc(ann.shape, (30, 20), 8)] = 1
    pred = np.zeros((64, 64), np.int32)
    other = _disc(pred.shape, (30, 32), 9)  # a neighbour the painted cell covers in part
    pred[other] = 2
    out = merge_prediction(ann, pred)
    new = out[other & (ann == 0)]
    assert (new > 1).all() and np.unique(new).size == 1
    # a predicted cell cut by a stroke: both sides are copied
    ann = np.zeros((20, 40), np.uint32)
    ann[:, 20:22] = 1
    pred = np.zeros((20, 40), np.int32)
    pred[4:16, 4:36] = 3
    out = merge_prediction(ann, pred)
    assert out[10, 10] > 1 and out[10, 30] > 1 and out[10, 10] != out[10, 30]
