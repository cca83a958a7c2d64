"""One source for defaults and help texts: the command, the docks and docs/options.md agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from napari_unet import Postprocess, TrainConfig
from napari_unet.cli import build_parser
from napari_unet.cli._args import options_markdown, parser_actions
from napari_unet.core.options import OPTIONS, describe
from napari_unet.core.training.config import DEFAULT_PRESET
from napari_unet.core.training.targets import WeightMapSettings

DOCS = Path(__file__).resolve().parents[1] / "docs" / "options.md"


def test_docs_page_is_current():
    # Regenerate with: python scripts/options_doc.py
    assert DOCS.read_text(encoding="utf-8") == options_markdown()


def test_every_command_option_is_described_by_the_table():
    parser = build_parser()
    seen = []
    for _command, action in parser_actions(parser):
        seen.append(action.option_key)
        assert action.help.startswith(describe(action.option_key).replace("%", "%%")), action
    undescribed = [
        (name, a.dest)
        for sub in parser._subparsers._group_actions
        for name, p in sub.choices.items()
        for a in p._actions
        if a.help and a.dest != "help" and not getattr(a, "option_key", None)
    ]
    assert not undescribed, undescribed
    assert len(set(seen)) > 40


def _defaults(command: str) -> dict:
    sub = build_parser()._subparsers._group_actions[0].choices[command]
    return {a.dest: a.default for a in sub._actions}


def _shown(command: str) -> dict:
    sub = build_parser()._subparsers._group_actions[0].choices[command]
    return {a.dest: getattr(a, "shown_default", None) for a in sub._actions}


def test_command_defaults_come_from_the_dataclasses():
    train = _defaults("train")
    c = TrainConfig()
    for dest, field in [
        ("steps", "steps"), ("batch_size", "batch_size"), ("crop_size", "crop_size"),
        ("val_every", "val_every"), ("optimizer", "optimizer"), ("schedule", "schedule"),
        ("device", "device"), ("precision", "precision"), ("workers", "workers"),
        ("seed", "seed"), ("dice", "dice_weight"),
    ]:  # fmt: skip
        if train[dest] is None:  # kept from the run with --resume: the default is in the help
            shown = _shown("train")[dest]
            assert shown.startswith(f"{getattr(c, field)}; with --resume"), dest
        else:
            assert train[dest] == getattr(c, field), dest
    # --arch: None unless given (--init/--resume keep the model's), the preset from scratch
    assert train["arch"] is None and _shown("train")["arch"].startswith(f"{DEFAULT_PRESET};")
    assert c.model == TrainConfig(model=DEFAULT_PRESET).model
    weights = _defaults("weights")
    for name in ("w0", "sigma", "gap", "class_weights", "mode"):
        assert weights[name] == getattr(WeightMapSettings, name), name
    # Post-processing not given on the command line follows the model file, then Postprocess.
    predict = _defaults("predict")
    assert predict["threshold"] is None and predict["min_size"] is None
    assert Postprocess.for_model(None) == Postprocess()


def test_dock_defaults_come_from_the_same_place(make_napari_viewer):
    from napari_unet.widgets.predict import PredictWidget
    from napari_unet.widgets.train import TrainWidget
    from napari_unet.widgets.weightmap import WeightMapWidget

    viewer = make_napari_viewer()
    train = TrainWidget(viewer)
    c = TrainConfig()
    assert (train._steps.value, train._batch.value, train._crop.value) == (
        c.steps, c.batch_size, c.crop_size,
    )  # fmt: skip
    assert train._val_every.value == c.val_every
    assert c.lr is None and train._form.config().lr is None  # auto: the trainer chooses
    assert train._preset.value == DEFAULT_PRESET
    weights = WeightMapWidget(viewer)
    d = WeightMapSettings()
    assert (weights._w0.value, weights._sigma.value, weights._gap.value) == (d.w0, d.sigma, d.gap)
    predict = PredictWidget(viewer)
    predict._source.value = "model file / trained model"  # no model: the plain defaults
    predict._form.show_postprocess(None)
    p = Postprocess()
    assert predict._threshold.value == pytest.approx(p.threshold)
    assert predict._min_size.value == p.min_size and predict._split.value == p.split


def test_unknown_option_names_fail_loudly():
    with pytest.raises(KeyError, match="no description"):
        describe("no-such-option")
    assert {"Prediction", "Training", "Weight maps"} <= set(OPTIONS)
