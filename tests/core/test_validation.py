"""Validation during training: napari_unet.core.training.validation."""

import math
from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_unet import build_model, make_pairs, touching_cells  # noqa: E402
from napari_unet.core.images.normalize import DEFAULT as NORMALIZATION  # noqa: E402
from napari_unet.core.training import validation  # noqa: E402
from napari_unet.core.training.validation import (  # noqa: E402
    AS_IS,
    evaluate_pairs,
    segment_image,
    split_holdout,
)

pytestmark = pytest.mark.usefixtures("one_thread")

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def small():
    return touching_cells((64, 64), n_cells=6, seed=2)


@pytest.fixture(scope="module")
def large():
    # 96 rows: a 25% hold-out is rows 72-96, which hold 6 cells (3 touch the left 40 columns)
    return touching_cells((96, 80), n_cells=10, seed=4)


@pytest.fixture(scope="module")
def pairs(small, large):
    return make_pairs([small[0], large[0]], [small[1], large[1]], names=["small", "large"])


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model(
        {"arch": "unet", "base_channels": 4, "depth": 2, "in_channels": 1, "padding": "same"}
    )


def n_cells(labels, mask=None):
    lab = labels if mask is None else labels[mask]
    return int(np.unique(lab[lab > 0]).size)


@pytest.mark.parametrize("fraction", [0, 0.0, -0.1])
def test_no_holdout_returns_the_pairs_unchanged(pairs, fraction):
    train, val = split_holdout(pairs, fraction)
    assert val == []
    assert len(train) == len(pairs)
    assert all(a is b for a, b in zip(train, pairs, strict=True))


