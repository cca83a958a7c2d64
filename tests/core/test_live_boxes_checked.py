"""LiveTrainer's boxes are checked on the caller's thread; a wrong one leaves it running.

A box is ``(y0, y1, x0, x1)``, end excluded (docs/api.md, docs/live.md). Before, a
``((y0, y1), (x0, x1))`` region was taken by ``update`` and killed the trainer's thread in
``request_view`` with a TypeError; a wrong box or labels of the wrong shape ended it later.
"""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

import napari_unet as nu

FORM = re.escape("(y0, y1, x0, x1), end excluded")


def _wait(cond, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


@pytest.fixture
def trainer(one_thread):
    from napari_unet.core.models.unet import UNet

    image, labels = nu.touching_cells(shape=(96, 112), n_cells=12, seed=3)
    model = UNet(1, 2, base_channels=4, depth=3, padding="same")
    views = []
    config = nu.LiveConfig(batch_size=1, crop_size=64)
    t = nu.LiveTrainer(model, {}, image.astype(np.float32)[None], config, on_view=views.append)
    t.views, t.cells = views, labels.astype(np.int32)
    yield t
    assert t.stop()


def _alive(t):
    assert t.running and t.error is None


def test_a_region_as_box_is_refused_with_the_right_form(trainer):
    patch = trainer.cells[0:64, 0:64]
    with pytest.raises(nu.InputError, match=FORM) as info:
        trainer.update(((0, 64), (0, 64)), patch)
    assert "(0, 64, 0, 64)" in str(info.value) and "((0, 64), (0, 64))" in str(info.value)
    with pytest.raises(nu.InputError, match=FORM):
        trainer.request_view(((0, 64), (0, 64)))
    time.sleep(0.3)
    _alive(trainer)
    assert trainer.last_update == -1  # nothing was queued


@pytest.mark.parametrize(
    "box, words",
    [
        ((0, 0, 64, 64), "empty or reversed"),  # (y0, x0, y1, x1)
        ((0, 97, 0, 64), "outside the 96 x 112 image"),
        ((-1, 10, 0, 10), "outside"),
        ((0, 10.5, 0, 10), "four integers"),
        ((0, 10, 0), "four integers"),
        (None, "four integers"),
    ],
)
def test_wrong_boxes_are_refused_on_the_callers_thread(trainer, box, words):
    with pytest.raises(nu.InputError, match=FORM) as info:
        trainer.request_view(box)
    assert words in str(info.value) and repr(box) in str(info.value)
    if box is not None:
        with pytest.raises(nu.InputError, match=words):
            trainer.update(box, np.zeros((5, 5), np.int32))
    time.sleep(0.3)
    _alive(trainer)


def test_labels_that_do_not_fill_the_box_are_refused_and_the_trainer_goes_on(trainer):
    with pytest.raises(nu.InputError, match=r"labels of shape \(96, 112\) do not fill"):
        trainer.update((0, 64, 0, 64), trainer.cells)  # the whole plane, not the box's pixels
    with pytest.raises(nu.InputError, match="mask of shape"):
        trainer.update((0, 64, 0, 64), trainer.cells[:64, :64], np.ones((3, 3), bool))
    with pytest.raises(nu.InputError, match="integer ids"):
        trainer.update((0, 64, 0, 64), trainer.cells[:64, :64].astype(np.float32))
    time.sleep(0.3)
    _alive(trainer)
    # the right form, numpy integers too: taken, trained on and predicted
    box = tuple(np.int64(v) for v in (0, 64, 0, 64))
    trainer.update(box, trainer.cells[:64, :64])
    _wait(lambda: trainer.step >= 2)
    trainer.request_view(np.array([8, 72, 16, 80]))
    _wait(lambda: trainer.views)
    assert trainer.views[0].box == (8, 72, 16, 80)
    assert trainer.views[0].labels.shape == (64, 64)
    _alive(trainer)


def test_a_wrong_region_is_refused_at_the_call_and_the_trainer_goes_on(trainer):
    """Before: ``set_region`` took a mask of another shape and the thread died on it."""
    with pytest.raises(nu.InputError, match=r"region of shape \(32, 32\); expected \(96, 112\)"):
        trainer.set_region(np.ones((32, 32), bool))
    with pytest.raises(nu.InputError, match="boolean mask"):
        trainer.set_region(np.ones((96, 112), np.float32))
    time.sleep(0.3)
    _alive(trainer)
    assert trainer.last_update == -1  # nothing was queued
    region = np.zeros((96, 112), np.uint8)  # 0/1 integers are a mask too
    region[8:40, 8:40] = 1
    uid = trainer.set_region(region)
    _wait(lambda: uid in trainer.applied_at)
    assert trainer.data.region.sum() == 32 * 32
    _alive(trainer)
