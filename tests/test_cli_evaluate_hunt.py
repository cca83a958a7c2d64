"""``napari-unet evaluate``: OME-Zarr channel axes, JPEG labels, labels beside their images."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from PIL import Image
from test_cli_evaluate import THREE, squares  # the same three squares

from napari_unet import evaluate
from napari_unet.cli import main
from napari_unet.core.errors import InputError


def ome_zarr(path, labels: np.ndarray, channels: int = 1) -> None:
    """An NGFF 0.4 image of axes t, c, z, y, x (as bioformats2raw writes them)."""
    zarr = pytest.importorskip("zarr")
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    data = np.stack([labels] * channels)[None, :, None]
    array = group.create_array("0", shape=data.shape, dtype=data.dtype)
    array[:] = data
    names = [("t", "time"), ("c", "channel"), ("z", "space"), ("y", "space"), ("x", "space")]
    group.attrs["multiscales"] = [{
        "version": "0.4",
        "axes": [{"name": n, "type": t} for n, t in names],
        "datasets": [{"path": "0", "coordinateTransformations": [
            {"type": "scale", "scale": [1.0] * 5}]}],
    }]  # fmt: skip


def rows(out: str) -> list[list[str]]:
    """The per-image rows of the table (before the dashes)."""
    lines = out.splitlines()
    end = next(k for k, line in enumerate(lines) if line.startswith("---"))
    return [line.split() for line in lines[1:end]]


def test_omezarr_labels_with_a_channel_axis_of_one_are_2d(tmp_path, capsys):
    gt, pred = squares(THREE), squares(THREE[:2])
    ome_zarr(tmp_path / "gt.zarr", gt)
    ome_zarr(tmp_path / "pred.zarr", pred)
    tifffile.imwrite(tmp_path / "pred.tif", pred)
    # per plane: one 2D image (before, each of its 40 rows was scored as a plane)
    args = ["evaluate", str(tmp_path / "pred.zarr"), str(tmp_path / "gt.zarr"), "--per-plane"]
    assert main(args) == 0
    assert [r[:4] for r in rows(capsys.readouterr().out)] == [["pred.zarr", "3", "2", "0.6667"]]
    # against a 2D TIFF (before: a shape mismatch, (40, 40) against (40, 40, 1))
    assert main(["evaluate", str(tmp_path / "pred.tif"), str(tmp_path / "gt.zarr")]) == 0
    assert [r[:4] for r in rows(capsys.readouterr().out)] == [["pred.tif", "3", "2", "0.6667"]]


def test_omezarr_labels_with_several_channels_are_refused(tmp_path, capsys):
    ome_zarr(tmp_path / "gt.zarr", squares(THREE), channels=2)
    tifffile.imwrite(tmp_path / "pred.tif", squares(THREE))
    assert main(["evaluate", str(tmp_path / "pred.tif"), str(tmp_path / "gt.zarr")]) == 2
    captured = capsys.readouterr()
    assert "gt.zarr: the file holds several channels, shape (40, 40, 2)" in captured.err
    assert captured.out == "" and captured.err.count("\n") == 1


@pytest.mark.parametrize("suffix", [".jpg", ".JPEG"])
def test_jpeg_label_files_are_refused_on_either_side(tmp_path, capsys, suffix):
    gt = squares(THREE)
    tifffile.imwrite(tmp_path / "truth.tif", gt)
    Image.fromarray(gt.astype(np.uint8)).save(tmp_path / f"pred{suffix}", format="JPEG")
    Image.fromarray(gt.astype(np.uint8)).save(tmp_path / f"gt{suffix}", format="JPEG")
    for pred, truth in [(f"pred{suffix}", "truth.tif"), ("truth.tif", f"gt{suffix}")]:
        assert main(["evaluate", str(tmp_path / pred), str(tmp_path / truth)]) == 2
        captured = capsys.readouterr()
        assert "JPEG is lossy and changes the ids" in captured.err
        assert "save labels as PNG or TIFF" in captured.err and captured.out == ""


def test_a_jpeg_in_a_folder_is_refused_before_any_image_is_scored(tmp_path, capsys):
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    gt = squares(THREE)
    for name in ("a", "b"):
        tifffile.imwrite(tmp_path / "pred" / f"{name}.tif", gt)
    tifffile.imwrite(tmp_path / "gt" / "a.tif", gt)
    Image.fromarray(gt.astype(np.uint8)).save(tmp_path / "gt" / "b.jpg", quality=95)
    assert main(["evaluate", str(tmp_path / "pred"), str(tmp_path / "gt")]) == 2
    captured = capsys.readouterr()
    assert "b.jpg: a JPEG label image is refused" in captured.err and captured.out == ""


def _fake_model(tmp_path, monkeypatch):
    """A model file whose 'segmentation' gives the three squares."""
    from napari_unet.core.inference import segment as segment_module
    from napari_unet.core.models import modelfile

    model = tmp_path / "m.safetensors"
    model.write_bytes(b"\0" * 16)
    segmented = []

    def fake_segment(m, image, metadata=None, **settings):
        segmented.append(image)
        return squares(THREE)

    monkeypatch.setattr(modelfile, "load_model", lambda path, device="cpu": ("M", {}))
    monkeypatch.setattr(segment_module, "segment", fake_segment)
    return model, segmented


def test_labels_in_the_folder_of_their_images(tmp_path, capsys, monkeypatch):
    """Cellpose's layout: t.tif and t_masks.tif in one folder, for either form."""
    data = tmp_path / "data"
    data.mkdir()
    image = np.full((40, 40), 0.25, np.float32)
    tifffile.imwrite(data / "t.tif", image)
    tifffile.imwrite(data / "t_masks.tif", squares(THREE))
    model, segmented = _fake_model(tmp_path, monkeypatch)
    args = ["evaluate", str(model), "--images", str(data), "--labels", str(data)]
    assert main(args) == 0  # before: "... fits two ground-truth files; rename one of them"
    captured = capsys.readouterr()
    assert [r[:4] for r in rows(captured.out)] == [["t_masks", "3", "3", "1.0000"]]
    assert len(segmented) == 1 and np.array_equal(segmented[0], image)
    assert "warning" not in captured.err
    preds = tmp_path / "preds"
    preds.mkdir()
    tifffile.imwrite(preds / "t_labels.tif", squares(THREE[:2]))
    assert main(["evaluate", str(preds), str(data)]) == 0  # PRED GT: the same
    assert [r[:4] for r in rows(capsys.readouterr().out)] == [["t_masks", "3", "2", "0.6667"]]


