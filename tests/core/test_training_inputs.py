"""Training reads its inputs as prediction does, and keeps what it trained.

Each test failed before its fix: a varying 4th channel dropped as an RGBA alpha, a stack
with 2D labels trained as channels, a replaced run's NAME.best left beside a new model,
Ctrl-C in the Python API losing the run, the default preset recorded as the architecture
of a fine-tuned model, a head silently ignored on resume, a grey model resumed on colour
pairs failing at step 1, a validation image without cells refused as training data.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_unet import (  # noqa: E402
    InputError,
    TrainConfig,
    TrainStep,
    iter_train,
    make_pairs,
    read_metadata,
    touching_cells,
    train,
)
from napari_unet.core.images.layout import layout  # noqa: E402
from napari_unet.core.training.checkpoint import best_path, optimizer_path  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def quick(**kw):
    base = dict(model="tiny", steps=4, batch_size=2, crop_size=48, val_every=100,
                device="cpu", prefetch=0, event_interval=0.0)  # fmt: skip
    return TrainConfig(**(base | kw))


@pytest.fixture(scope="module")
def cells():
    img, lab = touching_cells((96, 96), n_cells=10, seed=0, cluster_size=1)
    return img.astype(np.float32), lab


@pytest.fixture(scope="module")
def pairs(cells):
    return make_pairs([cells[0]], [cells[1]], names=["cells"])


# -- 1. a 4th channel is an alpha only when it holds one value ---------------------------


def four_channels(img):
    rng = np.random.default_rng(0)
    noise = [rng.normal(10, 3, img.shape) for _ in range(3)]
    return np.stack([*noise, img], -1).astype(np.float32)  # the nuclei in channel 4


def test_a_fourth_channel_stored_last_is_trained_on_when_it_varies(cells):
    img, lab = cells
    c4 = four_channels(img)  # (H, W, 4): how a 4-channel ImageJ TIFF is read
    (last,) = make_pairs([c4], [lab])
    (first,) = make_pairs([np.moveaxis(c4, -1, 0)], [lab])
    assert last.image.shape == first.image.shape == (4, *img.shape)  # before: (3, H, W)
    np.testing.assert_array_equal(last.raw, first.raw)
    # Prediction reads it alike: all four for a 4-channel model, refused by a colour one.
    assert layout(c4, 4).planes.shape == (1, 4, *img.shape)
    with pytest.raises(InputError, match="fourth channel varies"):
        layout(c4, 3)
    with pytest.raises(InputError, match="4 channel"):
        make_pairs([c4], [lab], in_channels=3)


def test_an_rgba_alpha_is_still_dropped_in_training_and_prediction(cells):
    img, lab = cells
    rgb = np.stack([img, img * 0.5, img * 0.25], -1)
    rgba = np.concatenate([rgb, np.full((*img.shape, 1), 255, np.float32)], -1)
    (pair,) = make_pairs([rgba], [lab])
    assert pair.image.shape == (3, *img.shape)
    np.testing.assert_array_equal(layout(rgba, 3).planes[0], pair.raw)
    grey = make_pairs([rgba], [lab], in_channels=1)[0].raw
    np.testing.assert_array_equal(layout(rgba, 1).planes[0], grey)  # the mean of R, G, B


def test_a_grey_model_reads_all_four_varying_channels_in_training_and_prediction(cells):
    img, lab = cells
    c4 = four_channels(img)
    grey = make_pairs([c4], [lab], in_channels=1)[0].raw
    np.testing.assert_allclose(grey[0], c4.mean(-1), rtol=1e-6)  # before: the mean of three
    np.testing.assert_array_equal(layout(c4, 1).planes[0], grey)


# -- 2. a stack of planes with 2D labels -------------------------------------------------


def test_a_stack_with_2d_labels_is_refused_not_trained_as_channels(cells):
    img, lab = cells
    series = np.stack([np.roll(img, k, axis=1) for k in range(12)])  # (T, Y, X)
    with pytest.raises(InputError, match=r"12 planes.*labels are 2D") as info:
        make_pairs([series], [lab], names=["ts.tif"])
    assert "ts.tif" in str(info.value) and "(Z, Y, X)" in str(info.value)
    # Channels first stay channels: up to four, or as many as the model takes.
    assert make_pairs([series[:3]], [lab])[0].image.shape[0] == 3
    assert make_pairs([series], [lab], in_channels=12)[0].image.shape[0] == 12
    assert make_pairs([series], [np.stack([lab] * 12)])[0].image.shape[0] == 1  # a stack


# -- 4. a replaced run leaves nothing that pretends to belong to the new one --------------


def test_a_new_run_without_validation_removes_the_replaced_runs_best(pairs, tmp_path):
    out = tmp_path / "m.safetensors"
    train(pairs, quick(steps=4, val_every=2), val=pairs, output=out)
    assert best_path(out).exists()
    new = train(pairs, quick(steps=3, seed=1), output=out)  # no validation: no best
    assert new.best_metrics is None and read_metadata(out)["provenance"]["steps"] == 3
    assert not best_path(out).exists()  # before: the replaced run's best stayed
    prev = optimizer_path(out, previous=True)
    assert not prev.exists()  # the replaced run's optimiser state went too
    assert optimizer_path(out).exists()  # this run's own is kept (resumable)


def test_a_new_run_stopped_before_its_first_validation_removes_the_replaced_best(pairs, tmp_path):
    out = tmp_path / "m.safetensors"
    train(pairs, quick(steps=4, val_every=2), val=pairs, output=out)
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] > 3

    new = train(pairs, quick(steps=200, val_every=50, seed=5), val=pairs, output=out, stop=stop)
    assert new.stopped and new.steps_done == 3 and new.best_metrics is None
    assert not best_path(out).exists()


def test_a_run_resumed_in_place_keeps_its_best_and_a_new_best_is_kept(pairs, tmp_path):
    out = tmp_path / "m.safetensors"
    first = train(pairs, quick(steps=4, val_every=2), val=pairs, output=out)
    before = best_path(out).read_bytes()
    calls = {"n": 0}
    stop = lambda: calls.update(n=calls["n"] + 1) or calls["n"] > 1  # noqa: E731 - one step
    resumed = train(pairs, quick(steps=9, val_every=100), val=pairs, resume=out, output=out,
                    stop=stop)  # fmt: skip
    assert resumed.steps_done == 5 and resumed.best_metrics == first.best_metrics
    assert best_path(out).read_bytes() == before  # the run's own best, not stale
    other = tmp_path / "n.safetensors"
    train(pairs, quick(steps=4, val_every=2), val=pairs, output=other)
    again = train(pairs, quick(steps=4, val_every=2, seed=3), val=pairs, output=other)
    at_save = read_metadata(best_path(other))["metrics"]["at_save"]
    assert at_save == again.best_metrics and first.run_id != again.run_id


# -- 5. Ctrl-C in a script or notebook ---------------------------------------------------


def test_ctrl_c_in_the_progress_callback_saves_the_run_and_is_raised_again(pairs, tmp_path):
    out = tmp_path / "m.safetensors"

    def progress(ev):
        if isinstance(ev, TrainStep) and ev.step == 3:
            raise KeyboardInterrupt  # the user interrupts the kernel

    with pytest.raises(KeyboardInterrupt) as info:
        train(pairs, quick(steps=20), output=out, progress=progress)
    meta = read_metadata(out)  # before: nothing was written
    assert meta["training"]["steps_done"] == 3 and meta["training"]["stopped"]
    result = info.value.result
    assert result.steps_done == 3 and result.stopped and result.saved_to == out
    # ...and it resumes like a stopped run.
    assert train(pairs, quick(steps=5), resume=out, output=out).steps_done == 5


def test_ctrl_c_during_a_step_saves_the_steps_done(pairs, tmp_path, monkeypatch):
    from napari_unet.core.training import trainer

    real = trainer._Run.train_step

    def interrupted(self, batch):
        if self.step == 4:
            raise KeyboardInterrupt  # arrives mid-step: the step is not counted
        return real(self, batch)

    monkeypatch.setattr(trainer._Run, "train_step", interrupted)
    out = tmp_path / "m.safetensors"
    seen = []
    with pytest.raises(KeyboardInterrupt):
        for ev in iter_train(pairs, quick(steps=20), output=out):
            seen.append(ev)
    assert read_metadata(out)["training"]["steps_done"] == 4
    assert read_metadata(out)["provenance"]["steps"] == 4


# -- 7. provenance names the network trained ---------------------------------------------


def test_a_fine_tuned_model_records_its_own_architecture(pairs, tmp_path):
    base = tmp_path / "tiny.safetensors"
    train(pairs, quick(steps=2), output=base)
    tuned = tmp_path / "ft.safetensors"
    result = train(pairs, TrainConfig(steps=2, batch_size=2, crop_size=48, device="cpu",
                                      prefetch=0), init=base, output=tuned)  # fmt: skip
    meta = read_metadata(tuned)
    recorded = meta["provenance"]["config"]["model"]
    assert recorded["base_channels"] == meta["config"]["base_channels"] == 8  # before: 16
    assert recorded["depth"] == 3 and result.config.model["base_channels"] == 8


# -- 8. resume: head and channels checked at setup; validation without cells ---------------


def test_a_head_asked_for_on_resume_is_refused_not_ignored(pairs, tmp_path):
    out = tmp_path / "m.safetensors"
    train(pairs, quick(steps=2), output=out)
    model = {**quick().model, "head": "3class"}
    with pytest.raises(InputError, match="head '3class'.*'paper'"):
        train(pairs, quick(steps=4, model=model), resume=out)
    model["head"] = "paper"  # its own head may be named
    assert train(pairs, quick(steps=4, model=model), resume=out).steps_done == 4


def test_a_grey_model_resumed_on_colour_pairs_is_refused_before_training(cells, pairs, tmp_path):
    img, lab = cells
    out = tmp_path / "m.safetensors"
    train(pairs, quick(steps=2), output=out)
    colour = make_pairs([np.stack([img, img * 0.5, img * 0.2], -1)], [lab])
    gen = iter_train(colour, quick(steps=5), resume=out)
    with pytest.raises(InputError, match=r"takes 1 channel.*have 3.*in_channels=1"):
        next(gen)  # before: TrainStarted, then a tensor-shape error at step 1


def test_a_validation_image_without_cells_is_allowed_and_scored(cells, pairs):
    img, lab = cells
    empty = np.zeros_like(lab)
    with pytest.raises(InputError, match="no annotated cell"):
        make_pairs([img], [empty])  # training data without a cell is still refused
    (val,) = make_pairs([img], [empty], names=["val.tif"], validation=True)
    assert val.n_cells == 0
    result = train(pairs, quick(steps=2, val_every=2), val=[val])
    (metrics,) = [{k: v for k, v in m.items() if k != "step"} for m in result.history["val"]]
    assert metrics["n_gt"] == 0
    assert metrics["ap50"] == (1.0 if metrics["n_pred"] == 0 else 0.0)  # false positives only


def test_a_validation_stack_without_any_annotated_plane_names_the_validation_set(cells):
    img, lab = cells
    with pytest.raises(InputError, match=r"validation \(val.tif\): no annotated plane"):
        make_pairs([np.stack([img] * 3)], [np.zeros((3, *lab.shape), lab.dtype)],
                   names=["val.tif"], validation=True)  # fmt: skip


def test_the_alpha_check_of_a_lazy_image_reads_a_few_windows_not_the_image():
    """A strided sample of a dask array loads every chunk; it ran at every layout made (once
    per prediction region), so a 4-channel Zarr image was read whole again and again."""
    import dask.array as da

    from napari_unet.core.images.layout import is_alpha

    class Counting:
        def __init__(self, data):
            self.data, self.shape, self.dtype, self.ndim = data, data.shape, data.dtype, data.ndim
            self.reads = 0

        def __getitem__(self, key):
            self.reads += 1
            return self.data[key]

    varying = np.random.default_rng(0).integers(0, 4000, (2048, 2048), dtype=np.uint16)
    for data, alpha in ((varying, False), (np.full((2048, 2048), 255, np.uint8), True)):
        source = Counting(data)
        assert is_alpha(da.from_array(source, chunks=256)) is alpha
        assert 0 < source.reads <= 24, source.reads  # five windows: 20 chunks; of 64
