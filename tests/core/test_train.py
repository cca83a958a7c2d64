import threading
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_unet import (  # noqa: E402
    Checkpoint,
    Evaluation,
    InputError,
    Preview,
    TrainConfig,
    TrainStarted,
    TrainStep,
    drain,
    iter_train,
    make_pairs,
    touching_cells,
    train,
)
from napari_unet.core.training.trainer import batch_workers, best_path  # noqa: E402
from napari_unet.core.training.validation import evaluate_pairs  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data():
    img, lab = touching_cells((128, 128), n_cells=12, seed=0, cluster_size=1)
    vimg, vlab = touching_cells((128, 128), n_cells=12, seed=1, cluster_size=1)
    return make_pairs([img], [lab], names=["train"]), make_pairs([vimg], [vlab], names=["val"])


def quick(**kw):
    base = dict(
        model="tiny",
        steps=6,
        batch_size=2,
        crop_size=48,
        val_every=3,
        device="cpu",
        prefetch=0,
        event_interval=0.0,
    )
    return TrainConfig(**(base | kw))


def run(gen):
    """All events of a run and its result."""
    events = []
    result = drain(gen, events.append)
    return events, result


def weights_of(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same_weights(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def test_tiny_network_learns_the_synthetic_sample(data):
    pairs, val = data
    cfg = TrainConfig(
        model="tiny",
        steps=120,
        batch_size=4,
        crop_size=64,
        val_every=40,
        lr=3e-3,
        device="cpu",
    )
    from napari_unet import build_model

    torch.manual_seed(0)
    untrained = build_model({**cfg.model, "in_channels": 1})
    chance = evaluate_pairs(untrained, val, cfg.normalization, "cpu")
    events, result = run(iter_train(pairs, cfg, val=val))
    assert isinstance(events[0], TrainStarted)
    evals = [e for e in events if isinstance(e, Evaluation)]
    assert [e.step for e in evals] == [40, 80, 120]
    final = evals[-1].metrics
    assert final["ap50"] >= 0.2 and final["ap50"] >= chance["ap50"] + 0.15
    assert final["pixel_iou"] > 0.8 > chance["pixel_iou"]
    assert final["val_loss"] < chance["val_loss"]
    steps = [e for e in events if isinstance(e, TrainStep)]
    # throttled: far fewer step events than steps, but the last step is always reported
    assert steps[-1].step == 120 and len(steps) < 120
    assert steps[-1].loss < steps[0].loss
    assert result.steps_done == 120 and not result.stopped
    assert result.best_metrics["ap50"] == max(e.metrics["ap50"] for e in evals)


def test_real_nuclei_reach_a_useful_ap50(shared_data):
    import tifffile

    d = shared_data / "stardist_nuclei2d"
    pairs = make_pairs(
        [tifffile.imread(d / "tests_img2d_256.tif")], [tifffile.imread(d / "tests_mask2d_256.tif")]
    )
    val = make_pairs(
        [tifffile.imread(d / "img2d.tif")[:192, :192]],
        [tifffile.imread(d / "mask2d.tif")[:192, :192]],
    )
    cfg = TrainConfig(model="tiny", steps=150, crop_size=96, val_every=150, lr=3e-3, device="cpu")
    result = train(pairs, cfg, val=val)
    assert result.best_metrics["ap50"] > 0.4


def test_stop_returns_trained_weights_within_one_step(data):
    pairs, _ = data
    stop = threading.Event()
    gen = iter_train(pairs, quick(steps=50, event_interval=0.0), stop=stop)
    events = []

    def stop_at_step_three(ev):
        events.append(ev)
        if isinstance(ev, TrainStep) and ev.step == 3:
            stop.set()

    result = drain(gen, stop_at_step_three)
    assert result.stopped and result.steps_done == 3
    assert max(e.step for e in events if isinstance(e, TrainStep)) == 3
    torch.manual_seed(0)
    from napari_unet import build_model

    fresh = build_model({**quick().model, "in_channels": 1})
    assert not same_weights(weights_of(fresh), weights_of(result.model))
    # the stopped model predicts
    assert result.model(torch.zeros(1, 1, 48, 48)).shape == (1, 2, 48, 48)


def test_resume_continues_steps_and_optimiser_state(data, tmp_path):
    pairs, _ = data
    cfg = quick(steps=6, val_every=100)
    straight = train(pairs, cfg)
    stop_after = {"n": 0}

    def stop():
        return stop_after["n"] >= 3

    def note_step(ev):
        if isinstance(ev, TrainStep):
            stop_after["n"] = ev.step

    part = drain(iter_train(pairs, cfg, stop=stop, output=tmp_path / "m.safetensors"), note_step)
    assert part.steps_done == 3 and part.stopped
    assert part.optimizer_state["state"][0]["step"] == 3
    # resume in memory and from the files: both finish exactly like the uninterrupted run
    resumed = train(pairs, cfg, resume=part)
    from_file = train(pairs, cfg, resume=tmp_path / "m.safetensors")
    for r in (resumed, from_file):
        assert r.steps_done == 6 and not r.stopped
        assert int(r.optimizer_state["state"][0]["step"]) == 6
        for k, v in weights_of(straight.model).items():
            torch.testing.assert_close(weights_of(r.model)[k], v, atol=1e-5, rtol=1e-4)
    assert [h["step"] for h in resumed.history["train"]][-1] == 6
    with pytest.raises(InputError, match="already trained"):
        train(pairs, cfg, resume=resumed)


def test_resume_on_other_validation_data_forgets_the_old_best(data):
    import dataclasses

    pairs, val = data
    first = train(pairs, quick(steps=3, val_every=3), val=val)
    # An unbeatable best at step 3: kept while the validation data stay the same.
    perfect = {**first.best_metrics, "ap50": 1.0, "val_loss": 0.0}
    first = dataclasses.replace(first, best_metrics=perfect)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        same = train(pairs, quick(steps=6, val_every=3), val=val, resume=first)
    assert not [w for w in seen if "validation differs" in str(w.message)]
    assert same.best_metrics["step"] == 3
    # Corrected annotations give other validation data: scores are not comparable, so the
    # best (and the model handed to prediction) comes from the new run, and a warning says
    # so (before, silently).
    vimg, vlab = touching_cells((128, 128), n_cells=10, seed=5, cluster_size=1)
    other = make_pairs([vimg], [vlab], names=["corrected"])
    with pytest.warns(UserWarning, match="validation differs from the run's first part"):
        changed = train(pairs, quick(steps=6, val_every=3), val=other, resume=first)
    assert changed.best_metrics["step"] == 6
    assert same_weights(weights_of(changed.best_model()), weights_of(changed.model))


def test_checkpoints_hold_provenance_and_fine_tune_loads(data, tmp_path):
    from napari_unet import load_model, read_metadata

    pairs, val = data
    out = tmp_path / "cells.safetensors"
    events, result = run(iter_train(pairs, quick(), val=val, output=out, preview=val[0].raw[0]))
    kinds = [(e.kind, e.path) for e in events if isinstance(e, Checkpoint)]
    assert ("last", out) in kinds and ("best", best_path(out)) in kinds
    previews = [e for e in events if isinstance(e, Preview)]
    assert len(previews) == 2 and previews[-1].labels.shape == (128, 128)
    meta = read_metadata(out)
    assert meta["provenance"]["steps"] == 6
    assert meta["provenance"]["config"]["steps"] == 6
    assert meta["normalization"]["method"] == "percentile"
    assert meta["training"]["best_metrics"]["ap50"] == result.best_metrics["ap50"]
    assert read_metadata(best_path(out))["metrics"]["at_save"]["step"] in (3, 6)
    loaded, _ = load_model(out)
    assert same_weights(weights_of(loaded), weights_of(result.model))

    # fine-tune: starts from the file's weights (stop at once -> unchanged weights)
    stop = threading.Event()
    stop.set()
    ft = train(pairs, quick(), init=out, stop=stop)
    assert ft.steps_done == 0 and same_weights(weights_of(ft.model), weights_of(loaded))
    ft2 = train(pairs, quick(steps=2), init=out)
    assert ft2.metadata["provenance"]["source"].startswith("fine-tuned from cells")


def test_fine_tune_file_of_another_kind_is_rejected(data, tmp_path):
    from napari_unet import build_model, save_model

    pairs, _ = data
    three = tmp_path / "three.safetensors"
    save_model(three, build_model({"arch": "unet", "n_classes": 3, "base_channels": 4, "depth": 2}))
    with pytest.raises(InputError, match="n_classes"):
        train(pairs, quick(model={"arch": "unet", "n_classes": 2}), init=three)
    rgb = tmp_path / "rgb.safetensors"
    save_model(rgb, build_model({"arch": "unet", "in_channels": 3, "base_channels": 4, "depth": 2}))
    with pytest.raises(InputError, match="channel"):
        train(pairs, quick(), init=rgb)
    with pytest.raises(InputError, match="arch"):
        train(pairs, quick(model={"arch": "unetpp"}), init=rgb)


def test_holdout_region_validation_and_bad_settings(data):
    pairs, _ = data
    events, result = run(iter_train(pairs, quick(val_fraction=0.25)))
    ev = [e for e in events if isinstance(e, Evaluation)]
    assert ev and set(ev[0].metrics) >= {"val_loss", "pixel_iou", "ap50"}
    with pytest.raises(InputError, match="preset"):
        TrainConfig(model="huge")
    with pytest.raises(InputError, match="optimizer"):
        TrainConfig(optimizer="rmsprop")
    with pytest.raises(InputError, match="steps"):
        TrainConfig(steps=0)
    with pytest.raises(InputError, match="workers"):
        TrainConfig(workers=-1)
    cfg = quick(optimizer="sgd", lr=0.01)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert train(pairs, cfg).steps_done == 6


def test_valid_padding_network_trains_on_centre_crops(data, tmp_path):
    pairs, val = data
    cfg = quick(
        model={"arch": "unet", "base_channels": 4, "depth": 3, "padding": "valid"},
        crop_size=60,
        steps=4,
        val_every=4,
    )
    events, result = run(iter_train(pairs, cfg, val=val))
    started = events[0]
    assert started.input_size == result.model.geometry.nearest_legal(60)
    assert started.output_size == result.model.geometry.output_size(started.input_size)
    assert started.output_size < started.input_size
    ev = [e for e in events if isinstance(e, Evaluation)]
    assert ev and 0 <= ev[0].metrics["pixel_iou"] <= 1


def test_batch_threads_are_chosen_per_device(monkeypatch):
    import os

    import torch

    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert batch_workers(0, torch.device("cpu")) == 1  # the network needs the cores
    assert batch_workers(0, torch.device("cuda", 0)) == 4  # one thread cannot feed a GPU
    assert batch_workers(3, torch.device("cpu")) == 3  # an explicit choice wins
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert batch_workers(0, torch.device("cuda", 0)) == 1  # a core stays for the main loop


@pytest.mark.parametrize("alpha", [False, True])
def test_the_view_of_a_colour_image_previews_like_its_training_pairs(alpha):
    # The Train dock's view of an RGB(A) layer is (h, w, C): read as C rows of 3 pixels, it
    # stopped a colour run at its first evaluation, and a grey model's preview stayed empty.
    from napari_unet.widgets._workers import ViewSource

    img, lab = touching_cells((96, 96), n_cells=8, seed=3, cluster_size=1)
    rgb = np.stack([img, img * 0.5, img * 0.25] + ([np.ones_like(img)] if alpha else []), -1)
    pairs = make_pairs([rgb], [lab], names=["colour"])
    assert pairs[0].raw.shape[0] == 3
    view = ViewSource(rgb, lab.shape)
    view.update((10, 74, 20, 84))
    events, result = run(iter_train(pairs, quick(val_every=3), val=pairs, preview=view))
    previews = [e for e in events if isinstance(e, Preview)]
    assert previews and previews[-1].labels.shape == (64, 64) and previews[-1].origin == (10, 20, 0)
    channels_first = ViewSource(np.moveaxis(rgb, -1, 0), lab.shape)
    channels_first.update((10, 74, 20, 84))
    np.testing.assert_array_equal(channels_first()[0], view()[0])


@pytest.mark.parametrize("dtype", [np.uint32, np.int64, np.uint64])
def test_label_ids_beyond_int32_keep_cells_apart(dtype):
    # int64 2**32 + 7 wrapped to 7 and merged with cell 7; uint32 3e9 read as negative
    labels = np.zeros((40, 40), dtype)
    labels[5:20, 5:20] = 7
    labels[5:20, 20:35] = {np.uint32: 3_000_000_000, np.int64: 2**32 + 7}.get(dtype, 2**63 + 5)
    (pair,) = make_pairs([np.random.default_rng(0).random((40, 40))], [labels])
    assert pair.labels.dtype == np.int32 and sorted(np.unique(pair.labels)) == [0, 1, 2]
    assert pair.labels[10, 10] != pair.labels[10, 30]  # two cells, the gap between them kept


def test_targets_follow_the_configs_gap_and_w0_whatever_the_pairs_were_made_with():
    from napari_unet.core.training.pairs import for_head

    labels = np.zeros((40, 40), np.int32)
    labels[5:35, 5:20], labels[5:35, 20:35] = 1, 2  # two touching cells
    pairs = make_pairs([np.random.default_rng(0).random((40, 40))], [labels])  # gap 2, w0 10
    (same,) = for_head(pairs, "paper", 0.0, 5.0, 0)
    assert same.target[20, 19:21].tolist() == [1, 1]  # no gap: before, the pair's 2 px gap
    assert same.weights.max() < 3  # no border term (w0 = 0)
    assert for_head(pairs, "paper", 10.0, 5.0, 2)[0] is pairs[0]  # made so: kept as they are


def test_pairs_normalised_again_are_cropped_from_their_new_pixels():
    """Before, a pair normalised again kept the spline of its old image, which crops read."""
    from napari_unet.core.training import augment as aug
    from napari_unet.core.training.pairs import for_head

    raw = np.random.default_rng(1).random((40, 40)).astype(np.float32) * 1000
    labels = np.zeros((40, 40), np.int32)
    labels[5:35, 5:20] = 1
    (pair,) = make_pairs([raw], [labels])  # percentile normalisation
    before = pair.coeffs.copy()  # computed and cached, as a first run does
    (again,) = for_head([pair], pair.head, *pair.settings, normalization={"method": "minmax"})
    assert again.image.max() <= 1.0 and not np.allclose(again.image, pair.image)
    np.testing.assert_allclose(again.coeffs, aug.prefilter(again.image), atol=1e-6)
    assert not np.allclose(again.coeffs, before)


def test_resuming_in_place_keeps_the_first_parts_best_model(data, tmp_path):
    """``--resume M -o M``: only a better score replaces ``M.best``.

    Before, the resumed part's first evaluation always counted as the best (a file holds
    no best weights) and was written over the first part's best, however much worse.
    """
    from napari_unet import load_model, read_metadata

    pairs, val = data
    out = tmp_path / "m.safetensors"
    first = train(pairs, quick(steps=3, val_every=3), val=val, output=out)
    perfect = {**first.best_metrics, "ap50": 1.0, "val_loss": 0.0}  # unbeatable
    at_save = read_metadata(best_path(out))["metrics"]["at_save"]
    assert at_save == first.best_metrics
    first_best = weights_of(load_model(best_path(out))[0])
    # the file records the perfect best (as a run that scored it would have)
    import dataclasses

    from napari_unet.core.training.checkpoint import save_result, save_snapshot

    save_result(dataclasses.replace(first, best_metrics=perfect), out)
    save_snapshot(best_path(out), first.best_model(), first.metadata, 3, perfect)
    second = train(pairs, quick(steps=6, val_every=3), val=val, resume=out, output=out)
    assert second.best_metrics["step"] == 3  # nothing beat it
    assert same_weights(weights_of(load_model(best_path(out))[0]), first_best)
    assert same_weights(weights_of(second.best_model()), first_best)
    # Resumed into another file, the carried best is written beside it.
    other = tmp_path / "n.safetensors"
    events, _ = run(iter_train(pairs, quick(steps=9, val_every=3), val=val, resume=out,
                               output=other))  # fmt: skip
    assert any(isinstance(e, Checkpoint) and e.kind == "best" for e in events)
    assert same_weights(weights_of(load_model(best_path(other))[0]), first_best)


def test_resuming_from_a_result_leaves_that_result_as_it_was(data):
    """A result is a snapshot: resumed twice, it gives the same run twice."""
    pairs, _ = data
    part = train(pairs, quick(steps=3, val_every=100))
    moment = part.optimizer_state["state"][0]["exp_avg"].clone()
    a = train(pairs, quick(steps=6, val_every=100), resume=part)
    torch.testing.assert_close(part.optimizer_state["state"][0]["exp_avg"], moment)
    assert int(part.optimizer_state["state"][0]["step"]) == 3
    b = train(pairs, quick(steps=6, val_every=100), resume=part)
    assert same_weights(weights_of(a.model), weights_of(b.model))
    assert int(a.optimizer_state["state"][0]["step"]) == 6


def test_dropout_is_reproducible_when_fine_tuning_and_resuming(data, tmp_path):
    """Dropout drew from torch's global generator, seeded only for a run from scratch."""
    pairs, _ = data
    model = {"arch": "unet", "base_channels": 4, "depth": 3, "padding": "same",
             "batch_norm": True, "dropout": 0.5}  # fmt: skip
    cfg = quick(model=model, steps=6, val_every=100)
    start = quick(model=model, steps=2, val_every=100)
    base = train(pairs, start, output=tmp_path / "b.safetensors")
    one, two = (train(pairs, cfg, init=base.saved_to) for _ in range(2))
    assert same_weights(weights_of(one.model), weights_of(two.model))
    straight = train(pairs, cfg)
    stop = {"n": 0}
    part = drain(iter_train(pairs, cfg, stop=lambda: stop["n"] >= 3),
                 lambda e: isinstance(e, TrainStep) and stop.update(n=e.step))  # fmt: skip
    torch.manual_seed(123)  # whatever the global generator holds
    resumed = train(pairs, cfg, resume=part)
    for k, v in weights_of(straight.model).items():
        torch.testing.assert_close(weights_of(resumed.model)[k], v, atol=1e-5, rtol=1e-4)
