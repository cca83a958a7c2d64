"""Training every head: its targets, its loss, its model file, through the one trainer."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_unet import InputError, TrainConfig, make_pairs, touching_cells, train  # noqa: E402
from napari_unet.core.models.heads import head_of  # noqa: E402
from napari_unet.core.training.losses import head_loss  # noqa: E402
from napari_unet.core.training.pairs import for_head  # noqa: E402
from napari_unet.core.training.sampling import CropSampler  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = {"arch": "unet", "base_channels": 4, "depth": 3, "padding": "same", "batch_norm": True}


@pytest.fixture(scope="module")
def data():
    image, labels = touching_cells((128, 128), n_cells=25, seed=0)
    return image, labels


def config(head: str, **kw) -> TrainConfig:
    settings = {"steps": 4, "batch_size": 2, "crop_size": 48, "val_every": 4, "device": "cpu"}
    return TrainConfig(model={**TINY, "head": head}, **(settings | kw))


def test_each_head_gets_its_own_targets(data):
    image, labels = data
    paper, three, dist = (
        make_pairs([image], [labels], **config(h).pair_options())[0]
        for h in ("paper", "3class", "distance")
    )
    assert set(np.unique(paper.target)) == {0, 1} and paper.extra is None
    assert set(np.unique(three.target)) == {0, 1, 2}
    assert dist.extra is not None and dist.extra.max() == pytest.approx(1.0)
    assert np.all(dist.extra[labels == 0] == 0)
    batch = CropSampler([dist], 48, 48).batch(2, np.random.default_rng(0))
    assert batch["extra"].shape == batch["target"].shape  # cropped with the same grid


@pytest.mark.parametrize("head", ["paper", "3class", "distance"])
def test_each_head_trains_and_its_file_records_it(data, head, tmp_path):
    from napari_unet import load_model

    image, labels = data
    cfg = config(head)
    pairs = make_pairs([image], [labels], **cfg.pair_options())
    result = train(pairs, cfg, val=pairs, output=tmp_path / "m.safetensors")
    assert head_of(result.model) == head
    model, meta = load_model(result.saved_to)
    assert head_of(model) == head and np.isfinite(result.history["train"][-1]["loss"])
    assert np.isfinite(result.best_metrics["val_loss"])


def test_pairs_made_for_another_head_are_retargeted(data):
    image, labels = data
    pairs = make_pairs([image], [labels])  # the paper's targets
    cfg = config("distance")
    again = for_head(pairs, "distance", cfg.w0, cfg.sigma, cfg.gap)
    assert again[0].extra is not None and pairs[0].extra is None  # the originals unchanged
    assert for_head(again, "distance", cfg.w0, cfg.sigma, cfg.gap)[0] is again[0]
    result = train(pairs, cfg)  # the trainer does it by itself
    assert head_of(result.model) == "distance"


def test_fine_tuning_keeps_the_head(data, tmp_path):
    image, labels = data
    pairs = make_pairs([image], [labels])
    first = train(pairs, config("distance"), output=tmp_path / "d.safetensors")
    with pytest.raises(InputError, match="its head is 'distance' but '3class'"):
        train(pairs, config("3class", steps=2), init=first.saved_to)
    # Without a head asked for, fine-tuning continues the model's own head.
    plain = TrainConfig(model=dict(TINY), steps=2, batch_size=2, crop_size=48, device="cpu")
    assert head_of(train(pairs, plain, init=first.saved_to).model) == "distance"


def test_the_distance_loss_is_zero_only_for_the_right_map():
    target = torch.zeros((1, 8, 8), dtype=torch.long)
    target[0, 2:6, 2:6] = 1
    extra = torch.zeros((1, 8, 8))
    extra[0, 3:5, 3:5] = 1.0
    weights = torch.ones((1, 8, 8))
    logits = torch.zeros((1, 3, 8, 8))
    logits[:, 1] = torch.where(target[0] == 1, 20.0, -20.0)
    right = logits.clone()
    right[:, 2] = torch.where(extra[0] > 0.5, 20.0, -20.0)
    wrong = logits.clone()
    wrong[:, 2] = -right[:, 2]
    good = float(head_loss(right, target, weights, extra, head="distance"))
    bad = float(head_loss(wrong, target, weights, extra, head="distance"))
    assert good < 1e-3 < 1.0 < bad
    with pytest.raises(ValueError, match="regression target"):
        head_loss(right, target, weights, None, head="distance")


def test_training_a_seeded_head_learns(data):
    """Training and validation losses fall over a short run (synthetic cells).

    How well each head segments is measured on real nuclei by benchmarks/heads.py.
    """
    image, labels = data
    cfg = config("distance", steps=150, batch_size=4, crop_size=64, val_every=50, lr=5e-3)
    cfg = TrainConfig.from_dict({**cfg.to_dict(), "model": {**cfg.model, "base_channels": 8}})
    pairs = make_pairs([image], [labels], **cfg.pair_options())
    val_image, val_labels = touching_cells((96, 96), n_cells=12, seed=5)
    val = make_pairs([val_image], [val_labels], **cfg.pair_options())
    result = train(pairs, cfg, val=val)
    losses = [r["loss"] for r in result.history["train"]]
    assert np.mean(losses[-3:]) < 0.75 * np.mean(losses[:3])
    val_losses = [r["val_loss"] for r in result.history["val"]]
    assert val_losses[-1] < 0.9 * val_losses[0]


def test_fine_tuning_in_python_normalises_as_the_start_model(data, tmp_path, monkeypatch):
    """``train(init=...)`` reads the images as the start model learnt to read them.

    Before, only the command and the dock did: pairs made with the default percentiles
    fine-tuned a z-score model on other numbers, and its file then said "percentile".
    """
    from napari_unet import load_model, save_model
    from napari_unet.core.images.normalize import normalize
    from napari_unet.core.models import build_model
    from napari_unet.core.training import trainer

    image, labels = data
    zscore = {"method": "zscore"}
    start = save_model(tmp_path / "z.safetensors", build_model(TINY), normalization=zscore)
    pairs = make_pairs([image], [labels])  # the default percentiles
    seen = []
    real = trainer.make_sampler
    monkeypatch.setattr(trainer, "make_sampler", lambda c, p, *a: seen.extend(p) or real(c, p, *a))
    result = train(pairs, config("paper", steps=2, val_every=100), init=start,
                   output=tmp_path / "ft.safetensors")  # fmt: skip
    want = normalize(pairs[0].raw.astype(np.float32), zscore)
    np.testing.assert_allclose(seen[0].image, want, atol=1e-6)
    assert not np.allclose(pairs[0].image, want, atol=1e-2)  # the caller's pairs unchanged
    assert load_model(result.saved_to)[1]["normalization"] == zscore
    # Pairs already made as the model reads are not normalised again.
    settings = ("paper", TrainConfig().w0, TrainConfig().sigma, TrainConfig().gap, zscore)
    again = for_head(pairs, *settings)
    assert for_head(again, *settings)[0].image is again[0].image