def test_holdout_takes_the_bottom_rows_of_the_largest_pair(pairs):
    small, large = pairs
    weights_before = large.weights.copy()
    train, val = split_holdout(pairs, 0.25)
    assert len(train) == 2 and len(val) == 1
    assert train[0] is small  # the smaller pair is left alone, in its place
    t, (v,) = train[1], val
    cut = 72  # 96 rows * (1 - 0.25)
    # the training copy: weight 0 and outside the region in the held-out rows, same above
    assert t.shape == (96, 80) and t.name == "large"
    assert (t.weights[cut:] == 0).all()
    np.testing.assert_array_equal(t.weights[:cut], weights_before[:cut])
    assert t.mask is not None and t.mask.dtype == bool
    assert t.mask[:cut].all() and not t.mask[cut:].any()
    np.testing.assert_array_equal(t.image, large.image)
    np.testing.assert_array_equal(t.labels, large.labels)
    np.testing.assert_array_equal(t.target, large.target)
    # no crop is centred in the held-out rows any more
    assert t.fg_index.size > 0 and (t.fg_index // 80 < cut).all()
    assert (t.region_index // 80 < cut).all()
    assert t.n_cells == n_cells(large.labels[:cut])
    # the validation pair is exactly the strip
    assert v.shape == (96 - cut, 80)
    np.testing.assert_array_equal(v.image, large.image[:, cut:])
    np.testing.assert_array_equal(v.labels, large.labels[cut:])
    np.testing.assert_array_equal(v.target, large.target[cut:])
    np.testing.assert_array_equal(v.weights, weights_before[cut:])
    # read as the whole plane was normalised (as prediction reads it), not by itself
    np.testing.assert_array_equal(v.raw, large.image[:, cut:])
    assert v.normalization == {"method": "none"}
    assert v.mask is None
    assert v.name == "large (rows 72-96)"
    assert v.n_cells == n_cells(large.labels[cut:]) == 6
    # the original pair (whose weights are shared with the target cache) is untouched
    np.testing.assert_array_equal(large.weights, weights_before)
    assert large.mask is None


def test_holdout_picks_the_pair_with_the_largest_annotated_area(small, large):
    region = np.zeros(large[1].shape, np.uint8)
    region[:, :30] = 1  # 96 x 30 annotated pixels: fewer than the 64 x 64 of the small pair
    big_but_sparse, whole = make_pairs([large[0], small[0]], [large[1], small[1]], [region, None])
    train, (v,) = split_holdout([big_but_sparse, whole], 0.5)
    assert train[0] is big_but_sparse
    assert v.shape == (32, 64)
    np.testing.assert_array_equal(v.labels, small[1][32:])


def test_holdout_keeps_the_region_of_a_partly_annotated_pair(large):
    region = np.zeros(large[1].shape, np.uint8)
    region[:, :40] = 1
    (p,) = make_pairs([large[0]], [large[1]], [region])
    (t,), (v,) = split_holdout([p], 0.25)
    np.testing.assert_array_equal(v.mask, region[72:].astype(bool))
    expected = region.astype(bool)
    expected[72:] = False
    np.testing.assert_array_equal(t.mask, expected)
    assert (t.weights[:, 40:] == 0).all() and (t.weights[72:] == 0).all()
    assert (t.weights[:72, :40] > 0).all()


def test_holdout_of_a_top_annotated_image_holds_annotation(large):
    # Only rows 0-49 of the 96 were annotated: the held-out strip is the bottom of those,
    # not the unannotated bottom of the image.
    region = np.zeros(large[1].shape, np.uint8)
    region[:50] = 1
    (p,) = make_pairs([large[0]], [large[1]], [region])
    (t,), (v,) = split_holdout([p], 0.2)
    cut = 40  # 50 annotated rows * (1 - 0.2)
    assert v.shape == (96 - cut, 80)
    assert v.mask[: 50 - cut].all() and not v.mask[50 - cut :].any()
    assert (t.weights[cut:] == 0).all() and (t.weights[:cut] > 0).any()
    assert (v.weights > 0).sum() == (p.weights[cut:50] > 0).sum() > 0


def test_a_single_annotated_row_gives_no_validation(large):
    region = np.zeros(large[1].shape, np.uint8)
    region[30] = 1
    labels = np.where(region > 0, large[1], 0)
    (p,) = make_pairs([large[0]], [labels], [region])
    train, val = split_holdout([p], 0.2)
    assert val == [] and train[0] is p


def test_tiny_holdout_keeps_at_least_one_row_each():
    img, lab = touching_cells((20, 20), n_cells=3, seed=0)
    pairs = make_pairs([img], [lab])
    (t,), (v,) = split_holdout(pairs, 0.01)
    assert v.shape == (1, 20) and (t.weights[19:] == 0).all() and (t.weights[:19] > 0).all()
    # 99%: all but the rows down to the first cell (rows 0-6 here): training keeps a cell
    (t,), (v,) = split_holdout(pairs, 0.99)
    assert v.shape == (13, 20) and (t.weights[:7] > 0).all() and t.fg_index.size > 0


def test_segment_image_gives_labels_and_probabilities(model, large):
    raw = large[0][None, :48, :40]  # a (1, H, W) plane, as TrainPair.raw holds it
    labels, probs = segment_image(model, raw, NORMALIZATION, CPU)
    assert labels.shape == (48, 40) and labels.dtype == np.int32
    assert probs.shape == (2, 48, 40)
    np.testing.assert_allclose(probs.sum(axis=0), 1, atol=1e-5)


def test_evaluate_pairs_on_a_tiny_model(model, pairs):
    _, val = split_holdout(pairs, 0.25)
    model.train()
    scores = evaluate_pairs(model, val, NORMALIZATION, CPU)
    assert set(scores) == {"val_loss", "pixel_iou", "ap50", "n_gt", "n_pred"}
    assert scores["n_gt"] == n_cells(val[0].labels) == 6
    assert isinstance(scores["n_pred"], int | np.integer) and scores["n_pred"] >= 0
    assert math.isfinite(scores["val_loss"]) and scores["val_loss"] > 0
    assert 0 <= scores["pixel_iou"] <= 1 and 0 <= scores["ap50"] <= 1
    assert model.training  # restored
    assert all(m.training for m in model.modules())
    model.eval()
    again = evaluate_pairs(model, val, NORMALIZATION, CPU)
    assert not model.training
    assert again == pytest.approx(scores)  # deterministic


def one_hot(target, n_classes=2):
    return np.moveaxis(np.eye(n_classes, dtype=np.float32)[target], -1, 0)


@pytest.fixture
def oracle(monkeypatch):
    """Replace the network's segmentation by answers given per validation pair."""
    answers = {}

    def fake(model, raw, normalization, device, metadata=None):
        return answers[id(raw)]

    monkeypatch.setattr(validation, "segment_image", fake)

    def give(pair, labels, probs):
        answers[id(pair.raw)] = (labels, probs)

    return give


def test_a_perfect_prediction_scores_perfectly(pairs, oracle):
    _, val = split_holdout(pairs, 0.25)
    val = [*val, pairs[0]]  # two validation pairs: counts add up
    for p in val:
        oracle(p, p.labels.copy(), one_hot(p.target))
    scores = evaluate_pairs(None, val, NORMALIZATION, CPU)
    assert scores["pixel_iou"] == 1.0
    assert scores["ap50"] == 1.0
    assert scores["val_loss"] == pytest.approx(0, abs=1e-6)
    expected = n_cells(val[0].labels) + n_cells(pairs[0].labels)
    assert scores["n_gt"] == scores["n_pred"] == expected


def test_uniform_probabilities_give_the_weighted_cross_entropy(pairs, oracle):
    _, (v,) = split_holdout(pairs, 0.25)
    oracle(v, v.labels.copy(), np.full((2, *v.shape), 0.5, np.float32))
    scores = evaluate_pairs(None, [v], NORMALIZATION, CPU)
    w = v.weights
    assert scores["val_loss"] == pytest.approx(math.log(2) * w.sum() / (w > 0).sum(), rel=1e-5)
    assert scores["pixel_iou"] == 1.0 and scores["ap50"] == 1.0


def test_a_wrong_prediction_scores_badly(pairs, oracle):
    _, (v,) = split_holdout(pairs, 0.25)
    shifted = np.roll(v.labels, 8, axis=1)  # every cell moved by 8 px: poor overlap
    oracle(v, shifted, one_hot(1 - v.target))
    scores = evaluate_pairs(None, [v], NORMALIZATION, CPU)
    w = v.weights  # probability 0 for the true class: clipped to 1e-7
    assert scores["val_loss"] == pytest.approx(-math.log(1e-7) * w.sum() / (w > 0).sum(), rel=1e-4)
    assert scores["pixel_iou"] < 0.8
    assert scores["ap50"] < 1.0
    assert scores["n_gt"] == 6


def test_cells_outside_the_annotated_region_do_not_count(large, oracle):
    region = np.zeros(large[1].shape, np.uint8)
    region[:, :40] = 1
    (p,) = make_pairs([large[0]], [large[1]], [region])
    _, (v,) = split_holdout([p], 0.25)
    inside = v.mask
    assert n_cells(v.labels, inside) == 3 < n_cells(v.labels) == 6
    # right outside the region: extra cells, merged cells and confidently wrong classes
    labels = v.labels.copy()
    labels[~inside & (labels > 0)] = 1000
    labels[:4, 60:70] = 2000
    probs = one_hot(v.target)
    probs[:, ~inside] = one_hot(1 - v.target)[:, ~inside]
    oracle(v, labels, probs)
    scores = evaluate_pairs(None, [v], NORMALIZATION, CPU)
    assert scores["n_gt"] == scores["n_pred"] == 3
    assert scores["pixel_iou"] == 1.0 and scores["ap50"] == 1.0
    assert scores["val_loss"] == pytest.approx(0, abs=1e-6)
    # the loss is a mean over the annotated pixels only
    oracle(v, labels, np.full((2, *v.shape), 0.5, np.float32))
    loss = evaluate_pairs(None, [v], NORMALIZATION, CPU)["val_loss"]
    assert loss == pytest.approx(math.log(2) * v.weights[inside].mean(), rel=1e-5)


def test_no_cells_anywhere_counts_as_perfect(pairs, oracle):
    _, (v,) = split_holdout(pairs, 0.25)
    empty = replace(v, labels=np.zeros_like(v.labels))
    oracle(empty, np.zeros_like(v.labels), one_hot(v.target))
    scores = evaluate_pairs(None, [empty], NORMALIZATION, CPU)
    assert scores["n_gt"] == scores["n_pred"] == 0
    assert scores["pixel_iou"] == 1.0 and scores["ap50"] == 1.0


def test_a_held_out_strip_of_background_is_scored_as_the_whole_image_reads_it():
    """Normalised by itself, the noise of an empty strip was stretched into cells.

    The built-in model found 12 cells in a strip with none (AP50 0, where the whole image
    scores 1), and that score chose the run's best model.
    """
    from napari_unet import pretrained

    image, labels = touching_cells((160, 160), n_cells=20, seed=0)
    image, labels = image.astype(np.float32), labels.copy()
    noise = np.random.default_rng(0).normal(image[labels == 0].mean(), 0.02, (40, 160))
    image[120:], labels[120:] = noise, 0
    region = np.ones(labels.shape, bool)  # painted whole: the empty bottom is background
    (p,) = make_pairs([image], [labels], [region])
    # the strip of background, as split_holdout holds a strip out (raw: the whole image's)
    strip = replace(p, image=p.image[:, 120:], labels=p.labels[120:], mask=p.mask[120:],
                    target=p.target[120:], weights=p.weights[120:], raw=p.image[:, 120:],
                    normalization=dict(AS_IS), _fg=None, _region=None)  # fmt: skip
    model, meta = pretrained("nuclei")
    scores = evaluate_pairs(model, [strip], meta["normalization"], CPU, meta)
    assert scores["n_pred"] == 0 and scores["ap50"] == 1.0


def test_a_regions_held_out_strip_holds_cells_when_its_bottom_holds_none():
    """Before, the rule was for images without a region: a region whose bottom rows hold
    no cell held out background, scored AP50 1.0 for finding nothing (the best model)."""
    image, labels = touching_cells((160, 160), n_cells=30, seed=3)
    labels = labels.copy()
    labels[100:] = 0
    region = np.zeros(labels.shape, bool)
    region[:150, 10:150] = True  # the region's rows 100-149 hold no cell
    _, (val,) = split_holdout(make_pairs([image], [labels], [region]), 0.2)
    assert (val.labels[val.mask] > 0).any()


def test_the_held_out_strip_holds_cells_when_only_the_top_was_painted():
    image, labels = touching_cells((160, 160), n_cells=30, seed=3)
    painted = labels.copy()
    painted[100:] = 0  # cells painted in the top rows only, no region: the rest is background
    _, (val,) = split_holdout(make_pairs([image], [painted]), 0.2)
    assert (val.labels > 0).any()  # before: a strip of background, scored 1.0 or 0.0


def test_progress_events_flow_when_validation_comes_every_few_steps():
    """Validation reset the clock of the progress throttle: no event between the first
    and the last step (the bar frozen at step 1), and img/s off by 300x."""
    from napari_unet import TrainConfig, TrainStep, drain, iter_train

    image, labels = touching_cells((96, 96), n_cells=10, seed=0)
    config = TrainConfig(model="tiny", steps=40, batch_size=2, crop_size=48, val_every=2,
                         device="cpu", event_interval=0.05, val_fraction=0.2)  # fmt: skip
    events = []
    drain(iter_train(make_pairs([image], [labels]), config, preview=image), events.append)
    steps = [e for e in events if isinstance(e, TrainStep)]
    assert len(steps) > 3
    assert all(e.images_per_s < 5000 for e in steps[1:])


def test_a_failing_preview_does_not_end_the_run():
    from napari_unet import TrainConfig, train

    image, labels = touching_cells((96, 96), n_cells=10, seed=0)
    config = TrainConfig(model="tiny", steps=4, batch_size=2, crop_size=48, val_every=2,
                         device="cpu")  # fmt: skip

    def broken():
        raise IndexError("index 4 is out of bounds for axis 0 with size 3")

    with pytest.warns(RuntimeWarning, match="preview at step 2 failed"):
        result = train(make_pairs([image], [labels]), config, preview=broken)
    assert result.steps_done == 4
