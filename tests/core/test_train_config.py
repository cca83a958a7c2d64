"""Training settings and the learning-rate schedule: napari_unet.core.training.config."""

import json
import math

import numpy as np
import pytest

from napari_unet import InputError, TrainConfig
from napari_unet.core.images.normalize import DEFAULT as DEFAULT_NORMALIZATION
from napari_unet.core.training.augment import NO_AUGMENT, AugmentConfig
from napari_unet.core.training.config import (
    DEFAULT_LR,
    DEFAULT_PRESET,
    HOLDOUT_FRACTION,
    PRESETS,
    learning_rate,
)


def test_defaults():
    cfg = TrainConfig()
    assert cfg.model == PRESETS[DEFAULT_PRESET]
    assert cfg.model is not PRESETS[DEFAULT_PRESET]
    assert cfg.optimizer == "adam" and cfg.lr is None and cfg.base_lr == DEFAULT_LR["adam"] == 1e-3
    assert cfg.augment == AugmentConfig().to_dict()
    assert cfg.normalization == DEFAULT_NORMALIZATION
    assert 0 < HOLDOUT_FRACTION < 1
    assert TrainConfig(val_fraction=HOLDOUT_FRACTION).val_fraction == HOLDOUT_FRACTION


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_a_preset_name_expands_to_a_copy_of_the_preset(name):
    before = json.dumps(PRESETS, sort_keys=True)
    cfg = TrainConfig(model=name)
    assert cfg.model == PRESETS[name]
    assert "in_channels" not in cfg.model  # the data decides
    cfg.model["base_channels"] = 999
    cfg.model["extra"] = True
    assert json.dumps(PRESETS, sort_keys=True) == before
    assert TrainConfig(model=name).model == PRESETS[name]


def test_mutating_a_default_config_does_not_leak_into_the_next():
    a = TrainConfig()
    a.model["depth"] = 1
    a.augment["gain"] = 0.9
    a.normalization["low"] = 50
    b = TrainConfig()
    assert b.model == PRESETS[DEFAULT_PRESET]
    assert b.augment == AugmentConfig().to_dict()
    assert b.normalization == DEFAULT_NORMALIZATION


def test_numpy_numbers_are_accepted_as_plain_ones():
    cfg = TrainConfig(steps=np.int64(7), lr=np.float32(0.5), fg_bias=np.float64(1.0))
    assert cfg.steps == 7 and type(cfg.steps) is int
    assert cfg.lr == 0.5 and type(cfg.lr) is float
    assert json.loads(json.dumps(cfg.to_dict()))["steps"] == 7


