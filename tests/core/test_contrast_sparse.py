"""``auto`` on fields with only a few objects: the 1-99.8 range is noise there.

A fluorescence image with three nuclei in 1024 x 1024 (under 0.2% of the pixels) read as a
bright background: ``auto`` chose nuclei-brightfield and found nothing, and naming nuclei
warned that the image showed dark objects on a bright background.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from napari_unet.core.models.pretrained import choose_pretrained


def _field(size: int, centres, background: float, amplitude: float, seed: int = 0):
    """Round objects about 18 px across on a shot-noise background with a camera offset."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    clean = np.full((size, size), background)
    for cy, cx in centres:
        edge = np.clip((np.hypot(yy - cy, xx - cx) - 9) / 1.2, -50, 50)
        clean += amplitude / (1 + np.exp(edge))
    return (rng.poisson(clean) + 400).astype(np.uint16)


@pytest.mark.parametrize(
    ("size", "centres"),
    [
        (1024, [(200, 300), (600, 700), (850, 150)]),
        (512, [(300, 200)]),
        (2048, [(900, 1200), (300, 400), (1500, 700), (1800, 1800)]),  # sampled every 2nd px
    ],
)
def test_a_few_bright_nuclei_on_a_dark_noisy_field_choose_nuclei(size, centres):
    assert choose_pretrained(_field(size, centres, 100.0, 300.0)) == "nuclei"


def test_a_few_dark_nuclei_on_a_bright_noisy_field_choose_brightfield():
    image = _field(1024, [(200, 300), (600, 700), (850, 150)], 400.0, -250.0)
    assert choose_pretrained(image) == "nuclei-brightfield"


def test_hot_pixels_do_not_make_a_brightfield_image_read_as_fluorescence():
    rng = np.random.default_rng(1)
    yy, xx = np.mgrid[:512, :512]
    image = rng.normal(2000, 30, (512, 512))
    for cy, cx in rng.integers(20, 492, (40, 2)):
        image[np.hypot(yy - cy, xx - cx) < 9] = 1000
    image[rng.random((512, 512)) < 0.0005] = 4095  # a camera's hot pixels
    assert choose_pretrained(image.astype(np.uint16)) == "nuclei-brightfield"


def test_naming_nuclei_on_a_sparse_field_finds_them_without_a_contrast_warning():
    from napari_unet import pretrained, segment

    image = _field(512, [(300, 200)], 100.0, 300.0)
    model, metadata = pretrained("nuclei")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        labels = segment(model, image, metadata=metadata)
    assert labels.max() == 1
    assert not [w for w in caught if "bright background" in str(w.message)]
