"""A lazy (dask, Zarr) image gets the built-in model the same image gets in memory.

Judged on five 256 px windows without the second look the in-memory rule gives, a 603 x 1272
fluorescence embryo whose glowing interior filled the windows read bright as dask and got
nuclei-brightfield (5 objects instead of 272). A lazy image that is small enough is now read
as one in memory is; a slide is still judged on its windows.
"""

import numpy as np
import pytest

import napari_unet as nu
from napari_unet.core.images.contrast import background_kind, background_level

da = pytest.importorskip("dask.array")


def _bright_windows() -> np.ndarray:
    """Fluorescence whose five window spots hold a bright patch: dark outside them."""
    rng = np.random.default_rng(0)
    h, w = 600, 1272
    img = 10 + rng.normal(0, 2, (h, w))
    spots = [(h // 2, w // 2), (h // 4, w // 4), (h // 4, 3 * w // 4),
             (3 * h // 4, w // 4), (3 * h // 4, 3 * w // 4)]  # fmt: skip
    for y, x in spots:
        img[y - 100 : y + 100, x - 100 : x + 100] = 150 + rng.normal(0, 10, (200, 200))
    yy, xx = np.mgrid[:h, :w]
    for _ in range(60):
        cy, cx = rng.integers(10, h - 10), rng.integers(10, w - 10)
        img[(yy - cy) ** 2 + (xx - cx) ** 2 < 36] = 250
    return np.clip(img, 0, 255).astype(np.uint8)


def test_small_lazy_image_is_judged_as_in_memory():
    img = _bright_windows()
    lazy = da.from_array(img, chunks=128)
    assert nu.choose_pretrained(img) == "nuclei"
    assert nu.choose_pretrained(lazy) == "nuclei"
    assert background_level(lazy) == pytest.approx(background_level(img))
    assert background_kind(lazy) == background_kind(img) == "dark"  # no false warning either


def test_large_lazy_image_reads_only_a_few_chunks():
    """Beyond LAZY_WHOLE (a slide) only the five windows' chunks are read."""
    from napari_unet.core.images.contrast import LAZY_WHOLE

    side = 8192
    assert side * side > LAZY_WHOLE
    reads = []

    def block(x, block_info=None):
        reads.append(x.size > 0)  # dask calls it on an empty array for its metadata
        return np.full(x.shape, 30, np.uint16)

    slide = da.zeros((side, side), np.uint16, chunks=1024).map_blocks(block, dtype=np.uint16)
    nu.choose_pretrained(slide)
    assert 0 < sum(reads) <= 20  # of 64 chunks


def test_real_embryo_as_dask(shared_data):
    """The hunter's case: DSB2018 train image 220 as a dask array."""
    from PIL import Image

    path = shared_data / "dsb2018_full" / "images" / "220_538b7673d507.png"
    if not path.exists():
        pytest.skip(f"{path} not found")
    img = np.asarray(Image.open(path))
    lazy = da.from_array(img, chunks=(256, 256))
    assert nu.choose_pretrained(img) == nu.choose_pretrained(lazy) == "nuclei"
    assert background_kind(lazy) == "dark"


def test_a_lazy_stack_with_much_to_judge_is_judged_on_windows():
    """The docks choose on the GUI thread: an (8, 1448, 1448) lazy stack, whose 16.8 million
    pixels are within the read limit, was judged whole (3.6 s here; 0.1 s on windows)."""
    from napari_unet.core.images.contrast import LAZY_JUDGED, LAZY_WHOLE, _grey_planes

    lazy = da.zeros((8, 1448, 1448), np.float32, chunks=(1, 724, 724))
    assert 8 * 1448 * 1448 <= LAZY_WHOLE and 8 * 1448 * 1448 > LAZY_JUDGED
    _, window = _grey_planes(lazy, None, None)
    assert window is None  # the five windows
    _, window = _grey_planes(da.zeros((4096, 4096), np.float32, chunks=1024), None, None)
    assert window is not None  # one plane, sampled at stride 4: judged whole
