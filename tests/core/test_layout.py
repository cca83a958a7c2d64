"""Which axis of an input image is which: napari_unet.core.images.layout."""

import numpy as np
import pytest

from napari_unet import InputError
from napari_unet.core.images.layout import Layout, array_namespace, is_lazy, layout

da = pytest.importorskip("dask.array")

H, W = 20, 30


def ramp(shape, dtype=np.float32):
    """Distinct values everywhere, so a wrong axis order cannot go unnoticed."""
    return np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape)


# (input shape, in_channels, channel_axis, planes shape, stack shape, axes of the input that
# give the planes (P, C, H, W) when transposed, None: a new axis)
CASES = [
    pytest.param((H, W), 1, None, (1, 1, H, W), (), "hw", id="2d"),
    pytest.param((H, W, 3), 3, None, (1, 3, H, W), (), "hwc", id="rgb-last"),
    pytest.param((H, W, 4), 4, None, (1, 4, H, W), (), "hwc", id="rgba-last"),
    pytest.param((3, H, W), 3, None, (1, 3, H, W), (), "chw", id="channels-first-3"),
    pytest.param((2, H, W), 2, None, (1, 2, H, W), (), "chw", id="channels-first-2"),
    pytest.param((5, H, W), 1, None, (5, 1, H, W), (5,), "zhw", id="stack"),
    # a grey model reads a 3-plane stack as planes, not as channels
    pytest.param((3, H, W), 1, None, (3, 1, H, W), (3,), "zhw", id="3-plane-stack"),
    pytest.param((4, 2, H, W), 2, None, (4, 2, H, W), (4,), "zchw", id="stack-channels-first"),
    pytest.param((4, 1, H, W), 1, None, (4, 1, H, W), (4,), "zchw", id="stack-one-channel"),
    pytest.param((4, H, W, 3), 3, None, (4, 3, H, W), (4,), "zhwc", id="stack-rgb-last"),
    pytest.param((H, 3, W), 3, 1, (1, 3, H, W), (), "hcw", id="axis-1"),
    pytest.param((H, 3, W), 3, -2, (1, 3, H, W), (), "hcw", id="axis-minus-2"),
    pytest.param((H, W, 2), 2, -1, (1, 2, H, W), (), "hwc", id="axis-minus-1"),
    pytest.param((4, H, 2, W), 2, 2, (4, 2, H, W), (4,), "zhcw", id="4d-axis-2"),
    pytest.param((4, H, 2, W), 2, -2, (4, 2, H, W), (4,), "zhcw", id="4d-axis-minus-2"),
    # an explicit axis wins over the guess (which would take the 3 planes as a stack)
    pytest.param((3, H, W), 3, 0, (1, 3, H, W), (), "chw", id="explicit-first"),
]


def expected_planes(image, axes):
    """The (P, C, H, W) array a layout of ``image`` with named ``axes`` must produce."""
    order = [axes.index(a) for a in "zchw" if a in axes]
    out = np.transpose(image, order)
    if "z" not in axes:
        out = out[None]
    if "c" not in axes:
        out = out[:, None]
    return out


@pytest.mark.parametrize(("shape", "n_in", "axis", "planes", "stack", "axes"), CASES)
def test_each_layout_maps_to_planes_channels_and_stack(shape, n_in, axis, planes, stack, axes):
    image = ramp(shape)
    lay = layout(image, n_in, channel_axis=axis)
    assert isinstance(lay, Layout)
    assert lay.planes.shape == planes
    assert lay.stack_shape == stack
    np.testing.assert_array_equal(lay.planes, expected_planes(image, axes))
    # a view of the caller's pixels, never a copy
    assert isinstance(lay.planes, np.ndarray)
    assert np.shares_memory(lay.planes, image)