def test_an_explicit_model_config_is_kept():
    model = {"arch": "unetpp", "base_channels": 4, "depth": 3}
    assert TrainConfig(model=model).model == model


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_lr_defaults_per_optimizer_and_an_explicit_lr_wins(optimizer):
    assert TrainConfig(optimizer=optimizer).base_lr == DEFAULT_LR[optimizer]
    assert TrainConfig(optimizer=optimizer, lr=None).base_lr == DEFAULT_LR[optimizer]
    assert TrainConfig(optimizer=optimizer, lr=0.05).base_lr == 0.05
    # The default follows the optimiser, also when a config is copied with another one.
    from dataclasses import replace

    other = "sgd" if optimizer == "adam" else "adam"
    assert replace(TrainConfig(optimizer=optimizer), optimizer=other).base_lr == DEFAULT_LR[other]
    assert DEFAULT_LR == {"adam": 1e-3, "sgd": 1e-2}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"steps": 0}, r"steps must be a positive integer, got 0"),
        ({"steps": -3}, r"steps must be a positive integer"),
        ({"steps": True}, r"steps must be a positive integer, got True"),
        ({"steps": 10.0}, r"steps must be a positive integer, got 10\.0"),
        ({"steps": "100"}, r"steps must be a positive integer"),
        ({"batch_size": -1}, r"batch_size must be a positive integer, got -1"),
        ({"batch_size": 0}, r"batch_size must be"),
        ({"crop_size": 0}, r"crop_size must be a positive integer"),
        ({"val_every": 0}, r"val_every must be a positive integer"),
        ({"workers": -1}, r"workers must be an integer >= 0 \(0: automatic\), got -1"),
        ({"workers": False}, r"workers must be an integer >= 0"),
        ({"optimizer": "rmsprop"}, r"optimizer must be one of \('adam', 'sgd'\), got 'rmsprop'"),
        ({"optimizer": "Adam"}, r"optimizer must be one of"),
        ({"schedule": "step"}, r"schedule must be one of .*'cosine'.*, got 'step'"),
        ({"model": "huge"}, r"unknown architecture preset 'huge'; known: tiny, small"),
        ({"lr": 0}, r"learning rate must be a number in \(0, 10\), got 0"),
        ({"lr": 0.0}, r"learning rate must be"),
        ({"lr": -1e-3}, r"learning rate must be"),
        ({"lr": 20}, r"learning rate must be a number in \(0, 10\), got 20"),
        ({"lr": 10}, r"learning rate must be"),
        ({"lr": "1e-3"}, r"learning rate must be a number"),
        ({"lr": float("nan")}, r"learning rate must be"),
        ({"val_fraction": 1.0}, r"val_fraction must be a number in \[0, 1\), got 1\.0"),
        ({"val_fraction": -0.1}, r"val_fraction must be a number in \[0, 1\)"),
        ({"lr": True}, r"learning rate must be a number"),
        ({"warmup_steps": -1}, r"warmup_steps must be an integer >= 0, got -1"),
        ({"fg_bias": 1.5}, r"fg_bias must be a number in \[0, 1\]"),
        ({"momentum": 1.0}, r"momentum must be a number in \[0, 1\)"),
        ({"weight_decay": -1e-4}, r"weight_decay must be a number"),
        ({"dice_weight": float("inf")}, r"dice_weight must be a number"),
        ({"sigma": 0}, r"sigma must be a number"),
        ({"prefetch": -1}, r"prefetch must be an integer >= 0"),
        ({"event_interval": -1}, r"event_interval must be a number"),
        ({"precision": "fp8"}, r"precision must be one of \('auto', 'fp32'"),
        ({"augment": {"wobble": 1}}, r"unknown augmentation setting\(s\) wobble"),
        ({"augment": {"gain": 1.5}}, r"augmentation gain must be below 1"),
        ({"augment": {"noise": -0.1}}, r"augmentation setting noise must be a number >= 0"),
        ({"augment": {"elastic_grid": 1}}, r"elastic_grid must be an integer >= 2"),
    ],
    ids=lambda v: repr(v) if isinstance(v, dict) else None,
)
def test_bad_settings_are_refused_naming_the_field(kwargs, match):
    with pytest.raises(InputError, match=match):
        TrainConfig(**kwargs)


def test_good_edge_values_are_accepted():
    cfg = TrainConfig(steps=1, batch_size=1, workers=0, val_fraction=0.0, lr=9.99)
    assert (cfg.steps, cfg.batch_size, cfg.workers, cfg.lr) == (1, 1, 0, 9.99)
    assert TrainConfig(workers=3, val_fraction=0.999).workers == 3
    assert TrainConfig(augment=NO_AUGMENT.to_dict()).augment == NO_AUGMENT.to_dict()
    assert TrainConfig(augment={"gain": 0.0}).augment == {"gain": 0.0}


@pytest.mark.parametrize(
    "cfg",
    [
        TrainConfig(),
        TrainConfig(model="paper", optimizer="sgd", schedule="poly", steps=50, lr=0.02),
        TrainConfig(
            model={"arch": "unet3p", "base_channels": 4, "depth": 3},
            augment=NO_AUGMENT.to_dict(),
            normalization={"method": "minmax"},
            val_fraction=0.25,
            dice_weight=0.5,
            seed=11,
            device="cpu",
            workers=2,
        ),
    ],
    ids=["default", "paper-sgd", "custom"],
)
def test_to_dict_round_trips_and_is_json(cfg):
    d = cfg.to_dict()
    assert isinstance(d, dict)
    assert TrainConfig.from_dict(d) == cfg
    text = json.dumps(d)
    assert TrainConfig.from_dict(json.loads(text)) == cfg
    # a copy: changing the dict leaves the config alone
    d["model"]["depth"] = 99
    d["augment"]["gain"] = 0.5
    assert cfg.to_dict() != d
    assert cfg.model.get("depth") != 99


def test_to_dict_stores_the_lr_as_given_and_the_resolved_model():
    cfg = TrainConfig(model="tiny", optimizer="sgd")
    d = cfg.to_dict()
    assert d["lr"] is None and TrainConfig.from_dict(d).base_lr == DEFAULT_LR["sgd"]
    assert d["model"] == PRESETS["tiny"]


