"""Instance-aware heads: paper, 3class and distance, from model file to instances."""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet import InputError, evaluate, load_model, save_model, segment, touching_cells
from napari_unet.core.inference.instances import instances
from napari_unet.core.inference.postprocess import Postprocess
from napari_unet.core.models import build_model
from napari_unet.core.models.heads import HEADS, head_of
from napari_unet.core.training.targets import normalized_distance, separate_touching

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = {"arch": "unet", "base_channels": 4, "depth": 3, "padding": "same", "batch_norm": True}


def ideal_probabilities(labels: np.ndarray, head: str) -> np.ndarray:
    """What a perfect network of ``head`` would output for ``labels``."""
    if head == "3class":
        target = separate_touching(labels, gap=2, mode="3class")
        return np.stack([target == c for c in range(3)]).astype(np.float32)
    fg = (separate_touching(labels, gap=2) > 0).astype(np.float32)
    probs = [1 - fg, fg]
    if head == "distance":
        probs.append(normalized_distance(labels))
    return np.stack(probs).astype(np.float32)


@pytest.mark.parametrize("head", list(HEADS))
def test_each_head_turns_its_ideal_output_into_the_touching_cells(head):
    _, labels = touching_cells((200, 200), n_cells=45, seed=3)
    probs = ideal_probabilities(labels, head)
    out = instances(probs, head, Postprocess(min_size=5))
    result = evaluate(labels, out)
    assert result["per_threshold"][0]["f1"] >= 0.95, head  # one instance per cell
    assert result["mean_matched_iou"] >= 0.85, head  # full size, not the seeds alone


@pytest.mark.parametrize("head", ["3class", "distance"])
def test_seeded_heads_separate_two_touching_cells_without_a_gap(head):
    labels = np.zeros((30, 50), np.int32)
    labels[5:25, 5:25], labels[5:25, 25:45] = 1, 2  # touching along a column
    probs = ideal_probabilities(labels, head)
    if head == "distance":  # no background gap at all: only the distance map separates them
        probs[1] = labels > 0
        probs[0] = 1 - probs[1]
    out = instances(probs, head, Postprocess(min_size=5, gap=0))
    assert out.max() == 2
    assert evaluate(labels, out)["mean_matched_iou"] > 0.9


def test_a_component_without_a_seed_stays_one_cell_and_tiny_seeds_do_not_cut():
    probs = np.zeros((3, 30, 40), np.float32)
    probs[1, 5:15, 5:15] = 1.0  # a cell whose distance never reaches the seed level
    probs[2, 5:15, 5:15] = 0.3
    probs[1, 5:25, 20:35] = 1.0  # a cell with one big seed and one 1-pixel speck
    probs[2, 10:20, 24:31] = 0.9
    probs[2, 24, 34] = 0.9
    probs[0] = 1 - probs[1]
    out = instances(probs, "distance", Postprocess(min_size=20, gap=0))
    assert out.max() == 2
    assert len(np.unique(out[5:15, 5:15])) == 1 and len(np.unique(out[5:25, 20:35])) == 1


def test_build_model_sets_the_head_and_its_channels():
    for head, spec in HEADS.items():
        model = build_model({**TINY, "head": head})
        assert model.n_classes == spec.n_outputs and head_of(model) == head
    assert head_of(build_model(TINY)) == "paper"  # no head: the paper's (old files)
    with pytest.raises(InputError, match="unknown head"):
        build_model({**TINY, "head": "flows"})
    with pytest.raises(InputError, match="3 output channels"):
        build_model({**TINY, "head": "distance", "n_classes": 2})


def test_the_head_survives_a_model_file_and_predicts_its_channels(tmp_path):
    model = build_model({**TINY, "head": "distance"}).eval()
    path = save_model(tmp_path / "d.safetensors", model)
    loaded, meta = load_model(path)
    assert head_of(loaded) == "distance"
    assert meta["class_names"] == ["background", "cell", "distance"]
    image, _ = touching_cells((64, 64), n_cells=6, seed=0)
    labels, probs = segment(loaded, image, metadata=meta, return_probabilities=True, device="cpu")
    assert probs.shape == (3, 64, 64) and labels.shape == (64, 64)
    assert np.allclose(probs[0] + probs[1], 1, atol=1e-5)  # classes: softmax
    assert not np.allclose(probs.sum(0), 1)  # the distance channel is a separate sigmoid


# A random network's output is out of any domain.
@pytest.mark.filterwarnings("ignore::napari_unet.core.inference.domain.DomainWarning")
def test_segment_gives_the_same_instances_for_numpy_and_dask_with_a_seeded_head():
    da = pytest.importorskip("dask.array")
    import torch

    torch.manual_seed(0)
    model = build_model({**TINY, "head": "3class"}).eval()
    image, _ = touching_cells((96, 96), n_cells=10, seed=1)
    _, probs = segment(model, image, device="cpu", return_probabilities=True, min_size=1)
    # A random network: thresholds inside its output's range give many pieces to compare.
    fg, interior = probs[1] + probs[2], probs[1]
    post = {
        "threshold": float(np.quantile(fg, 0.5)),
        "seed_level": float(np.quantile(interior, 0.7)),
        "min_size": 1,
    }
    in_memory = segment(model, image, device="cpu", **post)
    lazy = segment(model, da.from_array(image, chunks=48), device="cpu", chunk=48, **post)
    assert in_memory.max() > 3
    assert np.array_equal(in_memory, lazy)


def test_seed_level_is_checked():
    with pytest.raises(InputError, match="seed_level must be between 0 and 1"):
        Postprocess(seed_level=1.5)


def test_a_model_file_without_a_head_keeps_its_softmax_over_every_class():
    """Old files are the paper's head whatever their class count: softmax over all classes."""
    import torch

    from napari_unet.core.models.heads import activate

    logits = torch.randn(2, 3, 8, 8)
    probs = activate(logits, head_of(build_model({**TINY, "n_classes": 3})))
    assert torch.allclose(probs.sum(1), torch.ones(2, 8, 8))
    assert torch.allclose(activate(logits[:, :1], "paper"), torch.sigmoid(logits[:, :1]))
    distance = activate(logits, "distance")  # two classes, then a sigmoid map
    assert torch.allclose(distance[:, :2].sum(1), torch.ones(2, 8, 8))
    assert torch.allclose(distance[:, 2], torch.sigmoid(logits[:, 2]))


def test_an_ideal_3class_output_gives_the_cells_back_whatever_the_gap():
    # Its foreground (interior + boundary) holds the gaps between touching cells already:
    # growing instances over a gap (the model file's separation_gap, 2) filled real
    # background between cells 2 px apart
    truth = np.zeros((12, 16), np.uint16)
    truth[2:10, 1:7], truth[2:10, 9:15] = 1, 2
    target = separate_touching(truth, 2, "3class")
    ideal = np.stack([(target == c).astype(np.float32) for c in range(3)])
    got = instances(ideal, "3class", Postprocess(min_size=1, gap=2))
    np.testing.assert_array_equal(got > 0, truth > 0)
    assert len(np.unique(got)) == 3