@pytest.mark.parametrize(("shape", "n_in", "axis", "planes", "stack", "axes"), CASES)
def test_dask_input_stays_lazy_with_the_numpy_layout(shape, n_in, axis, planes, stack, axes):
    image = ramp(shape)
    lazy = da.from_array(image, chunks=tuple(max(1, s // 2) for s in shape))
    lay = layout(lazy, n_in, channel_axis=axis)
    assert is_lazy(lay.planes)
    assert lay.planes.shape == planes
    assert lay.stack_shape == stack
    np.testing.assert_array_equal(lay.planes.compute(), layout(image, n_in, axis).planes)


@pytest.mark.parametrize("lazy", [False, True], ids=["numpy", "dask"])
def test_grey_stored_as_rgb_collapses_to_one_channel(lazy):
    grey = ramp((H, W), np.uint8)
    rgb = np.repeat(grey[..., None], 3, axis=-1)
    lay = layout(da.from_array(rgb, chunks=(10, 10, 3)) if lazy else rgb, 1)
    assert lay.planes.shape == (1, 1, H, W)
    assert lay.stack_shape == ()
    assert is_lazy(lay.planes) is lazy
    planes = lay.planes.compute() if lazy else lay.planes
    np.testing.assert_array_equal(planes[0, 0], grey)
    if not lazy:
        assert np.shares_memory(lay.planes, rgb)


def test_grey_stack_stored_as_rgb_collapses_too():
    stack = ramp((4, H, W))
    rgb = np.repeat(stack[..., None], 3, axis=-1)
    lay = layout(rgb, 1)
    assert lay.planes.shape == (4, 1, H, W) and lay.stack_shape == (4,)
    np.testing.assert_array_equal(lay.planes[:, 0], stack)


def test_real_colour_for_a_grey_model_is_averaged_or_one_channel_chosen():
    grey = ramp((H, W))
    rgb = np.stack([grey, grey * 0.5, grey * 0.2], axis=-1)
    np.testing.assert_allclose(layout(rgb, 1).planes[0, 0], rgb.mean(-1), rtol=1e-6)
    np.testing.assert_array_equal(layout(rgb, 1, channel=1).planes[0, 0], rgb[..., 1])
    with pytest.raises(InputError, match=r"channel 3 does not exist.*3 channel"):
        layout(rgb, 1, channel=3)
    with pytest.raises(InputError, match=r"has 3 channel\(s\).*model expects 2"):
        layout(rgb, 2)
    with pytest.raises(InputError, match="grey model"):
        layout(rgb, 3, channel=0)


def test_rgba_alpha_is_dropped_and_integer_means_keep_their_dtype():
    rgb = np.stack(
        [ramp((H, W), np.uint8), ramp((H, W), np.uint8)[::-1], ramp((H, W), np.uint8)], -1
    )
    rgba = np.concatenate([rgb, np.full((H, W, 1), 255, np.uint8)], axis=-1)
    grey = layout(rgba, 1).planes
    assert grey.dtype == np.uint8 and grey.shape == (1, 1, H, W)
    np.testing.assert_array_equal(
        grey[0, 0], rgb.mean(-1, dtype=np.float32).round().astype(np.uint8)
    )
    colour = layout(rgba, 3).planes  # an RGB model gets RGB
    assert colour.shape == (1, 3, H, W)
    np.testing.assert_array_equal(colour[0].transpose(1, 2, 0), rgb)
    lazy = layout(da.from_array(rgba, chunks=(10, 10, 4)), 1).planes
    np.testing.assert_array_equal(lazy.compute(), grey)


def test_grey_image_for_a_colour_model_is_read_as_grey_rgb():
    grey = ramp((H, W))
    planes = layout(grey, 3).planes
    assert planes.shape == (1, 3, H, W)
    for c in range(3):
        np.testing.assert_array_equal(planes[0, c], grey)
    lazy = layout(da.from_array(np.stack([grey, grey])), 3).planes
    assert lazy.shape == (2, 3, H, W)
    np.testing.assert_array_equal(lazy.compute()[1, 2], grey)
    with pytest.raises(InputError, match=r"has 1 channel\(s\).*model expects 2"):
        layout(grey, 2)  # a two-channel model: what the one channel is, is not known


@pytest.mark.parametrize("dtype", [bool, np.uint8, np.int16, np.uint16, np.float64])
def test_real_numeric_dtypes_are_accepted(dtype):
    image = (ramp((H, W)) % 2).astype(dtype)
    lay = layout(image, 1)
    assert lay.planes.shape == (1, 1, H, W) and lay.planes.dtype == np.dtype(dtype)


@pytest.mark.parametrize(
    ("image", "kwargs", "match"),
    [
        (np.zeros(10, np.float32), {}, r"at least 2 dimensions.*\(10,\)"),
        (np.float32(3.0), {}, "at least 2 dimensions"),
        (np.zeros((0, 10), np.float32), {}, r"empty \(shape \(0, 10\)\)"),
        (np.zeros((4, 3, 0, 10), np.float32), {}, "empty"),
        (np.zeros((2, 3, 4, 5, 6), np.float32), {}, "got 5 dimensions"),
        (np.zeros((H, W), np.complex64), {}, "real-valued numeric image; got dtype complex64"),
        (np.full((H, W), None, dtype=object), {}, "real-valued numeric image; got dtype object"),
        (np.array([["a", "b"], ["c", "d"]]), {}, "real-valued numeric image; got dtype <U1"),
        (np.zeros((3, H, W)), {"channel_axis": 3}, r"channel_axis 3 is out of range.*\(3, 20"),
        (np.zeros((3, H, W)), {"channel_axis": -4}, "channel_axis -4 is out of range"),
        (np.zeros((H, W)), {"channel_axis": 5}, "channel_axis 5 is out of range"),
        (np.zeros((H, W)), {"channel_axis": 0}, "2D image has no channel axis"),
        (np.zeros((H, W)), {"channel_axis": -1}, "2D image has no channel axis"),
        (np.zeros((3, 10, 32, 32)), {}, r"cannot tell the channel axis.*\(3, 10, 32, 32\)"),
    ],
    ids=[
        "1d", "0d", "empty", "empty-4d", "5d", "complex", "object", "string", "axis-too-big",
        "axis-too-negative", "axis-2d-range", "axis-on-2d", "negative-axis-on-2d",
        "ambiguous-4d",
    ],
)  # fmt: skip
def test_bad_input_is_refused_with_a_clear_message(image, kwargs, match):
    with pytest.raises(InputError, match=match):
        layout(image, 1, **kwargs)


def test_ambiguous_4d_is_fine_once_the_axis_is_given():
    image = ramp((3, 10, 32, 32))
    lay = layout(image, 10, channel_axis=1)
    assert lay.planes.shape == (3, 10, 32, 32) and lay.stack_shape == (3,)
    assert np.shares_memory(lay.planes, image)


def test_dask_input_is_checked_like_numpy():
    with pytest.raises(InputError, match="real-valued"):
        layout(da.zeros((H, W), dtype=np.complex64), 1)
    with pytest.raises(InputError, match="cannot tell the channel axis"):
        layout(da.zeros((3, 10, 32, 32), chunks=16), 1)


def test_lists_are_read_as_arrays():
    lay = layout([[1, 2, 3], [4, 5, 6]], 1)
    assert lay.planes.shape == (1, 1, 2, 3)
    np.testing.assert_array_equal(lay.planes[0, 0], [[1, 2, 3], [4, 5, 6]])


def test_is_lazy_and_array_namespace():
    image = np.zeros((4, 4))
    lazy = da.from_array(image)
    assert is_lazy(lazy) is True
    assert is_lazy(image) is False
    assert is_lazy([[0.0]]) is False
    assert array_namespace(lazy) is da
    assert array_namespace(image) is np
    assert is_lazy(array_namespace(lazy).moveaxis(lazy, 0, 1))


def test_an_unreadable_4d_layout_says_how_to_give_the_axes(tmp_path):
    """The message named a Python keyword only; the command line has none: record the axes."""
    import tifffile

    from napari_unet.core.images.io import read_image

    data = np.zeros((3, 10, 32, 32), np.uint8)
    with pytest.raises(InputError, match=r"channel_axis.*OME-TIFF.*'axes': 'CZYX'") as info:
        layout(data, 1)
    tifffile.imwrite(tmp_path / "c.ome.tif", data, ome=True, metadata={"axes": "CZYX"})
    assert "ome=True" in str(info.value)  # as the message says: then it is read
    assert layout(read_image(tmp_path / "c.ome.tif"), 1).planes.shape == (10, 1, 32, 32)
