"""Which layers belong to which image: by name, never by a shared prefix (img1 vs img10)."""

from __future__ import annotations

import numpy as np

from napari_unet.widgets._layers import layers_of
from napari_unet.widgets._live_parts import other_annotations, own_labels


def _viewer(make_napari_viewer):
    viewer = make_napari_viewer()
    rng = np.random.default_rng(0)
    for name in ("current", "img1", "img10", "img", "img_1"):
        viewer.add_image(rng.random((32, 32)).astype(np.float32), name=name)
    cells = np.zeros((32, 32), np.int32)
    cells[4:12, 4:12] = 1
    for name in ("current annotations", "img10 annotations", "img_1 annotations", "img_labels"):
        viewer.add_labels(cells.copy(), name=name)
    return viewer


def test_labels_belong_to_the_image_they_are_named_after(make_napari_viewer):
    viewer = _viewer(make_napari_viewer)
    names = lambda image: [ly.name for ly in layers_of(viewer, viewer.layers[image])]  # noqa: E731
    assert names("img1") == []  # not img10's annotations
    assert names("img10") == ["img10 annotations"]
    assert names("img") == ["img_labels"]  # not img_1's, which has an image of its own
    assert names("img_1") == ["img_1 annotations"]
    assert own_labels(viewer, viewer.layers["img1"]) is None


def test_live_trains_only_on_images_with_their_own_annotations(make_napari_viewer):
    viewer = _viewer(make_napari_viewer)
    current = viewer.layers["current"]
    _, names = other_annotations(viewer, current, viewer.layers["current annotations"], 1)
    assert sorted(names) == ["img", "img10", "img_1"]  # img1 has none; before it got img10's