def test_from_dict_refuses_unknown_keys():
    d = TrainConfig().to_dict()
    d["learning_rate"] = 0.1
    d["epochs"] = 3
    with pytest.raises(InputError, match="unknown training setting\\(s\\): epochs, learning_rate"):
        TrainConfig.from_dict(d)


def test_from_dict_fills_missing_keys_with_defaults():
    assert TrainConfig.from_dict({"steps": 7}) == TrainConfig(steps=7)
    with pytest.raises(InputError, match="steps"):
        TrainConfig.from_dict({"steps": 0})


def test_pair_options_are_the_make_pairs_settings():
    cfg = TrainConfig(w0=5.0, sigma=3.0, gap=1, normalization={"method": "zscore"})
    opts = cfg.pair_options()
    assert opts == {
        "normalization": {"method": "zscore"},
        "w0": 5.0,
        "sigma": 3.0,
        "gap": 1,
        "head": "paper",
    }
    opts["normalization"]["method"] = "minmax"
    assert cfg.normalization == {"method": "zscore"}


def lrs(cfg):
    return np.array([learning_rate(cfg, s) for s in range(1, cfg.steps + 1)])


@pytest.mark.parametrize("schedule", ["constant", "cosine", "poly"])
def test_linear_warm_up(schedule):
    cfg = TrainConfig(lr=0.1, steps=200, warmup_steps=20, schedule=schedule)
    assert learning_rate(cfg, 1) == pytest.approx(0.1 / 20)
    assert learning_rate(cfg, 10) == pytest.approx(0.1 / 2)
    assert learning_rate(cfg, 20) == pytest.approx(0.1)
    np.testing.assert_allclose(lrs(cfg)[:20], 0.1 * np.arange(1, 21) / 20)


def test_cosine_decays_monotonically_to_two_percent():
    cfg = TrainConfig(lr=0.01, steps=120, warmup_steps=20, schedule="cosine")
    values = lrs(cfg)
    after = values[19:]  # from the end of the warm-up
    assert after[0] == pytest.approx(0.01)
    assert (np.diff(after) <= 1e-12).all() and (np.diff(after) < 0).sum() == len(after) - 1
    assert values[-1] == pytest.approx(0.02 * 0.01)
    # the half-way point of the cosine
    assert learning_rate(cfg, 70) == pytest.approx(0.01 * (0.02 + 0.98 * 0.5))
    assert learning_rate(cfg, 500) == pytest.approx(0.02 * 0.01)  # past the end: stays


def test_poly_decays_to_the_floor():
    cfg = TrainConfig(lr=0.1, steps=100, warmup_steps=10, schedule="poly")
    after = lrs(cfg)[9:]
    assert after[0] == pytest.approx(0.1)
    assert (np.diff(after) <= 0).all()
    assert learning_rate(cfg, 55) == pytest.approx(0.1 * 0.5**0.9)
    assert after[-1] == pytest.approx(0.1 * 0.02)
    assert after.min() >= 0.1 * 0.02 - 1e-12


def test_constant_stays_at_lr_after_warm_up():
    cfg = TrainConfig(lr=0.003, steps=50, warmup_steps=5, schedule="constant")
    values = lrs(cfg)
    assert values[0] == pytest.approx(0.003 / 5)
    np.testing.assert_allclose(values[4:], 0.003)


@pytest.mark.parametrize("schedule", ["constant", "cosine", "poly"])
def test_no_warm_up_starts_at_full_lr(schedule):
    cfg = TrainConfig(lr=0.1, steps=1000, warmup_steps=0, schedule=schedule)
    assert learning_rate(cfg, 0) == pytest.approx(0.1)
    assert learning_rate(cfg, 1) == pytest.approx(0.1, rel=1e-3)
    final = 0.1 if schedule == "constant" else 0.002
    assert learning_rate(cfg, 1000) == pytest.approx(final)


def test_the_default_lr_is_the_schedule_base():
    cfg = TrainConfig(optimizer="sgd", warmup_steps=0, schedule="constant")
    assert learning_rate(cfg, 7) == pytest.approx(DEFAULT_LR["sgd"])
    assert math.isclose(learning_rate(TrainConfig(), TrainConfig().warmup_steps), 1e-3)