def test_an_image_beside_its_predicted_labels_is_not_called_unscored(tmp_path, capsys):
    """predict wrote a_labels.tif beside a.tif in PRED: a_labels is scored, a is no result."""
    (tmp_path / "pred").mkdir()
    (tmp_path / "gt").mkdir()
    tifffile.imwrite(tmp_path / "pred" / "a.tif", np.full((40, 40), 7, np.uint16))
    tifffile.imwrite(tmp_path / "pred" / "a_labels.tif", squares(THREE[:2]))
    tifffile.imwrite(tmp_path / "pred" / "c.tif", squares(THREE))  # no truth: warned
    tifffile.imwrite(tmp_path / "gt" / "a.tif", squares(THREE))
    assert main(["evaluate", str(tmp_path / "pred"), str(tmp_path / "gt")]) == 0
    captured = capsys.readouterr()
    assert [r[:4] for r in rows(captured.out)] == [["a", "3", "2", "0.6667"]]
    assert "warning: a has no ground truth" not in captured.err
    assert "warning: c has no ground truth; skipped" in captured.err


def test_one_number_is_one_threshold():
    a = squares(THREE)
    for one in (0.5, np.float32(0.5), 0):
        result = evaluate(a, a, thresholds=one)  # before: TypeError, 'float' not iterable
        assert [p["threshold"] for p in result["per_threshold"]] == [float(one)]
        assert result["ap"] == 1.0
    for bad in ("0.5", None, [0.5, "x"], object(), True):
        with pytest.raises(InputError, match="a number or a list of numbers"):
            evaluate(a, a, thresholds=bad)
    with pytest.raises(InputError, match=r"in \[0, 1\)"):
        evaluate(a, a, thresholds=1.5)
