"""Each seeded head learns real nuclei: a short run on DSB2018 images, scored on others."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_unet import TrainConfig, segment, train  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import dsb_full  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]
TINY = {"arch": "unet", "base_channels": 8, "depth": 3, "padding": "same", "batch_norm": True}
#: Measured at 200 steps: 0.695 (distance) and 0.813 (3class) on 2026-12-06 (at 300 steps
#: 0.786 and 0.763, docs/benchmarks.md, issue 17; at 150 the distance head's 0.627 left too
#: little room); the floors leave room for other machines' arithmetic and thread counts.
FLOORS = {"distance": 0.6, "3class": 0.6}


@pytest.fixture(scope="module")
def full(shared_data):
    data = shared_data / "dsb2018_full"
    if not (data / "index.csv").exists():
        pytest.skip("dsb2018_full is not in the shared data folder")
    parts = dsb_full.split(data, kinds=("fluo",), extra_val=0)
    # A fixed handful: train images of the size of the test images scored.
    train_items = [i for i in parts["train"] if i.group == "fluo_256x256"][:8]
    test_items = [i for i in parts["test"] if i.group == "fluo_256x256"][:6]
    return data, train_items, test_items


@pytest.mark.parametrize("head", sorted(FLOORS))
def test_a_seeded_head_learns_real_nuclei(full, head):
    data, train_items, test_items = full
    config = TrainConfig(
        model={**TINY, "head": head}, steps=200, batch_size=4, crop_size=96, lr=3e-3,
        val_every=1000, device="cpu",
    )  # fmt: skip
    result = train(dsb_full.make_pairs_of(data, train_items, config), config)
    model = result.model.eval()
    test = [dsb_full.load(data, item) for item in test_items]
    preds = [segment(model, im, metadata=result.metadata, device="cpu") for im, _ in test]
    scores = dsb_full.scores([t for _, t in test], preds)
    assert scores["ap50"] > FLOORS[head], scores
    assert np.isfinite(scores["dsb"])
