"""Entering the model's own object size, as the dock shows it, predicts at the image's scale.

17.6 for the built-in model's 17.57 px rescaled by 0.998: a 347 px wide image went to 346 px
and back, and its labels changed. A size within SAME_SIZE (1%) of the model's is its own.
"""

import numpy as np
import pytest

import napari_unet as nu
from napari_unet.core.inference.scale import given_object_size


@pytest.mark.parametrize("given, model", [(17.6, 17.57), (18.2, 18.19), (17.57, 17.57)])
def test_the_model_size_as_shown_is_not_rescaled(given, model):
    size = given_object_size(given, model)
    assert size.factor == 1.0 and not size.rescaled
    assert "not rescaled" in size.describe()


def test_beyond_the_tolerance_it_rescales():
    from napari_unet.core.inference.scale import SAME_SIZE

    assert SAME_SIZE == pytest.approx(0.01)
    size = given_object_size(17.6, 18.19)  # the fluorescence model's size, brightfield model
    assert size.rescaled and size.factor == pytest.approx(18.19 / 17.6)
    assert given_object_size(17.0, 17.57).rescaled


def test_segment_with_the_shown_size_equals_the_own_scale():
    image, _ = nu.nuclei_data()
    model, meta = nu.pretrained("nuclei")
    shown = float(f"{meta['object_size']:.3g}")  # "the model learnt objects of about 17.6 px"
    events = []
    own = nu.segment(model, image, metadata=meta, object_size=None)
    given = nu.segment(model, image, metadata=meta, object_size=shown, progress=events.append)
    sizes = [e for e in events if isinstance(e, nu.ObjectSize)]
    assert sizes and not sizes[-1].rescaled
    np.testing.assert_array_equal(given, own)
