"""``napari-unet predict`` with another tool's package writes its outputs as for a model file.

Before, its outputs were written bare: the labels and probability TIFFs without the input's
pixel size (``measure`` then gave pixels), a Zarr labels store without the napari-unet
labels mark, and a labels file another run wrote meanwhile was replaced unasked.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("bioimageio.core")

import foreign_package as fp  # noqa: E402
import tifffile  # noqa: E402

from napari_unet.cli import main  # noqa: E402
from napari_unet.core.images.io import read_image, write_image  # noqa: E402
from napari_unet.core.images.pixels import read_pixel_size  # noqa: E402


@pytest.fixture(autouse=True)
def _threads(one_thread):
    """One torch thread (bioimageio.core's pipeline runs on the CPU)."""


@pytest.fixture(scope="module")
def image():
    from napari_unet.sample_data import nuclei_data

    return nuclei_data()[0][:64, :80].astype(np.float32)


@pytest.fixture(scope="module")
def package(image, tmp_path_factory):
    """Another tool's one-channel probability package (torchscript weights)."""
    root = tmp_path_factory.mktemp("hunt10-foreign")
    return fp.build(root / "other", image[:32, :32], formats=("torchscript",))


def _imagej_tiff(path, image):
    """An ImageJ TIFF of 0.5 µm pixels, as Fiji writes it."""
    data = (image / max(float(image.max()), 1.0) * 1000).astype(np.uint16)
    tifffile.imwrite(path, data, imagej=True, resolution=(2.0, 2.0), metadata={"unit": "um"})
    return path


def test_the_tiff_outputs_record_the_inputs_pixel_size(package, image, tmp_path):
    src = _imagej_tiff(tmp_path / "cells.tif", image)
    assert read_pixel_size(src) == pytest.approx((0.5, 0.5))
    out = tmp_path / "out"
    assert main(["predict", str(package), str(src), "-o", str(out), "--probabilities",
                 "--min-size", "0", "--split", "0"]) == 0  # fmt: skip
    assert read_pixel_size(out / "cells_labels.tif") == pytest.approx((0.5, 0.5))
    assert read_pixel_size(out / "cells_probabilities.tif") == pytest.approx((0.5, 0.5))
    assert np.asarray(read_image(out / "cells_labels.tif")).max() > 0


def test_a_zarr_labels_store_carries_the_labels_mark(package, image, tmp_path):
    zarr = pytest.importorskip("zarr")
    src = write_image(tmp_path / "cells.zarr", (image * 1000).astype(np.uint16))
    out = tmp_path / "out"
    assert main(["predict", str(package), str(src), "-o", str(out),
                 "--min-size", "0", "--split", "0"]) == 0  # fmt: skip
    attrs = dict(zarr.open_array(str(out / "cells_labels.zarr"), mode="r").attrs)
    assert attrs.get("napari-unet") == {"kind": "labels"}


def test_labels_another_run_wrote_meanwhile_are_kept(package, image, tmp_path, monkeypatch,
                                                     capsys):  # fmt: skip
    from napari_unet.core.exchange import foreign

    src = _imagej_tiff(tmp_path / "cells.tif", image)
    out = tmp_path / "out"
    theirs = np.full(image.shape, 7, np.uint16)
    segment = foreign.segment_foreign

    def meanwhile(*args, **kwargs):  # another run writes the output while this one works
        write_image(out / "cells_labels.tif", theirs)
        return segment(*args, **kwargs)

    monkeypatch.setattr(foreign, "segment_foreign", meanwhile)
    assert main(["predict", str(package), str(src), "-o", str(out)]) != 0
    assert "another run wrote it" in capsys.readouterr().err
    np.testing.assert_array_equal(np.asarray(read_image(out / "cells_labels.tif")), theirs)
