"""``napari-unet slide`` in-process: a Zarr image to an OME-Zarr label pyramid, and its errors."""

from __future__ import annotations

import numpy as np
import pytest
import test_cli_predict

from napari_unet.cli import main

da = pytest.importorskip("dask.array")
zarr = pytest.importorskip("zarr")

pytestmark = pytest.mark.usefixtures("one_thread")

model_file = test_cli_predict.model_file  # the same tiny model file fixture


@pytest.fixture
def slide(tmp_path):
    from tiny_model import separate_discs

    image, _ = separate_discs(seed=4, size=192)  # 36 discs the tiny model finds
    path = tmp_path / "slide.zarr"
    da.from_array((np.clip(image, 0, 1) * 255).astype(np.uint8), chunks=64).to_zarr(str(path))
    return path


def test_slide_writes_labels_and_says_what_it_found(model_file, slide, tmp_path, capsys):
    out = tmp_path / "labels.zarr"
    args = ["slide", str(model_file), str(slide), "-o", str(out), "--block", "40"]
    assert main([*args, "--tile", "64"]) == 0, capsys.readouterr().err
    text = capsys.readouterr().out
    labels = zarr.open_group(str(out), mode="r")["0"][:]
    n = len(np.unique(labels)) - 1
    assert labels.shape == (192, 192) and n == 36  # discs cut by the blocks at 80 and 160 too
    assert f"({n} objects" in text and "25 blocks" in text
    assert main([*args, "--tile", "64"]) == 2  # exists
    assert "--overwrite" in capsys.readouterr().err


def test_slide_errors_are_one_line(model_file, slide, tmp_path, capsys):
    assert main(["slide", str(model_file), str(slide)]) == 2  # a plain array needs -o
    assert "output store" in capsys.readouterr().err
    assert main(["slide", str(model_file), str(tmp_path / "no.zarr"), "-o", "x.zarr"]) == 2
    assert "no such" in capsys.readouterr().err
    for bad in (["--workers", "-1"], ["--margin", "-3"], ["--block", "4"]):
        rc = main(["slide", str(model_file), str(slide), "-o", str(tmp_path / "o.zarr"), *bad])
        assert rc == 2 and "error:" in capsys.readouterr().err, bad
    with pytest.raises(SystemExit):  # one place to run: a scheduler or local workers
        main(["slide", str(model_file), str(slide), "--workers", "2", "--scheduler", "tcp://x:1"])
