"""Object size: sizes of labels, the rescaling arithmetic, segment(object_size=...), estimates."""

from __future__ import annotations

import math

import numpy as np
import pytest

import napari_unet as nu
from napari_unet import InputError, ObjectSize, median_diameter
from napari_unet.core.inference.scale import (
    check_object_size,
    resample_back,
    rescale_planes,
    scaled_region,
    scaled_shape,
    training_object_size,
)

pytestmark = pytest.mark.usefixtures("one_thread")

#: The shipped model's training object size (scripts/record_object_size.py).
STARTER_OBJECT_SIZE = 17.57
#: Its tensors, unchanged by recording the object size.
STARTER_TENSORS = "edc54389ce1e61ab8357793dda3b85aa381d997c38d756b9802cb1da09e3b36f"


@pytest.fixture(scope="module")
def starter():
    return nu.pretrained("nuclei")


@pytest.fixture(scope="module")
def sample():
    return nu.nuclei_data()


def disc_labels(radii, shape=(200, 200)):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    labels = np.zeros(shape, np.int32)
    for i, r in enumerate(radii):
        cy, cx = 30 + 45 * (i // 4), 30 + 45 * (i % 4)
        labels[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = i + 1
    return labels


def resized(image, labels, factor):
    from skimage.transform import resize

    shape = tuple(round(s * factor) for s in labels.shape)
    img = resize(image.astype(np.float32), shape, order=1, anti_aliasing=factor < 1)
    lab = resize(labels, shape, order=0, anti_aliasing=False, preserve_range=True)
    return img.astype(np.float32), lab.astype(np.int32)


# -- sizes of labels -----------------------------------------------------------------------


def test_median_diameter_of_discs_pooled_and_masked():
    labels = disc_labels([5, 10, 10, 20])
    size, n = median_diameter(labels)
    assert n == 4 and size == pytest.approx(20, rel=0.05)  # median of 10, 20, 20, 40
    mask = np.zeros(labels.shape, bool)
    mask[:, :50] = True  # only the first disc (radius 5)
    assert median_diameter([labels], [mask]) == (pytest.approx(10, rel=0.1), 1)
    assert median_diameter([labels, labels * 0]) == (size, 4)
    assert median_diameter(np.zeros((8, 8), int)) == (None, 0)


# -- checks --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [-3, 0, 0.0, float("nan"), float("inf"), True, "big", "", [20]])
def test_bad_object_sizes_are_refused(value):
    with pytest.raises(InputError, match="object size must be"):
        check_object_size(value)


def test_good_object_sizes():
    assert check_object_size(None) is None
    assert check_object_size(20) == 20.0 and check_object_size(np.float32(7.5)) == 7.5
    assert check_object_size(" Estimate ") == "estimate"
    assert check_object_size("37") == 37.0


def test_a_model_without_an_object_size_is_refused(starter, sample):
    model, meta = starter
    old = {k: v for k, v in meta.items() if k != "object_size"}
    with pytest.raises(InputError, match="records no training object size"):
        training_object_size(old)
    for size in (20, "estimate"):
        with pytest.raises(InputError, match="records no training object size"):
            nu.segment(model, sample[0], metadata=old, object_size=size)
    with pytest.raises(InputError, match="positive number"):
        training_object_size({"object_size": "big"})
    # None keeps today's behaviour, with or without the key.
    assert nu.segment(model, sample[0][:64, :64], metadata=old).shape == (64, 64)


def test_object_sizes_beyond_ten_times_are_refused(starter, sample):
    model, meta = starter
    with pytest.raises(InputError, match="at most 10 times"):
        nu.segment(model, sample[0], metadata=meta, object_size=1)
    with pytest.raises(InputError, match=r"between 1\.75\d and 175\.\d px") as refused:
        nu.segment(model, sample[0], metadata=meta, object_size=500)
    low, high = (float(v) for v in str(refused.value).split("between ")[1][:-3].split(" and "))
    for size in (low, high):  # the limits said are themselves accepted (176 was refused)
        nu.core.inference.scale.given_object_size(size, STARTER_OBJECT_SIZE)


# -- arithmetic ----------------------------------------------------------------------------


def test_nearest_round_trip_is_exact_and_keeps_ids():
    labels = disc_labels([4, 9, 13, 6, 11])
    shape, small = labels.shape, scaled_shape(labels.shape, 2.0)
    assert small == (400, 400)
    whole = ((0, 400), (0, 400))
    up = resample_back(labels, whole, whole, small, shape, order=0)  # 200 -> 400
    assert up.dtype == labels.dtype and set(np.unique(up)) == set(np.unique(labels))
    back = resample_back(up, ((0, 200), (0, 200)), whole, shape, small, order=0)
    np.testing.assert_array_equal(back, labels)


def test_resample_back_has_the_exact_shape_for_odd_sizes():
    labels = disc_labels([4, 9, 13], shape=(101, 77))
    for factor in (0.37, 0.5, 1.3, 2.9):
        small = scaled_shape(labels.shape, factor)
        smaller = resample_back(labels, ((0, small[0]), (0, small[1])), ((0, 101), (0, 77)),
                                small, labels.shape, order=0)  # fmt: skip
        region = ((0, 101), (0, 77))
        window = scaled_region(region, labels.shape, small)
        back = resample_back(smaller[window[0][0] : window[0][1], window[1][0] : window[1][1]],
                             region, window, labels.shape, small, order=0)  # fmt: skip
        assert back.shape == labels.shape
        assert set(np.unique(back)) <= set(np.unique(labels))  # no blended ids


def test_rescale_planes_resizes_h_and_w_only():
    planes = np.random.default_rng(0).random((3, 2, 40, 60)).astype(np.float32)
    out = rescale_planes(planes, (20, 30))
    assert out.shape == (3, 2, 20, 30) and out.dtype == np.float32
    np.testing.assert_allclose(out.mean(axis=(2, 3)), planes.mean(axis=(2, 3)), atol=0.02)
    assert scaled_shape((3, 1000), 0.1) == (1, 100)


# -- segment(object_size=...) --------------------------------------------------------------


def test_segment_with_an_object_size_keeps_shape_and_reports_the_scale(starter, sample):
    model, meta = starter
    image, truth = sample
    events = []
    labels, probs = nu.drain(
        nu.iter_segment(model, image, metadata=meta, object_size=35.14), events.append
    )
    sizes = [e for e in events if isinstance(e, ObjectSize)]
    assert len(sizes) == 1 and sizes[0].factor == pytest.approx(0.5)
    assert sizes[0].diameter == 35.14 and not sizes[0].estimated and sizes[0].rescaled
    assert "scaled by 0.5" in sizes[0].describe()
    assert labels.shape == image.shape and labels.dtype == np.int32
    assert probs.shape == (2, *image.shape) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(0), 1, atol=1e-5)
    ids = np.unique(labels)
    np.testing.assert_array_equal(ids, np.arange(ids.size))  # consecutive ids
    plain = nu.segment(model, image, metadata=meta)
    assert not np.array_equal(labels, plain)  # really predicted at another scale
    assert nu.segment(model, image, metadata=meta, object_size=None).tolist() == plain.tolist()


def test_dtype_normalisation_reads_resized_integers_on_their_own_scale(starter, sample):
    """A model normalised by dtype sees 0..1 whether or not the image is resized first."""
    model, meta = starter
    image = sample[0]
    assert image.dtype == np.uint8
    by_dtype = {**meta, "normalization": {"method": "dtype"}}
    _, ints = nu.segment(model, image, metadata=by_dtype, object_size=35.14,
                         return_probabilities=True)  # fmt: skip
    _, floats = nu.segment(model, image.astype(np.float32) / 255, metadata=by_dtype,
                           object_size=35.14, return_probabilities=True)  # fmt: skip
    np.testing.assert_allclose(ints, floats, atol=1e-4)


def test_true_object_size_recovers_nuclei_twice_as_large(starter, sample):
    model, meta = starter
    image, truth = resized(*sample, 2.0)
    true, _ = median_diameter(truth)
    labels = nu.segment(model, image, metadata=meta, object_size=true)
    assert labels.shape == truth.shape
    found, n = median_diameter(labels)
    assert found == pytest.approx(true, rel=0.15) and n > 60
    assert nu.evaluate(truth, labels)["per_threshold"][0]["ap"] > 0.5


def test_estimate_is_within_15_percent_of_the_truth(starter, sample):
    model, meta = starter
    image, truth = resized(*sample, 2.5)  # beyond the sizes the model was trained on
    true, _ = median_diameter(truth)
    size = nu.estimate_object_size(model, image, metadata=meta)
    assert size.estimated and size.n_objects >= 50
    assert size.diameter == pytest.approx(true, rel=0.15)
    assert size.factor == pytest.approx(STARTER_OBJECT_SIZE / size.diameter)
    events = []
    labels, _ = nu.drain(
        nu.iter_segment(model, image, metadata=meta, object_size="estimate"), events.append
    )
    (event,) = [e for e in events if isinstance(e, ObjectSize)]
    assert event == size and labels.shape == truth.shape
    assert f"estimated {size.diameter:.3g} px" in event.describe()


def test_an_estimate_within_the_trained_sizes_keeps_the_first_pass(starter, sample):
    """The model saw its objects zoomed up to 1.4 times either way in training: rescaling
    by less cost AP (0.855 -> 0.836 on 20 DSB2018 test images at their own scale)."""
    model, meta = starter
    assert nu.core.inference.scale.trained_zoom(meta) == pytest.approx(1.4)
    image, _ = resized(*sample, 1.2)
    events = []
    labels, _ = nu.drain(
        nu.iter_segment(model, image, metadata=meta, object_size="estimate"), events.append
    )
    (size,) = [e for e in events if isinstance(e, ObjectSize)]
    assert size.estimated and not size.rescaled and size.n_objects >= 50
    assert 1 / 1.4 <= STARTER_OBJECT_SIZE / size.diameter <= 1.4
    assert "within the sizes the model was trained on" in size.describe()
    np.testing.assert_array_equal(labels, nu.segment(model, image, metadata=meta))


def test_the_zoom_range_comes_from_the_training_record_with_a_floor():
    from napari_unet.core.inference.scale import MIN_TOLERANCE, trained_zoom

    def meta(scale):
        return {"provenance": {"config": {"augment": {"scale": scale}}}}

    assert trained_zoom(meta(0.4)) == pytest.approx(1.4)
    assert trained_zoom(meta(1.0)) == pytest.approx(2.0)
    for plain in (meta(0.0), meta(0.1), meta("x"), meta(float("nan")), {}, None):
        assert trained_zoom(plain) == MIN_TOLERANCE


def test_the_typical_diameter_leaves_out_pieces_and_specks():
    """A model shown nuclei 3x its training size cut them into pieces and found specks:
    their plain median said 8.7 px for 67 px nuclei (a DSB2018 train image)."""
    from skimage.draw import disk

    from napari_unet.core.images.sizes import typical_diameter

    labels = np.zeros((600, 600), np.int32)
    k = 0
    for y in range(40, 600, 110):
        for x in range(40, 600, 110):
            k += 1
            labels[disk((y, x), 30, shape=labels.shape)] = k  # whole nuclei, 60 px across
    rng = np.random.default_rng(0)
    for _ in range(300):  # specks of 5 x 5 in the gaps
        y, x = rng.integers(0, 595, 2)
        if not labels[y : y + 5, x : x + 5].any():
            k += 1
            labels[y : y + 5, x : x + 5] = k
    plain, n_all = median_diameter(labels)
    typical, n = typical_diameter(labels)
    assert plain < 10 and n_all > 200  # the specks outnumber the nuclei
    assert typical == pytest.approx(2 * np.sqrt(np.sum(labels == 1) / np.pi)) and n == 36
    whole, _ = typical_diameter(np.where(labels <= 36, labels, 0))
    assert whole == pytest.approx(median_diameter(np.where(labels <= 36, labels, 0))[0])


def test_estimate_with_too_few_objects_keeps_the_scale(starter):
    model, meta = starter
    image = np.zeros((96, 96), np.uint8)
    image[40:52, 40:52] = 200  # one nucleus
    events = []
    labels, _ = nu.drain(
        nu.iter_segment(model, image, metadata=meta, object_size="estimate"), events.append
    )
    (size,) = [e for e in events if isinstance(e, ObjectSize)]
    assert size.factor == 1.0 and not size.rescaled and size.n_objects < 5
    assert "too few objects" in size.note and "not rescaled" in size.describe()
    said = f"not estimated ({size.n_objects} objects found)"  # before: "estimated no objects"
    assert size.describe().startswith(said), size.describe()
    np.testing.assert_array_equal(labels, nu.segment(model, image, metadata=meta))


def test_stacks_colour_regions_and_dask_agree(starter, sample):
    import dask.array as da

    model, meta = starter
    image = sample[0][:128, :160]
    size = 26.0
    labels, probs = nu.segment(
        model, image, metadata=meta, object_size=size, return_probabilities=True
    )
    stack = nu.segment(model, np.stack([image, image[::-1]]), metadata=meta, object_size=size)
    assert stack.shape == (2, *image.shape)
    np.testing.assert_array_equal(stack[0] > 0, labels > 0)
    assert set(np.unique(stack[1])) - {0} > set() and not set(np.unique(stack[1])) & (
        set(np.unique(stack[0])) - {0}
    )  # ids unique over the stack
    rgb = np.repeat(image[..., None], 3, axis=-1)
    np.testing.assert_array_equal(nu.segment(model, rgb, metadata=meta, object_size=size), labels)
    lazy, lazy_probs = nu.segment(model, da.from_array(image, chunks=64), metadata=meta,
                                  object_size=size, return_probabilities=True)  # fmt: skip
    assert isinstance(lazy_probs, np.ndarray)
    np.testing.assert_array_equal(lazy, labels)
    region = ((20, 100), (30, 150))
    _, part = nu.segment(model, image, metadata=meta, object_size=size, region=region,
                         return_probabilities=True)  # fmt: skip
    assert part.shape == (2, 80, 120)
    np.testing.assert_allclose(part, probs[:, 20:100, 30:150], atol=1e-5)


# -- model files ---------------------------------------------------------------------------


def test_the_builtin_model_records_its_object_size(starter):
    _, meta = starter
    assert meta["object_size"] == STARTER_OBJECT_SIZE
    assert meta["tensors_sha256"] == STARTER_TENSORS  # the weights did not change


def test_the_builtin_object_size_is_that_of_its_training_split(shared_data, starter):
    import tifffile

    _, meta = starter
    names = meta["provenance"]["data"]
    masks = [tifffile.imread(shared_data / "dsb2018" / "masks" / f"{n}.tif") for n in names]
    size, n = median_diameter(masks)
    assert round(size, 2) == STARTER_OBJECT_SIZE and n > 1000


def test_training_records_the_object_size_of_the_annotated_cells(tmp_path):
    image, labels = nu.touching_cells((96, 96), n_cells=10, seed=3)
    region = np.zeros(labels.shape, bool)
    region[:48] = True
    pairs = nu.make_pairs([image], [labels], [region], names=["top"])
    config = nu.TrainConfig(
        model="tiny", steps=1, batch_size=1, crop_size=48, device="cpu", val_fraction=0.0,
        prefetch=0,
    )  # fmt: skip
    result = nu.train(pairs, config, output=tmp_path / "m.safetensors")
    expected = round(median_diameter([labels], [region])[0], 2)
    assert expected != round(median_diameter(labels)[0], 2)  # the region matters here
    assert result.metadata["object_size"] == expected
    assert nu.read_metadata(tmp_path / "m.safetensors")["object_size"] == expected
    assert math.isfinite(expected) and expected > 3


def test_training_on_a_semantic_mask_records_the_size_of_its_parts(tmp_path):
    """A mask of one id recorded the diameter of its whole foreground (148 px for 13 px
    nuclei): the model then refused the true size and estimated nothing."""
    image, labels = nu.touching_cells((96, 96), n_cells=10, seed=3)
    mask = (labels > 0).astype(np.int32)  # the cells, as one semantic mask of ones
    pairs = nu.make_pairs([image], [mask])
    config = nu.TrainConfig(
        model="tiny", steps=1, batch_size=1, crop_size=48, device="cpu", val_fraction=0.0,
        prefetch=0,
    )  # fmt: skip
    result = nu.train(pairs, config, output=tmp_path / "m.safetensors")
    from scipy import ndimage

    parts = ndimage.label(mask)[0]
    assert result.metadata["object_size"] == round(median_diameter(parts)[0], 2)
    assert result.metadata["object_size"] < median_diameter(mask.astype(np.int32))[0]


def test_an_infinite_object_size_is_not_written_into_a_model_file(tmp_path):
    net = nu.build_model({"arch": "unet", "in_channels": 1, "base_channels": 4, "depth": 2,
                          "padding": "same"})  # fmt: skip
    with pytest.raises(InputError, match="object_size"):
        nu.save_model(tmp_path / "m.safetensors", net, object_size=math.inf)
    assert not (tmp_path / "m.safetensors").exists()


@pytest.mark.parametrize(("dtype", "offset"), [("uint32", 3_000_000_000), ("int64", 2**40)])
def test_pixels_on_a_large_offset_rescale_as_without_it(starter, sample, dtype, offset):
    """Resized in float32, a uint32 image on a camera offset of 3e9 lost its cells (54 of
    118 objects at object size 13; int64 + 2**40: none)."""
    model, meta = starter
    image = sample[0][:160, :200]
    ref = nu.segment(model, image, metadata=meta, object_size=13)
    got = nu.segment(model, image.astype(dtype) + np.asarray(offset, dtype), metadata=meta,
                     object_size=13)  # fmt: skip
    np.testing.assert_array_equal(got, ref)


def test_the_memory_check_counts_the_post_processing(starter, sample, monkeypatch):
    """Counting only the resized image and its probabilities, the check admitted runs that
    needed twice as much and then failed with a MemoryError in the labelling."""
    import tracemalloc

    from napari_unet.core import files

    model, meta = starter
    image = sample[0]
    tracemalloc.start()
    for size in (9, 35):  # enlarged 2x, shrunk 2x
        tracemalloc.start()
        nu.segment(model, image, metadata=meta, object_size=size)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        monkeypatch.setattr(files, "available_memory", lambda p=peak: int(p * 0.9))
        with pytest.raises(InputError, match="GiB"):  # refused before anything is made
            nu.segment(model, image, metadata=meta, object_size=size)
        monkeypatch.undo()


def test_a_stack_being_resized_reports_progress_and_stops_between_planes(
    starter, sample, monkeypatch
):
    """Every plane of a stack was resized before the first progress event: Cancel did
    nothing for 8 s on 20 planes of 1024 x 1024."""
    import skimage.transform

    from napari_unet.core.inference.plan import Predictor
    from napari_unet.core.inference.postprocess import Postprocess
    from napari_unet.core.inference.segment import iter_labels

    model, meta = starter
    stack = np.stack([sample[0][:96, :128]] * 4)
    calls, real = [], skimage.transform.resize
    counted = lambda *a, **k: calls.append(1) or real(*a, **k)  # noqa: E731
    monkeypatch.setattr(skimage.transform, "resize", counted)
    gen = iter_labels(Predictor(model, metadata=meta), Postprocess(), stack,
                      object_size=9, metadata=meta)  # fmt: skip
    events = [next(gen) for _ in range(3)]  # the scale, then the first planes resized
    assert isinstance(events[0], ObjectSize)
    assert [(e.done, e.plane) for e in events[1:]] == [(0, 0), (0, 1)] and len(calls) == 2
    gen.close()  # what Cancel does: no plane is resized after it
    assert len(calls) == 2
    monkeypatch.undo()
    labels = nu.segment(model, stack, metadata=meta, object_size=9)
    np.testing.assert_array_equal(labels[1] > 0, nu.segment(model, stack[1], metadata=meta,
                                                            object_size=9) > 0)  # fmt: skip


def test_auto_is_the_default_and_estimates_where_it_can(starter, sample):
    """``object_size="auto"`` (segment's default) rescales nuclei far beyond the trained sizes
    as ``"estimate"`` does; where it cannot estimate it predicts at the image's own scale."""
    import dask.array as da

    model, meta = starter
    image, _ = resized(*sample, 2.5)
    events = []
    auto = nu.segment(model, image, metadata=meta, progress=events.append)
    (size,) = [e for e in events if isinstance(e, ObjectSize)]
    assert size.estimated and size.rescaled
    np.testing.assert_array_equal(auto, nu.segment(model, image, metadata=meta,
                                                   object_size="estimate"))  # fmt: skip
    native = nu.segment(model, image, metadata=meta, object_size=None)
    assert not np.array_equal(auto, native)
    assert nu.segment(model, image, metadata=meta, object_size="none").tolist() == native.tolist()
    for kwargs in (
        {"metadata": {k: v for k, v in meta.items() if k != "object_size"}},  # no size
        {"metadata": meta, "region": ((0, 64), (0, 64))},  # a region
    ):
        events.clear()
        nu.segment(model, image, progress=events.append, **kwargs)
        assert not [e for e in events if isinstance(e, ObjectSize)], kwargs
    events.clear()
    lazy = nu.segment(model, da.from_array(image, chunks=256), metadata=meta,
                      progress=events.append)  # fmt: skip
    assert not [e for e in events if isinstance(e, ObjectSize)]
    np.testing.assert_array_equal(np.asarray(lazy) > 0, native > 0)
    events.clear()  # validation during training asks for the image's scale, as trained
    nu.segment(model, image, metadata=meta, progress=events.append, _as_trained=True)
    assert not [e for e in events if isinstance(e, ObjectSize)]
    model.train()  # a user's network left in training mode is segmented as in evaluation
    try:
        events.clear()
        nu.segment(model, image, metadata=meta, progress=events.append)
        assert [e for e in events if isinstance(e, ObjectSize)]
    finally:
        model.eval()


def test_auto_keeps_the_first_pass_when_the_rescaling_does_not_fit(starter, sample, monkeypatch):
    """``"estimate"`` and a given size refuse a rescaling beyond the free memory; the default
    must not turn a prediction that fits into a refusal."""
    from napari_unet.core import files

    model, meta = starter
    image, _ = resized(*sample, 2.5)
    native = nu.segment(model, image, metadata=meta, object_size=None)
    monkeypatch.setattr(files, "available_memory", lambda: 1)
    events = []
    labels = nu.segment(model, image, metadata=meta, progress=events.append)
    (size,) = [e for e in events if isinstance(e, ObjectSize)]
    assert not size.rescaled and "memory" in size.note
    np.testing.assert_array_equal(labels, native)
    with pytest.raises(InputError, match="GiB"):
        nu.segment(model, image, metadata=meta, object_size="estimate")
