import numpy as np
import pytest

from napari_unet import InputError
from napari_unet.core.training import augment as aug


def _blocks(shape=(96, 96)):
    """A known pattern: labelled squares of different sizes; image = label-dependent value."""
    labels = np.zeros(shape, np.int32)
    k = 0
    for y in range(4, shape[0] - 16, 22):
        for x in range(4, shape[1] - 16, 22):
            k += 1
            s = 8 + (k % 4) * 2
            labels[y : y + s, x : x + s] = k
    image = (labels > 0).astype(np.float32)[None]
    return image, labels


@pytest.mark.parametrize("seed", range(4))
def test_augmentation_keeps_image_and_labels_aligned(seed):
    image, labels = _blocks()
    cfg = aug.AugmentConfig(gain=0, offset=0, gamma=0, noise=0)  # geometry only
    rng = np.random.default_rng(seed)
    grid = aug.sampling_grid((10.0, 7.0), 64, cfg, rng)
    img = aug.resample(aug.prefilter(image), grid, order=3, prefiltered=True)[0]
    lab = aug.resample(labels, grid, order=0)
    assert lab.dtype == labels.dtype
    # labels are never interpolated: only existing ids appear
    assert set(np.unique(lab)) <= set(np.unique(labels))
    # the image, thresholded, agrees with the resampled labels away from edges
    agree = (img > 0.5) == (lab > 0)
    assert agree.mean() > 0.97
    # and the deformation is real: the grid moved off whole pixels
    assert np.abs(grid - np.round(grid)).max() > 0.1


def test_rotations_and_flips_are_exact_permutations_without_elastic():
    image, labels = _blocks((64, 64))
    cfg = aug.AugmentConfig(elastic=False, gain=0, offset=0, gamma=0, noise=0)
    seen = set()
    for seed in range(30):
        grid = aug.sampling_grid((0.0, 0.0), 64, cfg, np.random.default_rng(seed))
        assert np.array_equal(grid, np.round(grid))
        lab = aug.resample(labels, grid, order=0)
        img = aug.resample(aug.prefilter(image), grid, order=3, prefiltered=True)[0]
        np.testing.assert_allclose(img, (lab > 0).astype(np.float32), atol=1e-4)
        variants = [np.rot90(labels, k) for k in range(4)]
        variants += [np.fliplr(v) for v in variants]
        match = [i for i, v in enumerate(variants) if np.array_equal(v, lab)]
        assert match, "crop is not one of the 8 symmetries of the source"
        seen.add(match[0])
    assert len(seen) >= 6


def test_small_images_are_mirror_extended():
    labels = np.zeros((20, 20), np.int32)
    labels[5:10, 5:10] = 3
    grid = aug.sampling_grid((-10.0, -10.0), 40, aug.NO_AUGMENT, np.random.default_rng(0))
    lab = aug.resample(labels, grid, order=0)
    assert lab.shape == (40, 40)
    assert (lab == 3).sum() > 25  # the cell appears more than once (mirrored copies)


def test_elastic_displacement_has_the_requested_scale():
    rng = np.random.default_rng(1)
    fields = np.stack([aug.elastic_field(64, 10.0, 3, rng) for _ in range(200)])
    corner_std = fields[:, :, 0, 0].std()
    assert 8 < corner_std < 12  # grid points keep N(0, 10 px)
    # smooth: neighbouring pixels move almost together
    assert np.abs(np.diff(fields, axis=-1)).max() < 5


def test_intensity_augmentation_changes_values_not_shape():
    img = np.linspace(0, 1, 2 * 32 * 32, dtype=np.float32).reshape(2, 32, 32)
    out = aug.augment_intensity(img, aug.AugmentConfig(), np.random.default_rng(0))
    assert out.shape == img.shape and out.dtype == np.float32
    assert not np.allclose(out, img)
    same = aug.augment_intensity(img, aug.NO_AUGMENT, np.random.default_rng(0))
    np.testing.assert_array_equal(same, img)


def test_bad_augmentation_settings():
    with pytest.raises(InputError, match="gain"):
        aug.AugmentConfig(gain=1.5)
    with pytest.raises(InputError, match="unknown augmentation"):
        aug.AugmentConfig.from_dict({"elastc": True})
    cfg = aug.AugmentConfig(elastic_std=4.0)
    assert aug.AugmentConfig.from_dict(cfg.to_dict()) == cfg


def test_elastic_field_equals_a_2d_cubic_spline_of_the_coarse_grid():
    from scipy import ndimage

    field = aug.elastic_field(50, 10.0, 3, np.random.default_rng(5))
    coarse = np.random.default_rng(5).normal(0.0, 10.0, size=(2, 3, 3))
    t = np.linspace(0, 2, 50)
    rr, cc = np.meshgrid(t, t, indexing="ij")
    for k in range(2):
        ref = ndimage.map_coordinates(coarse[k], [rr, cc], order=3, mode="nearest")
        np.testing.assert_allclose(field[k], ref, atol=1e-9)


