"""Live training (core): targets kept current box by box, and the trainer's thread."""

from __future__ import annotations

import time

import numpy as np
import pytest

from napari_unet.core.errors import InputError
from napari_unet.core.live.data import RING, LiveData
from napari_unet.core.training.pairs import cached_target_and_weights


@pytest.fixture(scope="module")
def cells():
    from napari_unet.core.images.synthetic import touching_cells

    image, labels = touching_cells(shape=(192, 224), n_cells=40, seed=3)
    return image.astype(np.float32)[None], labels.astype(np.int32)


def _wait(cond, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_updates_give_the_targets_of_the_whole_image(cells):
    raw, labels = cells
    data = LiveData(raw)
    h, w = labels.shape
    region = np.zeros((h, w), bool)
    region[20:150, 30:200] = True
    for y0, x0 in [(20, 30), (20, 115), (85, 30), (85, 115)]:  # four strokes' boxes
        box = (y0, y0 + 65, x0, x0 + 85)
        data.update(
            box, labels[box[0] : box[1], box[2] : box[3]], region[y0 : y0 + 65, x0 : x0 + 85]
        )
    target, weights, _ = cached_target_and_weights(labels * region, region, 10.0, 5.0)
    np.testing.assert_array_equal(data.target, target)
    np.testing.assert_allclose(data.weights, weights, atol=1e-5)
    assert data.version == 4 and len(data.recent) == 4
    with pytest.raises(InputError, match="outside"):
        data.update((0, h + 1, 0, 5), np.zeros((h + 1, 5), np.int32))
    with pytest.raises(InputError, match="do not fill"):
        data.update((0, 4, 0, 4), np.zeros((3, 3), np.int32))


def test_a_painted_cell_marks_a_ring_of_background_and_erasing_keeps_it_annotated(cells):
    raw, _ = cells
    data = LiveData(raw)
    patch = np.zeros((40, 40), np.int32)
    patch[15:25, 15:25] = 1
    data.update((10, 50, 10, 50), patch)
    assert data.mask[25:35, 25:35].all()  # the cell
    assert data.mask[25 + 5, 25 + 14] and not data.mask[25 + 5, 25 + 14 + RING + 1]
    assert data.weights[data.mask].min() > 0 and data.weights[~data.mask].max() == 0
    data.update((10, 50, 10, 50), np.zeros((40, 40), np.int32))  # erased
    assert data.mask[25:35, 25:35].all() and data.labels.max() == 0  # known background now
    data.update((10, 50, 10, 50), patch)  # painted again
    wrong = data.set_errors((10, 10), np.zeros((40, 40), np.int32))
    assert wrong == 100  # the painted cell, missed
    assert data.set_errors((10, 10), np.ones((40, 40), np.int32)) == 0  # the ring: a guess


def test_an_undone_cell_is_no_longer_annotated_but_its_neighbour_stays(cells):
    """Undo took a painted cell back, yet its pixels stayed annotated as background: a
    mistaken stroke undone taught "no cell here" where there was one."""
    raw, _ = cells
    data = LiveData(raw)
    patch = np.zeros((60, 60), np.int32)
    patch[10:20, 10:20] = 1  # kept
    patch[10:20, 24:34] = 2  # painted by mistake, then undone
    data.update((0, 60, 0, 60), patch)
    undone = np.where(patch == 2, 0, patch)
    data.update((0, 60, 0, 60), undone, undone=True)
    assert not data.mask[10:20, 24 + RING : 34].any() and data.labels.max() == 1
    assert not data.mask[12, 34 : 34 + RING].any()  # its ring too
    assert data.mask[10:20, 10:20 + RING].all()  # the cell left, with its ring
    assert data.weights[10:20, 24 + RING : 34].max() == 0  # not trained on
    data.update((0, 60, 0, 60), np.zeros((60, 60), np.int32))  # an eraser stroke
    assert data.mask[10:20, 10:20].all()  # annotated background, as before


def test_the_trainer_learns_from_updates_and_predicts_the_view(cells, tmp_path, one_thread):
    from napari_unet.core.live.trainer import LiveConfig, LiveTrainer
    from napari_unet.core.models.modelfile import load_model
    from napari_unet.core.models.unet import UNet

    raw, labels = cells
    views = []
    model = UNet(1, 2, base_channels=4, depth=3, padding="same")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = LiveTrainer(
        model, {}, raw, LiveConfig(batch_size=2, crop_size=64, refresh_steps=10),
        on_view=views.append,
    )  # fmt: skip
    try:
        trainer.request_view((0, 96, 0, 96))
        _wait(lambda: views)
        assert views[0].labels.shape == (96, 96) and views[0].step == 0
        assert trainer.step == 0  # nothing annotated: no step
        uid = trainer.update((0, 96, 0, 96), labels[:96, :96])
        _wait(lambda: trainer.step >= 12)
        assert uid in trainer.applied_at
        _wait(lambda: len(views) >= 2)  # due after refresh_steps without being asked
        assert views[-1].step >= 10
        trainer.pause()
        time.sleep(0.3)
        paused_at = trainer.step
        time.sleep(0.5)
        assert trainer.step == paused_at
        trainer.resume()
        _wait(lambda: trainer.step > paused_at)
        saved = trainer.save(tmp_path / "live.unet.safetensors")
        loaded, meta = load_model(saved)
        assert meta["provenance"]["trained_by"] == "napari-unet live"
        assert meta["provenance"]["live_steps"] >= paused_at
        assert any(
            not (a == b).all()
            for a, b in zip(loaded.state_dict().values(), before.values(), strict=True)
        )  # the saved model is the trained one
    finally:
        assert trainer.stop()
    assert not trainer.running
    # The caller's model was not trained (a copy is).
    assert all((before[k] == v).all() for k, v in model.state_dict().items())


def test_a_drawn_region_is_annotated_with_the_painted_cells_and_apart_from_them(cells):
    raw, labels = cells
    data = LiveData(raw)
    patch = np.zeros((40, 40), np.int32)
    patch[15:25, 15:25] = 1
    data.update((10, 50, 10, 50), patch)
    painted = data.mask.copy()
    region = np.zeros(data.shape, bool)
    region[100:160, 120:200] = True  # background drawn as a region: "no cell here"
    box = data.set_region(region)
    assert box == (100, 160, 120, 200)
    np.testing.assert_array_equal(data.mask, painted | region)
    assert data.weights[region].min() > 0 and (data.target[region] == 0).all()
    assert data.set_region(region) is None  # the same region: nothing changed
    data.set_region(np.zeros(data.shape, bool))  # the region removed: the painted cell stays
    np.testing.assert_array_equal(data.mask, painted)
    assert data.weights[100:160, 120:200].max() == 0
    with pytest.raises(InputError, match="region of shape"):
        data.set_region(np.zeros((3, 3), bool))


def test_other_annotated_images_share_the_batches(cells, one_thread):
    from napari_unet.core.live.trainer import LiveConfig, LiveTrainer
    from napari_unet.core.models.unet import UNet

    raw, labels = cells
    other_image = raw[0][:, ::-1].copy()  # another image (H, W) with its own cells
    other_labels = labels[:, ::-1].copy()
    model = UNet(1, 2, base_channels=4, depth=3, padding="same")
    config = LiveConfig(batch_size=2, crop_size=64, other_share=0.5)
    trainer = LiveTrainer(model, {}, raw, config, others=[(other_image, other_labels)])
    try:
        trainer.update((0, 96, 0, 96), labels[:96, :96])
        _wait(lambda: trainer.step >= 2)
        trainer.pause()
        (pair,) = trainer.other_pairs
        # what counts as annotated there: the cells and a ring around each, as painting
        assert pair.mask[other_labels > 0].all() and not pair.mask.all()
        np.testing.assert_array_equal(pair.labels, other_labels)
        sampler = trainer._sampler_for()
        drawn = []
        inner = sampler.others.sample
        sampler.others.sample = lambda rng: drawn.append(1) or inner(rng)
        for _ in range(200):
            sampler.sample(np.random.default_rng(len(drawn) + _))
        assert 60 <= len(drawn) <= 140  # about half the crops come from the other image
    finally:
        assert trainer.stop()
    assert trainer.error is None


def test_an_error_on_the_thread_stops_it_and_is_kept(cells, one_thread):
    from napari_unet.core.live.trainer import LiveTrainer
    from napari_unet.core.models.unet import UNet

    raw, _ = cells
    model = UNet(1, 2, base_channels=4, depth=3, padding="same")
    trainer = LiveTrainer(model, {}, raw)

    def broken(region):  # a wrong region is refused at the call now: fail on the thread
        raise RuntimeError("failed on the trainer's thread")

    trainer.data.set_region = broken  # what the thread calls for a region handed over
    trainer.set_region(np.ones(trainer.data.shape, bool))
    _wait(lambda: not trainer.running)
    assert isinstance(trainer.error, RuntimeError) and "trainer's thread" in str(trainer.error)
    trainer.stop()


def test_the_view_splits_cells_but_keeps_a_blob_the_size_of_the_image_whole(trained_same):
    """The view's labels are the model's post-processing, except that an instance far larger
    than the model's objects (an untrained model's blob) is not cut into arbitrary pieces."""
    from napari_unet import touching_cells
    from napari_unet.core.inference.plan import Predictor
    from napari_unet.core.inference.postprocess import Postprocess, probabilities_to_labels
    from napari_unet.core.live.view import split_limit, view_labels

    model, meta = trained_same
    predictor = Predictor(model, metadata=meta, channel_axis=0)
    _, cells = touching_cells((256, 256), n_cells=40, seed=5)
    fg = (cells > 0).astype(np.float32)
    fg[:, 200:] = 1.0  # a blob: a quarter of the view, cells merged into it
    probs = np.stack([1 - fg, fg])
    post = Postprocess(threshold=0.5, min_size=10, gap=2, split=1.0)
    sized = {**meta, "object_size": 12.0}  # cells of about 113 px; the view splits to 7,238
    assert split_limit(sized) == int(64 * np.pi / 4 * 144)
    view = view_labels(predictor, probs, post, sized)
    full = probabilities_to_labels(fg, **post.as_dict())
    blob = view[128, 230]
    assert np.count_nonzero(view == blob) > 256 * 50  # the blob is one instance
    assert len(np.unique(full[:, 200:])) >= 2  # where the full split cut it into pieces
    left = slice(0, 150)  # away from the blob: the same cuts as the full split
    assert len(np.unique(view[:, left])) == len(np.unique(full[:, left]))
    assert view.max() < full.max()
    # No object size recorded: exactly the model's own post-processing.
    unsized = {k: v for k, v in meta.items() if k != "object_size"}
    assert np.array_equal(view_labels(predictor, probs, post, unsized), full)


def test_split_max_area_keeps_larger_instances_whole():
    from napari_unet import touching_cells
    from napari_unet.core.inference.postprocess import probabilities_to_labels

    _, cells = touching_cells((200, 200), n_cells=30, seed=2)
    fg = (cells > 0).astype(np.float32)
    plain = probabilities_to_labels(fg, 0.5, 10, 2, 0.0)
    split = probabilities_to_labels(fg, 0.5, 10, 2, 1.0)
    assert split.max() > plain.max()
    assert np.array_equal(probabilities_to_labels(fg, 0.5, 10, 2, 1.0, split_max_area=0), plain)
    big = probabilities_to_labels(fg, 0.5, 10, 2, 1.0, split_max_area=fg.size)
    assert np.array_equal(big, split)


def test_the_view_runs_in_bf16_where_the_cpu_has_amx_and_finds_the_same_cells(monkeypatch):
    """The view's "auto" precision is bf16 on a CPU with bf16 matrix units, fp32 elsewhere;
    bf16 finds the same nuclei as fp32 with the built-in model on a real image."""
    from napari_unet import evaluate, pretrained
    from napari_unet.core.inference.plan import Predictor
    from napari_unet.core.inference.postprocess import Postprocess
    from napari_unet.core.live.view import view_labels, view_precision
    from napari_unet.core.progress import drain
    from napari_unet.sample_data import nuclei_data

    monkeypatch.setenv("NAPARI_UNET_CPU_BF16", "0")
    assert view_precision("auto") == "fp32"
    monkeypatch.setenv("NAPARI_UNET_CPU_BF16", "1")  # also where the CPU lacks AMX: slower
    assert view_precision("auto") == "bf16" and view_precision("fp32") == "fp32"
    with pytest.raises(InputError, match="view precision"):
        view_precision("int8")

    model, meta = pretrained("nuclei")
    image = nuclei_data()[0][:192, :192]
    post = Postprocess.for_model(meta)
    views = {}
    for precision in ("fp32", "bf16"):
        predictor = Predictor(model, metadata=meta, precision=precision)
        probs = drain(predictor.iter_probabilities(image))
        views[precision] = (probs, view_labels(predictor, probs, post, meta))
    assert 0 < np.abs(views["fp32"][0] - views["bf16"][0]).max() < 0.2  # bf16 did run
    same = evaluate(views["fp32"][1], views["bf16"][1], thresholds=(0.5,))
    assert views["fp32"][1].max() >= 10 and same["per_threshold"][0]["ap"] >= 0.9


def test_the_trainer_predicts_its_view_in_the_chosen_precision(cells, monkeypatch, one_thread):
    """LiveConfig.view_precision reaches the view's Predictor; a bad one is refused at once."""
    from napari_unet.core.inference import plan
    from napari_unet.core.live.trainer import LiveConfig, LiveTrainer
    from napari_unet.core.models.unet import UNet

    raw, _ = cells
    model = UNet(1, 2, base_channels=4, depth=2, padding="same")
    with pytest.raises(InputError, match="view precision"):
        LiveTrainer(model, {}, raw, LiveConfig(view_precision="int8"))
    used = []

    backgrounds = []

    class Recording(plan.Predictor):
        def __init__(self, *args, **kwargs):
            used.append(kwargs.get("precision"))
            backgrounds.append(kwargs.get("background"))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(plan, "Predictor", Recording)
    monkeypatch.setenv("NAPARI_UNET_CPU_BF16", "1")
    for setting, expected in (("auto", "bf16"), ("fp32", "fp32")):
        views = []
        trainer = LiveTrainer(
            model, {}, raw, LiveConfig(view_precision=setting), on_view=views.append
        )
        try:
            trainer.request_view((0, 64, 0, 64))
            _wait(lambda views=views: views)
        finally:
            assert trainer.stop()
        assert trainer.view_precision == expected and used[-1] == expected
        assert views[0].labels.shape == (64, 64)
    assert backgrounds == ["keep", "keep"]  # the view reads the plane as training does


def test_a_live_model_saved_over_its_start_file_is_not_resumed_with_that_runs_state(
    cells, tmp_path, one_thread
):
    """The start file's resume record described other weights.

    Kept in the saved file, ``--resume`` paired the live weights with the start run's
    optimiser state (still beside it); now it is refused as weights of no run.
    """
    from napari_unet import TrainConfig, load_model, make_pairs, read_metadata, train
    from napari_unet.core.live.trainer import LiveConfig, LiveTrainer
    from napari_unet.core.training.checkpoint import load_resume

    raw, labels = cells
    path = tmp_path / "m.safetensors"
    cfg = TrainConfig(model="tiny", steps=2, batch_size=2, crop_size=48, device="cpu")
    train(make_pairs([raw[0]], [labels]), cfg, output=path)
    model, meta = load_model(path)
    trainer = LiveTrainer(model, meta, raw, LiveConfig(batch_size=2, crop_size=48))
    try:
        trainer.update((0, 96, 0, 96), labels[:96, :96])
        _wait(lambda: trainer.step >= 2)
    finally:
        trainer.stop()
    trainer.save(path)
    saved = read_metadata(path)
    assert "training" not in saved and "metrics" not in saved
    assert saved["provenance"]["trained_by"] == "napari-unet live"
    with pytest.raises(InputError, match="optimiser state"):
        load_resume(path)


def test_a_large_view_is_cut_to_its_centre_keeping_its_shape():
    from napari_unet.core.live.view import capped_view

    assert capped_view((10, 110, 20, 220), 20_000) == ((10, 110, 20, 220), False)
    box, capped = capped_view((0, 8192, 0, 8192), 1024 * 1024)
    assert capped and box == (3584, 4608, 3584, 4608)  # the centre 1024 x 1024
    (y0, y1, x0, x1), capped = capped_view((0, 1000, 0, 4000), 1_000_000)
    assert capped and 990_000 <= (y1 - y0) * (x1 - x0) <= 1_000_000
    assert abs((x1 - x0) / (y1 - y0) - 4) < 0.05  # as wide as the view, for its height
    assert (y0 + y1) // 2 == 500 and (x0 + x1) // 2 == 2000
    (y0, y1, x0, x1), _ = capped_view((0, 3, 0, 10**7), 1000)
    assert (y1 - y0, x1 - x0) == (1, 1000)  # never an empty box


def test_stop_ends_a_view_prediction_after_its_current_tile(cells, monkeypatch, one_thread):
    """A view of a whole large image takes minutes: Stop (and closing napari) waited for it."""
    import threading

    from napari_unet.core.inference import plan
    from napari_unet.core.live.trainer import LiveTrainer
    from napari_unet.core.models.unet import UNet

    raw = np.tile(cells[0], (1, 2, 2))  # 384 x 448
    tiles, first = [], threading.Event()

    class SlowTiles(plan.Predictor):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{**kwargs, "tile": 64})

        def iter_probabilities(self, *args, **kwargs):
            inner = super().iter_probabilities(*args, **kwargs)
            try:
                while True:
                    event = next(inner)
                    tiles.append(event)
                    first.set()
                    time.sleep(0.05)
                    yield event
            except StopIteration as end:
                return end.value

    monkeypatch.setattr(plan, "Predictor", SlowTiles)
    views = []
    trainer = LiveTrainer(UNet(1, 2, base_channels=4, depth=2, padding="same"), {}, raw,
                          on_view=views.append)  # fmt: skip
    trainer.request_view((0, 384, 0, 448))
    assert first.wait(60)
    assert trainer.stop(timeout=30)
    assert not views  # abandoned, not shown
    assert tiles[-1].total > 20 and len(tiles) < tiles[-1].total / 2
