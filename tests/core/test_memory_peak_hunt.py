"""The split's reconstruction drops its working arrays early: same result, lower peak.

At the image's own scale (the first pass of ``object_size="auto"``) the built-in nuclei model
can call most of an image of large touching cells one joined blob, whose bounding box is the
whole image; the split's reconstruction of that blob held about 80 bytes per pixel to its end
(8 GB of the 8192 x 8192 benchmark). These tests check the result is unchanged, bit for bit,
and that the peak (numpy reports its allocations to tracemalloc) is lower, as a ratio measured
in the same run.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
from scipy import ndimage


def _held_one_sort(seed, mask, reconstruction_loop):
    """The reconstruction as it was: every working array held until the end (the same
    layout, :func:`~napari_unet.core.inference.splitting.padded`; the result is also
    compared with scikit-image's own function)."""
    from napari_unet.core.inference.splitting import padded

    height, width = seed.shape
    flat, signed, strides = padded(seed, mask)
    size, unsigned = flat.size, np.dtype(signed.char.upper())
    order = np.argsort(flat).astype(signed, copy=False)
    descending = order[::-1]
    prev = np.full(size, -1, signed)
    nxt = np.full(size, -1, signed)
    prev[descending[1:]] = descending[:-1]
    nxt[descending[:-1]] = descending[1:]
    ordered = flat[order]
    step = np.zeros(size, unsigned)
    np.cumsum(ordered[:-1] != ordered[1:], out=step[1:], dtype=unsigned)
    ranks = np.empty(size, unsigned)
    ranks[order] = step
    values = ordered[np.r_[0, np.flatnonzero(ordered[:-1] != ordered[1:]) + 1]]
    reconstruction_loop(ranks, prev, nxt, strides, descending[0], flat.size // 2)
    return values[ranks[: size // 2]].reshape(height + 2, width + 2)[1:-1, 1:-1]


def _pair(shape, seed: int = 0, depth: float = 1.0):
    """A smoothed distance-like map with ties (a plateau of zeros) and its seed."""
    rng = np.random.default_rng(seed)
    mask = ndimage.gaussian_filter(rng.random(shape), 2.0) * 20
    mask[rng.random(shape) < 0.2] = 0.0
    mask = np.round(mask, 2)  # many equal values
    return mask - depth, mask


def _peak(fn, *args) -> int:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        fn(*args)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_reconstruction_is_unchanged_bit_for_bit():
    from skimage.morphology import reconstruction
    from skimage.morphology._grayreconstruct import reconstruction_loop

    from napari_unet.core.inference import splitting

    for k, (shape, depth) in enumerate([((1, 1), 1.0), ((7, 300), 0.5), ((120, 90), 2.0)]):
        seed, mask = _pair(shape, k, depth)
        new = splitting._one_sort(seed, mask, reconstruction_loop)
        assert np.array_equal(new, _held_one_sort(seed, mask, reconstruction_loop))
        assert np.array_equal(new, reconstruction(seed, mask, method="dilation"))


def test_a_blob_as_large_as_the_image_is_split_as_before():
    """One joined component whose box is the whole image: the whole-image split's ids."""
    from postprocess_reference import reference_split

    from napari_unet.core.inference import splitting

    yy, xx = np.mgrid[:150, :170]
    rng = np.random.default_rng(3)
    blob = np.zeros(yy.shape, bool)
    for cy in range(12, 150, 25):  # overlapping round cells on a jittered grid
        for cx in range(12, 170, 25):
            dy, dx = rng.uniform(-3, 3, 2)
            blob |= (yy - cy - dy) ** 2 + (xx - cx - dx) ** 2 <= rng.uniform(14, 16) ** 2
    joined, n = ndimage.label(blob)
    assert n == 1 and ndimage.find_objects(joined)[0] == (slice(0, 150), slice(0, 170))
    out = splitting.split_instances(joined, 1.0, 1.0, workers=1)
    assert out.max() > joined.max()
    assert np.array_equal(out, reference_split(joined, 1.0, 1.0))


def test_the_reconstruction_peak_is_lower():
    from skimage.morphology._grayreconstruct import reconstruction_loop

    from napari_unet.core.inference import splitting

    seed, mask = _pair((400, 400), 5)
    held = _peak(_held_one_sort, seed, mask, reconstruction_loop)
    dropped = _peak(splitting._one_sort, seed, mask, reconstruction_loop)
    assert dropped < 0.7 * held, (dropped, held)