def test_zoom_scales_objects_within_the_range_about_the_crop_centre():
    labels = np.zeros((200, 200), np.int32)
    labels[90:110, 90:110] = 1  # a 20 x 20 cell at the centre of a 200 px crop
    cfg = aug.AugmentConfig(elastic=False, flips=False, rot90=False, scale=0.5)
    areas = []
    for seed in range(40):
        grid = aug.sampling_grid((0.0, 0.0), 200, cfg, np.random.default_rng(seed))
        # the crop centre stays on the source centre whatever the zoom
        np.testing.assert_allclose(grid[:, 99:101, 99:101].mean(axis=(1, 2)), [99.5, 99.5])
        areas.append((aug.resample(labels, grid, order=0) == 1).sum() / 400)
    areas = np.array(areas)
    # area ratio f**2 with f in [1/1.5, 1.5]: [0.44, 2.25] (a pixel of rounding at the rim)
    assert areas.min() > 0.44 * 0.85 and areas.max() < 2.25 * 1.15
    assert areas.min() < 0.7 and areas.max() > 1.5  # both ways, not only one
    assert (areas < 1).sum() > 8 and (areas > 1).sum() > 8


def test_zoom_off_keeps_the_random_sequence_of_older_settings():
    """scale=0 draws nothing, so models trained before the option reproduce exactly."""
    a = aug.sampling_grid((3.0, 4.0), 32, aug.AugmentConfig(), np.random.default_rng(7))
    b = aug.sampling_grid((3.0, 4.0), 32, aug.AugmentConfig(scale=0.0), np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(InputError, match="scale"):
        aug.AugmentConfig(scale=-0.1)


#: Only the settings that imitate a worse microscope.
PLAIN = dict(elastic=False, flips=False, rot90=False, gain=0.0, offset=0.0, gamma=0.0, noise=0.0)


def test_degrading_settings_are_off_by_default_and_keep_the_random_sequence():
    # Models trained before these settings existed keep their crops for the same seed.
    cfg = aug.AugmentConfig()
    assert (cfg.shot, cfg.blur, cfg.shading) == (0.0, 0.0, 0.0)
    a, b = np.random.default_rng(4), np.random.default_rng(4)
    aug.draw_intensity(cfg, a)
    b.uniform(size=4)  # gamma, gain, offset, noise: the draws before
    assert a.random() == b.random()
    assert aug.draw_intensity(aug.NO_AUGMENT, a) == aug.NEUTRAL


def test_blur_is_a_gaussian_of_the_drawn_sigma():
    from scipy import ndimage

    img = np.random.default_rng(0).random((1, 48, 48)).astype(np.float32)
    cfg = aug.AugmentConfig(**PLAIN, blur=2.0)
    sigmas = [aug.draw_intensity(cfg, np.random.default_rng(s))[5] for s in range(50)]
    assert 0 < min(sigmas) and max(sigmas) < 2 and max(sigmas) > 1.8  # U(0, 2)
    seed = next(s for s, sigma in enumerate(sigmas) if sigma > 1)
    sigma = sigmas[seed]
    out = aug.augment_intensity(img, cfg, np.random.default_rng(seed))
    np.testing.assert_allclose(out[0], ndimage.gaussian_filter(img[0], sigma, mode="mirror"))
    assert out.std() < 0.6 * img.std()  # detail is lost


def test_shading_adds_a_plane_of_bounded_rise():
    img = np.zeros((1, 40, 60), np.float32)
    cfg = aug.AugmentConfig(**PLAIN, shading=1.5)
    for seed in range(20):
        out = aug.augment_intensity(img, cfg, np.random.default_rng(seed))[0]
        rise = aug.draw_intensity(cfg, np.random.default_rng(seed))[6]
        assert abs(out.mean()) < 1e-5  # the crop's level stays
        assert np.ptp(out) <= 1.5 * np.sqrt(2) + 1e-5
        np.testing.assert_allclose(np.diff(out, 2, axis=1), 0, atol=1e-5)  # a plane
        np.testing.assert_allclose(np.diff(out, 2, axis=0), 0, atol=1e-5)
        assert np.ptp(out) >= rise * 0.5  # rises at least half its drawn amount


def test_shot_noise_grows_with_the_signal():
    img = np.zeros((1, 64, 128), np.float32)
    img[:, :, 64:] = 1.0
    cfg = aug.AugmentConfig(**PLAIN, shot=0.5)
    out = aug.augment_intensity(img, cfg, np.random.default_rng(1))
    s = aug.draw_intensity(cfg, np.random.default_rng(1))[4]
    np.testing.assert_array_equal(out[0, :, :64], 0)  # no signal, no shot noise
    assert abs((out[0, :, 64:] - 1).std() - s) < 0.1 * s


def test_negative_degrading_setting_is_refused():
    with pytest.raises(InputError, match="blur"):
        aug.AugmentConfig(blur=-1)
    with pytest.raises(InputError, match="shading"):
        aug.AugmentConfig(shading=float("nan"))
