"""The learning rate chosen when none is given: napari_unet.core.training.lr_choice."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tiny_model import separate_discs  # noqa: E402

from napari_unet import TrainConfig, TrainStarted, drain, iter_train, make_pairs, save_model  # noqa: E402
from napari_unet.core.models.modelfile import read_metadata  # noqa: E402
from napari_unet.core.training import lr_choice  # noqa: E402
from napari_unet.core.training.config import DEFAULT_LR  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def quick(**kw):
    base = dict(
        model="tiny", steps=3, batch_size=2, crop_size=48, val_every=1000, device="cpu",
        prefetch=0, event_interval=0.0,
    )  # fmt: skip
    return TrainConfig(**(base | kw))


@pytest.fixture(scope="module")
def start_file(trained_same, tmp_path_factory):
    """The tiny model as a model file to fine-tune from (it segments separate discs)."""
    from tiny_model import save_tiny

    return save_tiny(tmp_path_factory.mktemp("lr"), *trained_same)


def pairs_of(image, labels, region=None):
    return make_pairs([image], [labels], None if region is None else [region])


def known():
    """Discs: the start model already segments them."""
    return pairs_of(*separate_discs(0))


def unknown():
    """Inverted discs (dark on bright): the start model segments none of them."""
    image, labels = separate_discs(0)
    return pairs_of(image.max() - image, labels)


def run(pairs, config, **kw):
    events = []
    result = drain(iter_train(pairs, config, **kw), events.append)
    started = next(e for e in events if isinstance(e, TrainStarted))
    return started, result


def test_auto_is_spelt_none():
    assert TrainConfig(lr="auto").lr is None and TrainConfig(lr=" AUTO ").lr is None
    assert TrainConfig.from_dict(TrainConfig(lr="auto").to_dict()).lr is None
    assert TrainConfig(lr=3e-4).lr == 3e-4


def test_a_start_model_that_segments_its_annotations_fine_tunes_gently(start_file):
    started, result = run(known(), quick(), init=start_file)
    assert started.lr == pytest.approx(1e-4) == lr_choice.gentle_lr("adam")
    assert started.lr_reason.startswith("auto: the start model already segments")
    prov = result.metadata["provenance"]
    assert prov["lr"] == pytest.approx(1e-4) and prov["lr_reason"] == started.lr_reason
    assert prov["start_ap50"] >= lr_choice.KNOWN_AP50
    # every step ran at or below the chosen base rate (warm-up, then the decay)
    rates = [h["lr"] for h in result.history["train"]]
    assert rates and 0 < max(rates) <= 1e-4 + 1e-12
    # SGD: a tenth of its own default
    started, _ = run(known(), quick(optimizer="sgd", steps=1), init=start_file)
    assert started.lr == pytest.approx(DEFAULT_LR["sgd"] / 10)


def test_a_start_model_that_does_not_segment_them_takes_the_default(start_file, tmp_path):
    started, result = run(unknown(), quick(), init=start_file)
    assert started.lr == DEFAULT_LR["adam"] == 1e-3
    assert started.lr_reason.startswith("auto: the start model does not segment")
    assert result.metadata["provenance"]["start_ap50"] < lr_choice.KNOWN_AP50
    # an untrained network segments nothing either
    from napari_unet import build_model

    torch.manual_seed(0)
    untrained = tmp_path / "untrained.safetensors"
    save_model(untrained, build_model({**TrainConfig(model="tiny").model, "in_channels": 1}))
    started, _ = run(known(), quick(steps=1), init=untrained)
    assert started.lr == 1e-3


def test_only_the_annotated_region_is_scored(start_file):
    """Discs outside the region are not annotated: predicting them is no mistake."""
    image, labels = separate_discs(0)
    region = np.zeros(labels.shape, bool)
    region[:, :32] = True  # the first column of discs, none cut
    pairs = pairs_of(image, np.where(region, labels, 0), region)
    part = lr_choice._annotated_part(pairs[0])
    assert part.labels.shape == (128, 32 + lr_choice.CONTEXT_PX)  # cut, with context
    config = quick()
    assert lr_choice.start_score(trained(start_file), pairs, config, "cpu") == 1.0


def test_the_start_model_is_scored_with_the_post_processing_it_recommends(start_file, tmp_path):
    """As the user sees its results: a model whose file says min size 10000 finds nothing."""
    from napari_unet import load_model

    model, meta = load_model(start_file)
    strict = tmp_path / "strict.safetensors"
    save_model(strict, model, **(meta | {"postprocess": {"threshold": 0.5, "min_size": 10000}}))
    started, _ = run(known(), quick(steps=1), init=strict)
    assert started.lr == 1e-3 and "AP50 0.00" in started.lr_reason
    started, _ = run(known(), quick(steps=1), init=start_file)  # the defaults: it segments
    assert started.lr == pytest.approx(1e-4)


def trained(path):
    from napari_unet import load_model

    return load_model(path, device="cpu")[0]


def test_a_given_number_is_kept_and_nothing_is_scored(start_file, monkeypatch):
    def no_scoring(*args, **kwargs):
        raise AssertionError("the start model was scored")

    monkeypatch.setattr(lr_choice, "start_score", no_scoring)
    started, result = run(unknown(), quick(lr=3e-4), init=start_file)
    assert started.lr == 3e-4 and started.lr_reason == "set by the user"
    assert result.metadata["provenance"]["start_ap50"] is None
    # from scratch: the optimiser's default, unscored
    for optimizer in ("adam", "sgd"):
        started, result = run(known(), quick(optimizer=optimizer, steps=1))
        assert started.lr == DEFAULT_LR[optimizer]
        assert "from scratch" in started.lr_reason
        assert result.metadata["provenance"]["lr"] == DEFAULT_LR[optimizer]


def test_resume_keeps_the_rate_of_the_run_it_continues(start_file, tmp_path):
    out = tmp_path / "ft.safetensors"
    _, first = run(known(), quick(steps=2), init=start_file, output=out)
    assert first.metadata["provenance"]["lr"] == pytest.approx(1e-4)
    # resumed on data the start model cannot segment (a fresh choice would be 1e-3)
    for resume in (first, out):
        started, result = run(unknown(), quick(steps=4), resume=resume)
        assert started.lr == pytest.approx(1e-4)
        assert started.lr_reason.startswith("kept from the run it resumes: auto")
        assert result.metadata["provenance"]["lr"] == pytest.approx(1e-4)
        assert max(h["lr"] for h in result.history["train"] if h["step"] > 2) <= 1e-4 + 1e-12
    assert read_metadata(out)["provenance"]["lr"] == pytest.approx(1e-4)
    # resuming a resumed run: the reason does not grow
    _, second = run(unknown(), quick(steps=4), resume=first)
    started, _ = run(unknown(), quick(steps=5), resume=second)
    assert started.lr_reason.count("kept from") == 1
    # a number given for the resumed run wins
    started, _ = run(unknown(), quick(steps=4, lr=5e-4), resume=first)
    assert started.lr == 5e-4 and started.lr_reason == "set by the user"


def test_fine_tuning_keeps_the_start_model_until_a_step_beats_it(start_file, tmp_path):
    """Scored at step 0: a fine-tune that only gets worse hands back the start weights."""
    from napari_unet import load_model

    image, labels = separate_discs(0)
    val = pairs_of(image, labels)  # the start model segments these
    out = tmp_path / "tuned.safetensors"
    model, meta = load_model(start_file)
    recommends = {"threshold": 0.45, "min_size": 5}
    start = tmp_path / "start.safetensors"  # a start model that recommends its settings
    save_model(start, model, **(meta | {"postprocess": recommends}))
    harm = quick(steps=4, val_every=2, lr=0.05)  # inverted discs at a wild rate: it unlearns
    _, result = run(unknown(), harm, init=start, val=val, output=out)
    steps = [h["step"] for h in result.history["val"]]
    assert steps == [0, 2, 4]
    start_ap = result.history["val"][0]["ap50"]
    assert start_ap > 0.8 and all(h["ap50"] < start_ap for h in result.history["val"][1:])
    assert result.best_metrics["step"] == 0
    start = model.state_dict()
    best = result.best_model().state_dict()
    assert all(torch.equal(best[k], start[k]) for k in start)
    kept, kept_meta = load_model(tmp_path / "tuned.best.safetensors")
    assert all(torch.equal(kept.state_dict()[k], start[k]) for k in start)
    # handed on with the post-processing it was scored with, its file's recommendation
    assert result.best_metadata()["postprocess"] == recommends == kept_meta["postprocess"]
    assert "postprocess" not in result.metadata  # the fine-tune's own: the defaults
    # from scratch there is no start model to score
    _, scratch = run(known(), quick(steps=2, val_every=2), val=val)
    assert [h["step"] for h in scratch.history["val"]] == [2]
