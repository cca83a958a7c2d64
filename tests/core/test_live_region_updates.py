"""Live training's regions: only the newest queued region is applied; its box is cheap.

- ``LiveTrainer`` applied every queued region update in turn (one drag queued 21, each a
  whole plane's mask: seconds on a big plane); a region replaces the ones before it.
- ``LiveData.set_region`` found the changed box with ``np.argwhere``: an int64 array of
  every changed pixel (1 GiB for one big rectangle on 8192 x 8192).
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import napari_unet as nu
from napari_unet.core.live.data import LiveData


@pytest.fixture
def stopped(one_thread):
    """A LiveTrainer whose thread has ended: updates queue until applied by hand."""
    from napari_unet.core.models.unet import UNet

    image, _ = nu.touching_cells(shape=(64, 80), n_cells=6, seed=3)
    model = UNet(1, 2, base_channels=4, depth=2, padding="same")
    config = nu.LiveConfig(batch_size=1, crop_size=32)
    trainer = nu.LiveTrainer(model, {}, image.astype(np.float32)[None], config)
    assert trainer.stop()
    return trainer


def test_only_the_newest_of_queued_regions_is_applied_and_strokes_all_are(stopped):
    trainer, h, w = stopped, 64, 80
    regions, boxes, calls = [], [], []
    real_region, real_update = trainer.data.set_region, trainer.data.update
    trainer.data.set_region = lambda m: calls.append("region") or real_region(m)
    trainer.data.update = lambda *a: calls.append("box") or real_update(*a)
    ids = []
    for k in range(4):
        region = np.zeros((h, w), bool)
        region[5 + 5 * k : 20 + 5 * k, 5:30] = True  # a shape dragged down
        regions.append(region)
        ids.append(trainer.set_region(region))
        cells = np.zeros((10, 10), np.int32)
        cells[2:8, 2:8] = k + 1
        boxes.append((40, 50, 10 * k, 10 * k + 10))
        ids.append(trainer.update(boxes[-1], cells, np.ones((10, 10), bool)))
    trainer._apply_updates()
    assert calls.count("region") == 1, calls  # the newest replaced the others
    assert calls.count("box") == 4 and calls[-2:] == ["region", "box"]  # in order
    np.testing.assert_array_equal(trainer.data.region, regions[-1])
    for k, (y0, _, x0, _) in enumerate(boxes):
        assert trainer.data.labels[y0 + 4, x0 + 4] == k + 1  # every stroke applied
    assert set(ids) <= set(trainer.applied_at)  # a replaced region counts as applied
    expected = regions[-1].copy()
    expected[40:50, 0:40] = True
    np.testing.assert_array_equal(trainer.data.mask, expected)


def _argwhere_box(new, old):
    changed = np.argwhere(new != old)
    if not changed.size:
        return None
    (y0, x0), (y1, x1) = changed.min(0), changed.max(0) + 1
    return int(y0), int(y1), int(x0), int(x1)


def test_set_region_finds_the_same_box_without_listing_the_changed_pixels():
    rng = np.random.default_rng(0)
    data = LiveData(np.zeros((1, 50, 70), np.float32))
    data._recompute = lambda box: None  # the box alone (targets are another matter)
    for k in range(40):
        region = np.zeros((50, 70), bool)
        if k % 4:
            y, x = rng.integers(0, 50, 2), rng.integers(0, 70, 2)
            region[y.min() : y.max() + 1, x.min() : x.max() + 1] = True
            region[rng.random((50, 70)) < 0.002 * (k % 3)] = True  # stray pixels
        expected = _argwhere_box(region, data.mask)
        assert data.set_region(region) == expected
    assert data.set_region(region) is None  # nothing changed

    n = 4096  # one big rectangle of background: its memory is about the mask's
    data = LiveData(np.zeros((1, n, n), np.float32))
    data._recompute = lambda box: None
    region = np.zeros((n, n), bool)
    region[50 : n - 50, 50 : n - 50] = True
    tracemalloc.start()
    try:
        box = data.set_region(region)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert box == (50, n - 50, 50, n - 50)
    assert peak < 4 * region.nbytes, f"peak {peak / region.nbytes:.1f} x the mask's size"
