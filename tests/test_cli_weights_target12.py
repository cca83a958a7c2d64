"""``napari-unet weights``: an output name of a format it cannot write is refused up front."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_unet.cli import main
from napari_unet.core.errors import InputError
from napari_unet.core.images.io import check_writable


def _labels() -> np.ndarray:
    labels = np.zeros((48, 56), np.uint16)
    labels[8:40, 6:28] = 3
    labels[8:40, 28:50] = 7
    return labels


@pytest.mark.parametrize(
    ("option", "name"),
    [("--target", "t.jpg"), ("--target", "t_nosuffix"), ("-o", "w.jpeg"), ("-o", "w")],
)
def test_an_unwritable_output_name_is_refused_before_the_work(
    tmp_path, capsys, monkeypatch, option, name
):
    """Before, the map was computed and written, then the target refused: the rerun with
    a good target name was refused as ``w.tif exists; pass --overwrite``."""
    from napari_unet.core.training import weightmap

    tifffile.imwrite(tmp_path / "cells.tif", _labels())
    computed = []
    real = weightmap.iter_target_and_weights
    monkeypatch.setattr(weightmap, "iter_target_and_weights",
                        lambda *a, **k: computed.append(1) or real(*a, **k))  # fmt: skip
    paths = {"-o": tmp_path / "w.tif", "--target": tmp_path / "t.tif"}
    paths[option] = tmp_path / name
    argv = ["weights", str(tmp_path / "cells.tif")]
    argv += [str(a) for opt, p in paths.items() for a in (opt, p)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / name}: cannot write format" in err and "Traceback" not in err
    assert not computed
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cells.tif"]  # nothing written
    # the rerun with good names goes through (no "exists; pass --overwrite")
    good = ["weights", str(tmp_path / "cells.tif"), "-o", str(tmp_path / "w.tif")]
    assert main([*good, "--target", str(tmp_path / "t.tif")]) == 0
    assert tifffile.imread(tmp_path / "w.tif").shape == _labels().shape


@pytest.mark.parametrize("name", ["x.jpg", "x.bmp", "x", "x.txt"])
def test_check_writable_refuses_a_format_write_image_cannot_write(tmp_path, name):
    with pytest.raises(InputError, match="cannot write format"):
        check_writable(tmp_path / name, np.zeros((4, 4), np.float32))


@pytest.mark.parametrize("name", ["x.tif", "x.TIFF", "x.zarr", "x.png"])
def test_check_writable_accepts_the_formats_written(tmp_path, name):
    check_writable(tmp_path / name, np.zeros((4, 4), np.uint8))
