"""Review Export never exports labels from before a correction whose write failed.

Before, a correction whose labels write failed (the file locked by another program, a share
gone) was exported as "corrected" with the labels still on disk, those from before the
correction, and the export said it succeeded. Now Export first tries the failed writes
again; labels that still cannot be written stop it, naming the images and why.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("napari")

from napari_unet.core.images.io import read_image, write_image  # noqa: E402
from napari_unet.core.review.session import Review  # noqa: E402
from napari_unet.core.review.writer import Writer  # noqa: E402
from napari_unet.widgets._review_actions import export  # noqa: E402


def _dock(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    image = np.full((32, 32), 100, np.uint16)
    image[4:12, 4:12] = 900
    write_image(images / "a.tif", image)
    review = Review(images, tmp_path / "images-review")
    writer = Writer(review)
    report, button = SimpleNamespace(value=""), SimpleNamespace(enabled=True)
    summary = SimpleNamespace(show_rows=lambda rows: None)
    dock = SimpleNamespace(review=review, writer=writer, save=lambda: None, _report=report,
                           _export=button, _summary=summary)  # fmt: skip
    return dock, review, writer


def test_export_retries_a_failed_write_and_refuses_stale_labels(tmp_path, qtbot, monkeypatch):
    dock, review, writer = _dock(tmp_path)
    before = np.zeros((32, 32), np.uint16)
    before[4:12, 4:12] = 1
    review.set_status("a.tif", "accepted")
    writer.save_labels("a.tif", before)
    assert writer.flush() and writer.failed == []
    corrected = before.copy()
    corrected[20:28, 20:28] = 2  # a cell painted, then the write fails
    real = review.save_labels

    def locked(name, data):
        path = str(review.labels_path(name))
        raise PermissionError(13, "The process cannot access the file", path)

    monkeypatch.setattr(review, "save_labels", locked)
    review.set_status("a.tif", "corrected")
    writer.save_labels("a.tif", corrected)
    assert writer.flush() and writer.failed == ["a.tif"]

    export(dock)  # still locked: tried again, and refused (before: "Exported 1 images")
    report = dock._report.value
    assert report.startswith("Error: export not started") and "a.tif" in report, report
    assert "cannot access the file" in report
    assert not (review.output / "export").exists()

    monkeypatch.setattr(review, "save_labels", real)  # the file closed in the other program
    export(dock)  # the failed write goes first: the correction is what is exported
    qtbot.waitUntil(lambda: dock._report.value.startswith(("Exported", "Error")), timeout=30_000)
    assert dock._report.value.startswith("Exported 1 images"), dock._report.value
    exported = read_image(review.output / "export" / "labels" / review.labels_path("a.tif").name)
    np.testing.assert_array_equal(np.asarray(exported), corrected)
    assert writer.close()
