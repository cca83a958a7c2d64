"""Planes a layer names z or t are no model's channels in the Train and Live docks either.

Before, the Train dock trained a model of an OME-Zarr z-stack's planes as channels (with a
Note only), which ``napari-unet train`` refuses for such a file, and the Live dock gave a
3-channel model the planes as channels, which the Predict dock refuses; a misspelt keyword
to ``separate_touching`` was a TypeError.
"""

from __future__ import annotations

import numpy as np
import pytest

from napari_unet.core.errors import InputError


def _zstack(viewer):
    image = viewer.add_image(np.random.default_rng(0).random((3, 32, 32)), name="zs")
    image.axis_labels = ("z", "y", "x")  # as napari-unet's reader names an OME-Zarr stack
    labels = viewer.add_labels(np.zeros((32, 32), np.uint32), name="zs annotations")
    labels.data[4:12, 4:12] = 1
    return image, labels


def test_the_train_dock_refuses_z_planes_with_2d_labels(make_napari_viewer):
    from napari_unet.widgets._train_helpers import snapshot

    viewer = make_napari_viewer()
    image, labels = _zstack(viewer)
    with pytest.raises(InputError, match="names its first axis z: 3 z-planes"):
        snapshot([(image, labels, None)], "none", None)
    image.axis_labels = ("-3", "-2", "-1")  # unnamed: read as channels, as before
    assert snapshot([(image, labels, None)], "none", None)["images"][0].shape == (3, 32, 32)


def test_the_live_dock_refuses_z_planes_for_a_model_of_several_channels(make_napari_viewer):
    from napari_unet.widgets._live_inputs import image_planes

    viewer = make_napari_viewer()
    image, _ = _zstack(viewer)
    with pytest.raises(InputError, match="'zs': the layer names its first axis z"):
        image_planes(image, in_channels=3)
    assert image_planes(image, in_channels=1)[1] == 3  # one channel: three planes


def test_separate_touching_names_a_misspelt_keyword():
    from napari_unet import separate_touching

    with pytest.raises(InputError, match=r"gapp \(did you mean gap\?\)"):
        separate_touching(np.zeros((8, 8), np.int32), gapp=2)
