"""``napari-unet weights``: a (Y, X, 1) region is read as its plane, a 0/255 mask is refused as
``train`` refuses it, and negative ids of a Zarr stack are refused before any progress bar."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import tifffile

from napari_unet import target_and_weights, touching_cells
from napari_unet.cli import main
from napari_unet.cli import weights as weights_command


@pytest.fixture
def bars(monkeypatch):
    """The progress bars the command draws (none is drawn for refused input)."""
    drawn = []

    def recording_bar(*args, **kwargs):
        drawn.append(kwargs)
        return contextlib.nullcontext(None)

    monkeypatch.setattr(weights_command, "progress_bar", recording_bar)
    return drawn


def test_a_region_saved_with_a_samples_axis_is_read_as_its_plane(tmp_path, capsys):
    _, labels = touching_cells((48, 48), n_cells=6, seed=3)
    region = np.zeros((48, 48), np.uint8)
    region[:30, :30] = 1
    tifffile.imwrite(tmp_path / "lab.tif", labels[..., None])  # both (Y, X, 1)
    tifffile.imwrite(tmp_path / "region.tif", region[..., None])
    out = tmp_path / "w.tif"
    args = ["weights", str(tmp_path / "lab.tif"), "-o", str(out), "--region"]
    assert main([*args, str(tmp_path / "region.tif")]) == 0, capsys.readouterr().err
    expected = target_and_weights(labels, mask=region.astype(bool))[1]
    np.testing.assert_allclose(tifffile.imread(out), expected)


def test_a_0_255_mask_is_refused_as_train_refuses_it(tmp_path, capsys):
    _, labels = touching_cells((48, 48), n_cells=6, seed=3)
    mask = np.zeros((48, 48), np.uint8)
    for y, x in ((5, 5), (5, 30), (30, 5), (30, 30)):
        mask[y : y + 8, x : x + 8] = 255  # four separate nuclei of one id, as Fiji saves them
    tifffile.imwrite(tmp_path / "mask.tif", mask)
    out = tmp_path / "w.tif"
    assert main(["weights", str(tmp_path / "mask.tif"), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "mask.tif: a mask (the one id 255 covers 4 separate objects)" in err
    assert "label the mask first" in err and not out.exists()
    tifffile.imwrite(tmp_path / "lab.tif", labels)  # real labels still go through
    assert main(["weights", str(tmp_path / "lab.tif"), "-o", str(out)]) == 0


def _zarr_stack(path, stack):
    zarr = pytest.importorskip("zarr")
    store = zarr.open(str(path), mode="w", shape=stack.shape, dtype=stack.dtype,
                      chunks=(1, *stack.shape[1:]))  # fmt: skip
    store[:] = stack


def test_negative_ids_in_a_zarr_stack_are_refused_before_the_progress_bar(tmp_path, capsys, bars):
    _, labels = touching_cells((32, 32), n_cells=4, seed=1)
    stack = np.stack([labels.astype(np.int32)] * 4)
    stack[3, 0, 0] = -5  # in the last plane: before, refused after three planes were computed
    _zarr_stack(tmp_path / "neg.zarr", stack)
    out = tmp_path / "w.tif"
    assert main(["weights", str(tmp_path / "neg.zarr"), "-o", str(out)]) == 2
    assert "negative labels (min -5)" in capsys.readouterr().err
    assert bars == [] and not out.exists()


def test_a_zarr_stack_of_masks_is_refused_and_real_labels_go_through(tmp_path, capsys, bars):
    mask = np.zeros((2, 32, 32), np.uint8)
    for y, x in ((2, 2), (2, 20), (20, 2)):
        mask[:, y : y + 6, x : x + 6] = 255
    _zarr_stack(tmp_path / "mask.zarr", mask)
    out = tmp_path / "w.tif"
    assert main(["weights", str(tmp_path / "mask.zarr"), "-o", str(out)]) == 2
    assert "covers 3 separate objects" in capsys.readouterr().err and bars == []
    _, labels = touching_cells((32, 32), n_cells=4, seed=1)
    _zarr_stack(tmp_path / "lab.zarr", np.stack([labels.astype(np.int32)] * 2))
    assert main(["weights", str(tmp_path / "lab.zarr"), "-o", str(out)]) == 0
    assert tifffile.imread(out).shape == (2, 32, 32)
