"""A 4D (planes x channels x Y x X) layer in the Predict dock: refused with advice that works."""

import pytest

from napari_unet.core.annotation.axes import prediction_plan
from napari_unet.core.errors import InputError


@pytest.mark.parametrize("in_channels", [1, 2])
def test_a_4d_layer_is_refused_with_a_way_that_works_for_the_model(in_channels):
    # Before: "open the image with a channel axis (one layer per channel)" only, which a
    # model of two channels cannot use (the Train dock trains on such a layer).
    with pytest.raises(InputError) as err:
        prediction_plan((5, 2, 64, 64), False, in_channels)
    text = str(err.value)
    assert "one layer per channel" in text and "channel_axis=1" in text
    assert "napari-unet predict" in text  # the command reads (Z, C, Y, X) files


def test_rgb_stacks_are_still_predicted():
    plan, axis = prediction_plan((3, 64, 64, 3), True, 1)
    assert plan.labels_shape == (3, 64, 64) and axis == -1
