"""A Zarr store with damaged metadata in a ``predict`` batch fails alone.

Before, the up-front check for label images read every store's metadata and the first
damaged ``.zarray``/``.zattrs`` stopped the whole batch: nothing was predicted.
"""

from __future__ import annotations

import numpy as np
import pytest
import zarr

from napari_unet import touching_cells, write_image
from napari_unet.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    from tiny_model import save_tiny, train_tiny

    return save_tiny(tmp_path_factory.mktemp("model"), *train_tiny("same", steps=150))


def _pixels(seed: int) -> np.ndarray:
    return (touching_cells((96, 96), n_cells=10, seed=seed)[0] * 255).astype(np.uint8)


def _ome(path, seed: int) -> None:
    g = zarr.open_group(str(path), mode="w", zarr_format=2)
    g.create_array("0", data=_pixels(seed), chunks=(64, 64))
    axes = [{"name": a, "type": "space", "unit": "micrometer"} for a in "yx"]
    g.attrs["multiscales"] = [{"version": "0.4", "axes": axes, "datasets": [{"path": "0",
        "coordinateTransformations": [{"type": "scale", "scale": [0.5, 0.5]}]}]}]  # fmt: skip


@pytest.fixture(params=[".zarray", ".zattrs"])
def folder(tmp_path, request):
    """``bad.zarr`` (a truncated metadata file, as a copy cut short), ``good.zarr``, ``t.tif``."""
    folder = tmp_path / "images"
    folder.mkdir()
    bad = folder / "bad.zarr"
    if request.param == ".zarray":
        bad.mkdir()
    else:  # an OME-Zarr image whose attributes were cut short
        _ome(bad, 3)
    (bad / request.param).write_text("{not json")
    _ome(folder / "good.zarr", 1)
    write_image(folder / "t.tif", _pixels(2))
    return folder


@pytest.mark.parametrize("by_name", [False, True])
def test_a_damaged_store_gets_its_error_line_and_the_others_are_predicted(
    model_file, folder, tmp_path, capsys, by_name
):
    out = tmp_path / "out"
    given = [folder / n for n in ("bad.zarr", "good.zarr", "t.tif")] if by_name else [folder]
    rc = main(["predict", str(model_file), *map(str, given), "-o", str(out)])
    captured = capsys.readouterr()
    assert rc == 2
    errors = [line for line in captured.err.splitlines() if ": error: " in line]
    assert len(errors) == 1 and "bad.zarr" in errors[0] and "damaged metadata" in errors[0]
    assert "1 of 3 inputs failed (bad.zarr); the others were written" in captured.err
    assert sorted(p.name for p in out.iterdir()) == ["good_labels.zarr", "t_labels.tif"]
    assert "good.zarr ->" in captured.out and "t.tif ->" in captured.out


def test_a_label_image_given_by_name_is_still_refused_before_any_work(
    model_file, folder, tmp_path, capsys
):
    label = folder / "good.zarr" / "labels" / "cells"
    _ome(label, 4)
    zarr.open_group(str(label), mode="r+").attrs["image-label"] = {"version": "0.4"}
    out = tmp_path / "out"
    rc = main(["predict", str(model_file), str(folder / "t.tif"), str(label), "-o", str(out)])
    captured = capsys.readouterr()
    assert rc == 2
    assert "is a label image of" in captured.err
    assert "->" not in captured.out and not out.exists()
