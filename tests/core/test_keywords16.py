"""A misspelt keyword to TrainConfig, Postprocess or the weight-map functions is an InputError.

Before, each raised Python's TypeError ("__init__() got an unexpected keyword argument"),
which escaped ``except nu.InputError`` (docs/api.md: one except catches every user mistake).
The classes are otherwise unchanged: positional arguments, fields, equality, replace.
"""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest

from napari_unet.core.errors import InputError
from napari_unet.core.inference.postprocess import Postprocess
from napari_unet.core.training.config import TrainConfig
from napari_unet.core.training.weightmap import (
    iter_target_and_weights,
    target_and_weights,
    weight_map,
)

LABELS = np.zeros((16, 16), np.int32)
LABELS[2:7, 2:7] = 1
LABELS[7:12, 2:7] = 2


@pytest.mark.parametrize(
    ("call", "typo", "meant"),
    [
        (lambda: TrainConfig(stepz=1), "stepz", "steps"),
        (lambda: Postprocess(treshold=0.3), "treshold", "threshold"),
        (lambda: Postprocess(0.3, min_sise=4), "min_sise", "min_size"),
        (lambda: weight_map(LABELS, sigmaa=3), "sigmaa", "sigma"),
        (lambda: target_and_weights(LABELS, w_0=3), "w_0", "w0"),
        (lambda: next(iter_target_and_weights(LABELS, gapp=1)), "gapp", "gap"),  # at start
        (lambda: dataclasses.replace(Postprocess(), treshold=0.2), "treshold", "threshold"),
        (lambda: dataclasses.replace(TrainConfig(), stepz=2), "stepz", "steps"),
    ],
)
def test_a_misspelt_keyword_is_an_input_error_naming_the_closest(call, typo, meant):
    with pytest.raises(InputError, match=rf"{typo} \(did you mean {meant}\?\)"):
        call()


def test_the_classes_behave_as_before():
    post = Postprocess(0.3, 5)
    assert post == Postprocess(threshold=0.3, min_size=5)
    assert repr(post).startswith("Postprocess(threshold=0.3, min_size=5, gap=2")
    assert dataclasses.replace(post, gap=1).gap == 1
    assert [f.name for f in dataclasses.fields(Postprocess)][:2] == ["threshold", "min_size"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        post.threshold = 0.4
    config = TrainConfig(steps=3)
    assert pickle.loads(pickle.dumps(config)) == config
    assert TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(InputError):  # checks of values unchanged
        TrainConfig(steps=-1)


def test_the_weight_map_functions_behave_as_before():
    weights = weight_map(LABELS, w0=5, sigma=2)
    target, same = target_and_weights(LABELS, w0=5, sigma=2)
    assert weights.dtype == np.float32 and np.array_equal(weights, same)
    assert weights.max() > weights.min()


def test_a_checked_generator_function_is_still_one():
    """napari's create_worker tells a generator function by inspect (before: a plain one)."""
    import inspect

    import napari_unet as nu
    from napari_unet.core.errors import InputError

    assert inspect.isgeneratorfunction(nu.iter_target_and_weights)
    with pytest.raises(InputError, match="sigma"):
        next(nu.iter_target_and_weights(np.zeros((8, 8), np.int32), sigmaa=3))
