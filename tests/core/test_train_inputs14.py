"""Training inputs refused up front, in words: mixed channels, a stop flag that is none.

Before, pairs of separate make_pairs calls, grey and colour, trained some steps and then
died with "UNet expects a float tensor (N, 1, H, W); got (1,3,64,64)"; colour validation
pairs of a grey run were scored anyway; ``stop=5`` failed at the first step with "'int'
object is not callable"; make_pairs of generators said "has no len()".
"""

from __future__ import annotations

import numpy as np
import pytest

import napari_unet as nu

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def grey_and_colour():
    image, truth = nu.nuclei_data()
    im, tr = image[:64, :64], truth[:64, :64]
    grey = nu.make_pairs([im], [tr])
    colour = nu.make_pairs([np.stack([im, im // 2, im // 3], -1)], [tr], names=["colour"])
    colour_val = nu.make_pairs(
        [np.stack([im, im // 2, im // 3], -1)], [tr], names=["colour"], validation=True
    )
    return grey, colour, colour_val


CONFIG = {"steps": 2, "batch_size": 1, "crop_size": 32, "device": "cpu", "model": "tiny"}


def _steps_then(pairs, **kwargs):
    """The steps trained before ``train`` raised InputError, and its message."""
    steps = []
    with pytest.raises(nu.InputError) as caught:
        nu.train(pairs, nu.TrainConfig(**CONFIG), progress=steps.append, **kwargs)
    return [e for e in steps if isinstance(e, nu.TrainStep)], str(caught.value)


def test_pairs_of_other_channel_counts_are_refused_before_a_step(grey_and_colour):
    grey, colour, _ = grey_and_colour
    steps, message = _steps_then(grey + colour)
    assert not steps
    assert "pairs[1] ('colour') has 3 channel(s) but pairs[0]" in message
    assert "has 1" in message


def test_validation_pairs_of_other_channels_are_refused(grey_and_colour):
    grey, _, colour_val = grey_and_colour
    steps, message = _steps_then(grey, val=colour_val)
    assert not steps
    assert "val[0] ('colour') has 3 channel(s)" in message


@pytest.mark.parametrize("stop", [5, "yes", 0.5])
def test_a_stop_that_is_neither_an_event_nor_a_function_is_refused(grey_and_colour, stop):
    grey, _, _ = grey_and_colour
    steps, message = _steps_then(grey, stop=stop)
    assert not steps
    assert "stop: expected a threading.Event or a function" in message


def test_make_pairs_counts_say_to_list_a_generator():
    from napari_unet.core.training.pairinputs import check_counts

    images = (np.zeros((8, 8)) for _ in range(1))
    with pytest.raises(nu.InputError, match=r"images is a generator; expected a list.*list\("):
        check_counts(images, [np.zeros((8, 8))], None, None)


def test_listed_lists_iterables_without_a_length_only():
    from napari_unet.core.training.pairinputs import listed

    plain, array = [1], np.zeros(3)
    made = listed((x for x in [1, 2]), map(int, "34"), plain, (1,), array, None)
    assert made[:2] == ([1, 2], [3, 4])
    assert made[2] is plain and made[3] == (1,) and made[4] is array and made[5] is None


def test_a_gap_no_model_file_may_record_is_refused_before_a_step(grey_and_colour):
    grey, _, _ = grey_and_colour
    steps = []
    with pytest.raises(nu.InputError, match="gap must be at most 100 px"):
        nu.train(grey, nu.TrainConfig(**CONFIG, gap=200), progress=steps.append)
    assert not [e for e in steps if isinstance(e, nu.TrainStep)]


def test_make_pairs_takes_generators_as_lists():
    image, truth = nu.nuclei_data()
    pairs = nu.make_pairs((im for im in [image]), (lb for lb in [truth]), names=iter(["one"]))
    assert [p.name for p in pairs] == ["one"]  # before: "object of type 'generator' has no len()"
