"""``napari-unet weights`` on a stack: a bad setting is refused before a progress bar is drawn."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import tifffile

from napari_unet.cli import main
from napari_unet.cli import weights as weights_command


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--sigma", "0"], "sigma"),
        (["--gap", "-1"], "gap"),
        (["--class-weights", "1,2,3"], "2 finite numbers"),
        (["--mask", "MASK"], "same"),
    ],
)
def test_a_bad_setting_on_a_stack_is_refused_before_the_progress_bar(
    tmp_path, capsys, monkeypatch, extra, message
):
    bars = []

    def recording_bar(*args, **kwargs):
        bars.append(kwargs)
        return contextlib.nullcontext(None)

    monkeypatch.setattr(weights_command, "progress_bar", recording_bar)
    stack = np.zeros((3, 16, 16), np.uint16)
    stack[:, 4:10, 4:10] = 1
    tifffile.imwrite(tmp_path / "stack.tif", stack, photometric="minisblack")
    tifffile.imwrite(tmp_path / "m.tif", np.ones((16, 16), np.uint8))  # 2D, the stack is 3D
    extra = [str(tmp_path / "m.tif") if a == "MASK" else a for a in extra]
    out = tmp_path / "w.tif"
    assert main(["weights", str(tmp_path / "stack.tif"), "-o", str(out), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("napari-unet weights: error:") and message in err
    assert bars == [] and not out.exists()


def test_labels_with_a_samples_axis_take_a_mask_of_their_plane(tmp_path):
    """(Y, X, 1) labels and a (Y, X) mask: before, "the mask has shape (64, 80), but the
    labels have shape (64, 80, 1)"."""
    labels = np.zeros((64, 80, 1), np.uint16)
    labels[10:30, 10:30], labels[30:50, 30:60] = 1, 2
    tifffile.imwrite(tmp_path / "lab.tif", labels)
    mask = np.zeros((64, 80), np.uint8)
    mask[:, :40] = 1
    tifffile.imwrite(tmp_path / "mask.tif", mask)
    out = tmp_path / "w.tif"
    assert main(["weights", str(tmp_path / "lab.tif"), "-o", str(out),
                 "--mask", str(tmp_path / "mask.tif")]) == 0  # fmt: skip
    weights = tifffile.imread(out)
    assert weights.shape == (64, 80) and not weights[:, 40:].any() and weights[:, :40].all()
