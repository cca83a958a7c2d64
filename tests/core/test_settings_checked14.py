"""Bad settings and inputs refused in words where they are given, not later in a thread.

Before, a ``LiveConfig`` took any value: a ``batch_size`` of 0 or 2.5, a ``crop_size`` of
0 killed the live trainer's thread (the error only in ``.error``), an ``lr`` of -1 or NaN
failed in torch, a ``seed`` of -1 in numpy. ``probabilities_to_labels`` took NaN
probabilities silently (a NaN column cut a cell in two; all NaN gave no object), and
``drain([...])`` said "'list' object is not an iterator".
"""

from __future__ import annotations

import numpy as np
import pytest

import napari_unet as nu


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        ({"batch_size": 0}, "batch_size must be a positive integer, got 0"),
        ({"batch_size": 2.5}, "batch_size must be a positive integer, got 2.5"),
        ({"crop_size": 0}, "crop_size must be a positive integer"),
        ({"refresh_steps": 0}, "refresh_steps must be a positive integer"),
        ({"lr": -1.0}, r"learning rate must be a number in \(0, 10\)"),
        ({"lr": float("nan")}, "learning rate must be a number"),
        ({"seed": -1}, "seed must be an integer >= 0"),
        ({"ema": 1.5}, r"ema must be a number in \[0, 1\)"),
        ({"recent_share": 2.0}, r"recent_share must be a number in \[0, 1\]"),
        ({"recent_s": -1.0}, "recent_s must be a number"),
    ],
    ids=["batch_0", "batch_2.5", "crop_0", "refresh_0", "lr_negative", "lr_nan", "seed_negative",
         "ema_1.5", "share_2", "recent_negative"],  # fmt: skip
)
def test_live_config_refuses_a_bad_setting_when_made(setting, words):
    with pytest.raises(nu.InputError, match=words):
        nu.LiveConfig(**setting)


def test_live_config_keeps_good_settings_as_given():
    config = nu.LiveConfig(batch_size=np.int64(2), lr=np.float32(0.5), ema=0.0, seed=3)
    assert (config.batch_size, config.ema, config.seed) == (2, 0.0, 3)
    assert type(config.batch_size) is int and config.lr == 0.5
    assert nu.LiveConfig() == nu.LiveConfig(lr=1e-3, batch_size=4, crop_size=128)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_probabilities_to_labels_refuses_non_finite_probabilities(bad):
    fg = np.zeros((40, 40), np.float32)
    fg[5:25, 5:25] = 0.9
    assert nu.probabilities_to_labels(fg).max() == 1
    fg[5:25, 15] = bad  # one column through the cell (a failed tile)
    with pytest.raises(nu.InputError, match="20 NaN or infinite value"):
        nu.probabilities_to_labels(fg)


def test_drain_runs_any_iterable_and_refuses_what_is_none():
    events = []
    assert nu.drain([1, 2, 3], events.append) is None
    assert events == [1, 2, 3]
    with pytest.raises(nu.InputError, match="drain: expected a progress generator"):
        nu.drain(5)


@pytest.mark.parametrize("field", ["lr", "recent_s", "ema"])
def test_a_number_beyond_the_float_range_is_an_input_error(field):
    with pytest.raises(nu.InputError, match=field.replace("lr", "learning rate")):
        nu.LiveConfig(**{field: 10**400})  # before: OverflowError
    if field == "lr":
        with pytest.raises(nu.InputError, match="learning rate"):
            nu.TrainConfig(lr=10**400)
