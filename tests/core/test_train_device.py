"""Training with crops made on the device (here the CPU) learns as the CPU sampler does."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_unet import TrainConfig, make_pairs, touching_cells, train  # noqa: E402
from napari_unet.core.training.validation import evaluate_pairs  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def test_device_crops_reach_the_loss_of_cpu_crops():
    img, lab = touching_cells((128, 128), n_cells=12, seed=0, cluster_size=1)
    vimg, vlab = touching_cells((128, 128), n_cells=12, seed=1, cluster_size=1)
    pairs, val = make_pairs([img], [lab]), make_pairs([vimg], [vlab])
    losses, scores = {}, {}
    for place in ("host", "device"):
        cfg = TrainConfig(
            model="tiny", steps=100, batch_size=4, crop_size=64, lr=3e-3, val_every=1000,
            device="cpu", prefetch=0, event_interval=0.0, augment_on=place,
        )  # fmt: skip
        result = train(pairs, cfg)
        assert result.metadata["provenance"]["config"]["augment_on"] == place
        losses[place] = np.array([h["loss"] for h in result.history["train"]])
        scores[place] = evaluate_pairs(result.model, val, cfg.normalization, "cpu")
    host, dev = losses["host"], losses["device"]
    assert len(host) == len(dev) == 100
    # Both learn: the last 20 steps sit far below the first 10 ...
    for curve in (host, dev):
        assert curve[-20:].mean() < 0.6 * curve[:10].mean()
    # ... and at the same level (a sampler that mis-aligned image and target would not).
    assert abs(dev[-20:].mean() - host[-20:].mean()) < 0.25 * host[-20:].mean()
    assert abs(scores["device"]["pixel_iou"] - scores["host"]["pixel_iou"]) < 0.1
    assert scores["device"]["pixel_iou"] > 0.75
