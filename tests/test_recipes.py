"""The built-in models' recipe (scripts/train_nuclei.py): what it records and what it keeps."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
import dsb_full  # noqa: E402
import train_nuclei  # noqa: E402


def test_the_recipe_line_names_no_path_of_the_machine_it_ran_on():
    line = train_nuclei.recipe_line(
        ["--data", "/x/full", "--init", "/x/run1/nuclei.final.safetensors", "--work", "/x/w"]
    )
    assert line == "scripts/train_nuclei.py --data DSB2018_FULL --init INIT_MODEL --work WORKDIR"
    kept = train_nuclei.recipe_line(["--init", "nuclei-brightfield", "--post-grid", "wide"])
    assert kept.endswith("--init nuclei-brightfield --post-grid wide")


@pytest.fixture
def scored_by_name(monkeypatch):
    """Validation scores by candidate, without data: ``choose_post`` looks the model up."""
    scores = {}
    monkeypatch.setattr(
        dsb_full, "choose_post", lambda model, *a: ({"threshold": 0.5}, scores[model.tag])
    )
    start = SimpleNamespace(tag="start", eval=lambda: start)
    monkeypatch.setattr("napari_unet.load_model", lambda path: (start, {}))
    return scores


#: A split with no validation images (the scores come from ``scored_by_name``).
NO_IMAGES = {"train": [], "val": [], "test": []}


def candidates():
    best = SimpleNamespace(tag="best")
    last = SimpleNamespace(tag="last")
    best.eval, last.eval = (lambda: best), (lambda: last)
    return [("best validation AP50", best), ("last", last)]


def test_a_fine_tune_keeps_its_best_checkpoint_by_validation_dsb(scored_by_name):
    scored_by_name.update(best=(0.40, 0.60), last=(0.42, 0.58), start=(0.30, 0.50))
    args = SimpleNamespace(
        data=Path("."), kinds=["histo"], extra_val=4, post_grid="wide", device="cpu",
        robust=False,
    )
    args.init = "nuclei-brightfield"
    name, model, post, key = train_nuclei.chosen(args, candidates(), {}, NO_IMAGES)
    assert (name, model.tag, key) == ("last", "last", (0.42, 0.58))


def test_a_fine_tune_that_does_not_beat_its_start_model_gives_it_back(scored_by_name):
    scored_by_name.update(best=(0.35, 0.60), last=(0.36, 0.58), start=(0.38, 0.50))
    args = SimpleNamespace(
        data=Path("."), kinds=["histo"], extra_val=4, post_grid="wide", device="cpu",
        robust=False,
    )
    args.init = "nuclei-brightfield"
    assert train_nuclei.chosen(args, candidates(), {}, NO_IMAGES)[0] == "start model"
    args.init = None  # from scratch: no start model to keep
    assert train_nuclei.chosen(args, candidates(), {}, NO_IMAGES)[0] == "last"


def _start(tmp_path, init, **options):
    args = SimpleNamespace(init=init, colour=False, head=None, work=tmp_path)
    return train_nuclei.start_model(SimpleNamespace(**{**vars(args), **options}))


def test_a_grey_start_model_widened_to_colour_computes_the_same_on_grey(tmp_path):
    import torch

    from napari_unet import build_model, load_model, save_model
    from napari_unet.core.training.config import PRESETS

    torch.manual_seed(0)
    grey = save_model(tmp_path / "grey.safetensors", build_model({**PRESETS["tiny"]}))
    colour, _ = load_model(_start(tmp_path, grey, colour=True))
    assert colour.in_channels == 3
    x = torch.rand(1, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(colour(x.repeat(1, 3, 1, 1)), load_model(grey)[0](x))
    assert _start(tmp_path, grey) == grey  # nothing to change: the init itself


def test_another_head_keeps_every_layer_but_the_output_layer(tmp_path):
    import torch

    from napari_unet import build_model, load_model, save_model
    from napari_unet.core.models.heads import head_of
    from napari_unet.core.training.config import PRESETS

    torch.manual_seed(0)
    paper = build_model({**PRESETS["tiny"]})
    init = save_model(tmp_path / "paper.safetensors", paper, normalization={"method": "minmax"})
    start, meta = load_model(_start(tmp_path, init, head="distance"))
    assert head_of(start) == "distance" and meta["normalization"] == {"method": "minmax"}
    old, new = paper.state_dict(), start.state_dict()
    changed = [k for k in old if old[k].shape != new[k].shape or not torch.equal(old[k], new[k])]
    assert changed == ["head.weight", "head.bias"]
    assert new["head.weight"].shape[0] == 3
    assert _start(tmp_path, init, head="paper") == init  # its own head: the init itself


def test_inverted_contrast_keeps_the_dtype_and_turns_the_values_round():
    import numpy as np

    image = np.array([[0, 10], [200, 255]], np.uint8)
    np.testing.assert_array_equal(dsb_full.inverted(image), [[255, 245], [55, 0]])
    floats = np.array([0.0, 0.25, 1.0], np.float32)
    out = dsb_full.inverted(floats)
    assert out.dtype == np.float32 and out.tolist() == [1.0, 0.75, 0.0]


def test_degradations_harm_any_image_alike_and_are_repeatable():
    # Each image gets the same relative harm whatever its bit depth and contrast.
    import numpy as np

    rng = np.random.default_rng(0)
    grey = np.zeros((64, 80), np.float32)
    grey[20:40, 20:40] = 200
    grey += rng.normal(0, 2, grey.shape)
    for name in dsb_full.DEGRADATIONS:
        a = dsb_full.degraded(grey, name, seed=3)
        assert a.shape == grey.shape and a.dtype == np.float32
        np.testing.assert_array_equal(a, dsb_full.degraded(grey, name, seed=3))
        deep = dsb_full.degraded(grey * 100 + 1000, name, seed=3)  # a 16-bit camera
        scaled = (deep - 1000) / 100
        if name == "shot":  # photons counted on the image's own range: the same counts
            np.testing.assert_array_equal(deep, a)
        else:
            np.testing.assert_allclose(scaled, a, atol=1e-2)
        assert not np.allclose(a, grey, atol=1.0)
    colour = np.repeat(grey[..., None], 3, axis=2)
    assert dsb_full.degraded(colour, "shading").shape == colour.shape
    assert dsb_full.degraded(colour, "blur")[..., 0].std() < grey.std()
    copies = dsb_full.degraded_copies([(grey, "g1"), (grey + 1, "g2")])
    assert len(copies) == 2 * (1 + len(dsb_full.DEGRADATIONS))
    assert [lab for _, lab in copies] == ["g1", "g2"] * (1 + len(dsb_full.DEGRADATIONS))


def test_the_budget_pays_the_set_up_once_and_fills_with_steps(monkeypatch):
    """A run of 10 s set-up, 1 s a step, 2 s a validation: 120 s hold 90 steps, not 75."""
    import napari_unet
    from napari_unet import TrainConfig
    from napari_unet.core.training import validation

    clock = SimpleNamespace(now=0.0)

    def fake_train(pairs, config, init=None):
        clock.now += 10.0 + config.steps
        return SimpleNamespace(model=None)

    def fake_eval(*args):
        clock.now += 2.0

    monkeypatch.setattr(train_nuclei.time, "perf_counter", lambda: clock.now)
    monkeypatch.setattr(napari_unet, "train", fake_train)
    monkeypatch.setattr(validation, "evaluate_pairs", fake_eval)
    config = TrainConfig(model={"arch": "unet"}, steps=1, device="cpu")
    assert train_nuclei.fit_steps([], [], config, minutes=2) == 90


def test_augment_set_reads_each_setting_as_its_type_and_refuses_unknown_ones():
    from napari_unet.core.training.augment import ROBUST

    args = train_nuclei.parse(["--work", ".", "--robust", "--zoom", "0.4", "--augment-set",
                               "shot=0", "elastic_grid=4", "flips=false"])  # fmt: skip
    settings = train_nuclei.augment_settings(args)
    assert settings["elastic_grid"] == 4 and isinstance(settings["elastic_grid"], int)
    assert settings["flips"] is False and settings["shot"] == 0.0 and settings["scale"] == 0.4
    assert settings["shading"] == ROBUST["shading"]  # --robust's, not overridden
    for bad in ("blurr=1", "blur"):
        with pytest.raises(SystemExit, match="KEY=VALUE"):
            train_nuclei.augment_settings(train_nuclei.parse(["--work", ".", "--augment-set", bad]))
