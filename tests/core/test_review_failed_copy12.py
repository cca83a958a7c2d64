"""An image whose copy into the folder ends while its read fails is read again.

The files a failed image waits on are noted before the read: before, they were taken after
the failure, so a copy that ended meanwhile matched them, and the image kept its error for
the rest of the session.
"""

from __future__ import annotations

import time

import numpy as np

from napari_unet.core.images.io import write_image
from napari_unet.core.review import prefetch as prefetch_module
from napari_unet.core.review.prefetch import Prefetcher
from napari_unet.core.review.session import Review


def _settle(pf, name, failed: bool):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (name in pf._failed) == failed and (failed or pf.get(name) is not None):
            return
        time.sleep(0.02)
    raise AssertionError(f"{name}: failed={name in pf._failed}, {pf._failed}")


def test_a_copy_ending_during_a_failed_read_lets_the_image_be_read(tmp_path, monkeypatch):
    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    labels.mkdir()
    cells = np.zeros((40, 40), np.uint16)
    cells[5:15, 5:15] = 1
    write_image(labels / "a_labels.tif", cells)
    full = tmp_path / "full.tif"
    write_image(full, (cells * 900 + 50).astype(np.uint16))
    (images / "a.tif").write_bytes(full.read_bytes()[:200])  # still being copied
    review = Review(images, tmp_path / "out", labels_folder=labels)
    real = prefetch_module.read_image

    def copy_ends_while_failing(path, *args, **kwargs):
        try:
            return real(path, *args, **kwargs)
        finally:
            if path == images / "a.tif" and (images / "a.tif").stat().st_size == 200:
                (images / "a.tif").write_bytes(full.read_bytes())  # the copy ends now

    monkeypatch.setattr(prefetch_module, "read_image", copy_ends_while_failing)
    from napari_unet.core.models import UNet

    model = UNet(1, 2, base_channels=4, depth=2, padding="same").eval()
    pf = Prefetcher(review, model, {}, "tiny")  # the labels folder's labels: no prediction
    try:
        pf.want(["a.tif"])
        _settle(pf, "a.tif", failed=True)
        pf.want(["a.tif"])  # the dock's next move
        _settle(pf, "a.tif", failed=False)
        np.testing.assert_array_equal(pf.get("a.tif").labels, cells)
    finally:
        pf.close()
