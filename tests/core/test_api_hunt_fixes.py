"""Fixes of the Python API found by a hunt: shared caches, aliases, layouts and checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import napari_unet as nu
from napari_unet.core.errors import InputError
from napari_unet.core.images.sizes import equivalent_diameters
from napari_unet.core.inference.runner import inference_network
from napari_unet.core.models import UNet

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def cells():
    return nu.touching_cells((64, 64), n_cells=8, seed=0)


def test_editing_a_pair_in_place_leaves_later_pairs_of_the_same_labels_alone(cells):
    image, labels = cells
    first = nu.make_pairs([image], [labels])[0]
    weights, target = first.weights.copy(), first.target.copy()
    first.weights[:20] = 0.0  # a user down-weights rows of this pair
    first.target[:] = 0
    again = nu.make_pairs([image.copy()], [labels.copy()])[0]
    assert np.array_equal(again.weights, weights)
    assert np.array_equal(again.target, target) and again.target.any()


def test_a_pair_keeps_its_own_labels_and_image(cells):
    image, labels = cells
    img, lab = image.copy(), labels.astype(np.int32)
    pair = nu.make_pairs([img], [lab])[0]
    labels_before, raw_before = pair.labels.copy(), pair.raw.copy()
    lab[lab == 3] = 0  # the caller re-uses its arrays after making the pairs
    img *= 0
    assert np.array_equal(pair.labels, labels_before)  # still matches pair.target
    assert np.array_equal(pair.raw, raw_before)


def test_labels_with_a_trailing_sample_axis_are_read_as_one_plane(cells):
    image, labels = cells
    lab = labels.astype(np.int32)
    hw1 = lab[..., None]  # (Y, X, 1), as a label file with a samples axis reads
    assert len(nu.measure_objects(hw1)["label"]) == len(nu.measure_objects(lab)["label"])
    np.testing.assert_array_equal(np.asarray(nu.weight_map(hw1)), np.asarray(nu.weight_map(lab)))
    pairs = nu.make_pairs([image[..., None]], [hw1], [np.ones_like(hw1)])
    plain = nu.make_pairs([image], [lab])
    assert len(pairs) == 1 and pairs[0].shape == lab.shape
    assert np.array_equal(pairs[0].target, plain[0].target)


def test_predictions_follow_weights_changed_through_data():
    torch.manual_seed(0)
    model = UNet(1, 2, base_channels=4, depth=2, padding="same").eval()
    cpu = torch.device("cpu")
    first = inference_network(model, cpu)
    assert inference_network(model, cpu) is first  # unchanged weights: the copy is kept
    with torch.no_grad():
        for p in model.parameters():
            p.data.mul_(0.0)  # weight surgery through .data bumps no version counter
    net = inference_network(model, cpu)
    assert net is not first
    assert all(not t.any() for t in net.parameters())


@pytest.mark.parametrize("kind", ["rect", "polgon", "circle"])
def test_an_unknown_shape_type_is_refused_with_the_accepted_ones(kind):
    square = np.array([[0, 0], [0, 9], [9, 9], [9, 0]], float)
    with pytest.raises(InputError, match="rectangle, polygon, ellipse"):
        nu.region_mask([square], [kind], (20, 20))


def test_shape_types_are_read_in_any_case_and_lines_mark_nothing():
    square = np.array([[0, 0], [0, 9], [9, 9], [9, 0]], float)
    mask = nu.region_mask([square, square + 10], ["rectangle", "Rectangle"], (20, 20))
    assert mask.sum() == 200
    assert not nu.region_mask([square, square], ["path", "line"], (20, 20)).any()


def test_sizes_of_huge_ids_are_counted_not_a_memory_error():
    lab = np.zeros((20, 20), np.int64)
    lab[:10, :10] = 2**40
    lab[10:, 10:] = 2**32 + 1
    lab[:4, 15:] = 1
    size, n = nu.median_diameter(lab)
    assert n == 3 and size == pytest.approx(2 * np.sqrt(100 / np.pi))
    assert equivalent_diameters(lab).size == 3


@pytest.mark.parametrize(
    "labels",
    [np.array([[0, 1], [-5, 1]]), np.array([[0.0, 1.7], [1.2, 0.0]])],
    ids=["negative", "float"],
)
def test_sizes_refuse_negative_ids_and_floats(labels):
    with pytest.raises(InputError):
        nu.median_diameter(labels)


def test_evaluate_many_names_the_item_form(cells):
    _, labels = cells
    with pytest.raises(InputError, match=r"\(name, ground_truth, prediction\[, region\]\)"):
        nu.evaluate_many([(labels, labels)])
    with pytest.raises(InputError, match="not a dict"):
        nu.evaluate_many({"a": (labels, labels)})
    per_image, _ = nu.evaluate_many([("a", labels, labels)])
    assert per_image[0]["name"] == "a" and per_image[0]["ap"] == 1.0
