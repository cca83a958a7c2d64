"""Labels that no longer fit their image (rewritten at another size during the review).

Review.save_labels refuses them; the writer used to count that as a failed write: tried
again at every later save (said again each time), and Export refused for good with advice
(free space, close the program holding the file) that could not help.
"""

from __future__ import annotations

import numpy as np

from napari_unet.core.images.io import read_image, write_image
from napari_unet.core.review.session import Review
from napari_unet.core.review.writer import Writer, rescue_folder


def test_labels_that_no_longer_fit_are_kept_aside_once_not_retried(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "tmp"))
    images = tmp_path / "images"
    images.mkdir()
    for name in ("a", "b"):
        write_image(images / f"{name}.tif", np.full((64, 64), 100, np.uint16))
    review = Review(images, tmp_path / "out")
    errors = []
    writer = Writer(review, on_error=errors.append)
    write_image(images / "a.tif", np.full((80, 80), 100, np.uint16))  # rewritten meanwhile
    labels = np.zeros((64, 64), np.int32)
    labels[4:20, 4:20] = 7
    writer.save_labels("a.tif", labels)
    for _ in range(3):
        writer.save_labels("b.tif", np.ones((64, 64), np.int32))
    assert writer.flush()
    assert writer.failed == []  # before: ['a.tif'], tried again at each save
    assert len(errors) == 1 and "kept in" in str(errors[0]), errors
    kept = list(rescue_folder(review.output).glob("a_labels*.tif"))
    assert len(kept) == 1 and np.array_equal(read_image(kept[0]), labels)  # nothing lost
    writer.close()
