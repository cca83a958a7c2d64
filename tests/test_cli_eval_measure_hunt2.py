"""``evaluate`` and ``measure``: OME-TIFF names, float label files, huge float ids, CSV order."""

from __future__ import annotations

import csv
import warnings

import numpy as np
import pytest
import tifffile

from napari_unet.cli import main
from napari_unet.cli._evaluate_inputs import match_files
from napari_unet.core.errors import InputError
from napari_unet.core.review.measure import measure_objects

BOXES = [(2, 12, 2, 12), (2, 12, 20, 30), (20, 30, 5, 15)]


def squares(boxes=BOXES, shape=(40, 40), dtype=np.uint16) -> np.ndarray:
    lab = np.zeros(shape, dtype=dtype)
    for k, (r0, r1, c0, c1) in enumerate(boxes):
        lab[r0:r1, c0:c1] = k + 1
    return lab


def _folder(path, files):
    path.mkdir()
    for name, data in files.items():
        tifffile.imwrite(path / name, data)
    return path


def test_evaluate_pairs_predicted_ome_labels_with_review_export(tmp_path, capsys):
    # predict names the labels of a.ome.tif a.ome_labels.tif; a review exports a_labels.tif
    preds = _folder(tmp_path / "preds", {"a.ome_labels.tif": squares()})
    gt = _folder(tmp_path / "gt", {"a_labels.tif": squares()})
    assert main(["evaluate", str(preds), str(gt)]) == 0
    out = capsys.readouterr()
    assert out.out.splitlines()[1].split()[:4] == ["a_labels", "3", "3", "1.0000"]
    assert "no prediction" not in out.err and "warning" not in out.err
    # and the other way round: a review export as PRED, predict's labels as GT
    assert main(["evaluate", str(gt), str(preds)]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[:4] == [
        "a.ome_labels", "3", "3", "1.0000",
    ]  # fmt: skip


def test_evaluate_model_form_pairs_ome_image_with_exported_labels(tmp_path):
    imgs = _folder(tmp_path / "imgs", {"a.ome.tif": squares(dtype=np.uint8)})
    gt = _folder(tmp_path / "gt", {"a_labels.tif": squares()})
    pairs, unused = match_files(
        [imgs / "a.ome.tif"], [gt / "a_labels.tif"], what="image", images=True
    )
    assert pairs == [("a_labels", imgs / "a.ome.tif", gt / "a_labels.tif")] and unused == []
    # labels exported beside the image: not an image to segment, not a ground truth
    tifffile.imwrite(imgs / "a_labels.tif", squares())
    pairs, unused = match_files(
        sorted(imgs.iterdir()), [gt / "a_labels.tif"], what="image", images=True
    )
    assert [p[1] for p in pairs] == [imgs / "a.ome.tif"] and unused == []
    pairs, _ = match_files([imgs / "a.ome.tif"], sorted(imgs.iterdir()), what="image", images=True)
    assert pairs == [("a_labels", imgs / "a.ome.tif", imgs / "a_labels.tif")]


def test_evaluate_ome_names_keep_the_label_ending_and_ambiguity_rules(tmp_path):
    # predicted into the images' folder: the labels are scored, the image is no prediction
    preds = _folder(tmp_path / "preds", {"a.ome_labels.tif": squares(), "a.ome.tif": squares()})
    gt = _folder(tmp_path / "gt", {"a_labels.tif": squares()})
    pairs, unused = match_files(sorted(preds.iterdir()), [gt / "a_labels.tif"])
    assert [p[1].name for p in pairs] == ["a.ome_labels.tif"] and unused == []
    # two label files that both answer to "a" are refused, not one chosen
    tifffile.imwrite(preds / "a.ome_masks.tif", squares())
    with pytest.raises(InputError, match="2 prediction files fit it"):
        match_files(sorted(preds.iterdir()), [gt / "a_labels.tif"])


def test_evaluate_reads_whole_float_labels_and_names_the_bad_file(tmp_path, capsys):
    pred, gt = tmp_path / "pred.tif", tmp_path / "gt_float32.tif"
    tifffile.imwrite(pred, squares())
    tifffile.imwrite(gt, squares().astype(np.float32), imagej=True)  # a Fiji 32-bit label image
    assert main(["evaluate", str(pred), str(gt)]) == 0
    assert capsys.readouterr().out.splitlines()[1].split()[1:4] == ["3", "3", "1.0000"]
    assert main(["evaluate", str(gt), str(pred)]) == 0  # as PRED too
    capsys.readouterr()
    frac = tmp_path / "gt_probabilities.tif"
    tifffile.imwrite(frac, squares().astype(np.float32) * 0.3)
    assert main(["evaluate", str(pred), str(frac)]) == 2
    err = capsys.readouterr().err
    assert "gt_probabilities.tif" in err and "fractional" in err
    assert "pred.tif" not in err


def test_measure_refuses_float_ids_beyond_exact_integers():
    labels = np.zeros((20, 20))
    labels[2:5, 2:5], labels[10:15, 10:15] = 1e19, 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # before: a RuntimeWarning from the cast
        with pytest.raises(InputError, match=r"2\*\*53") as info:
            measure_objects(labels)
    assert "negative" not in str(info.value) and "1e+19" in str(info.value)
    small = np.zeros((20, 20), dtype=np.float32)
    small[2:5, 2:5] = 2.0**24
    assert measure_objects(small)["label"].tolist() == [2**24]
    small[10:12, 10:12] = 2.0**24 + 2
    with pytest.raises(InputError, match=r"2\*\*24"):
        measure_objects(small)


def _header(path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as f:
        return next(csv.reader(f))


def test_measure_csv_puts_planes_after_image_when_a_2d_file_comes_first(tmp_path):
    flat, stack = tmp_path / "a_labels.tif", tmp_path / "b_labels.tif"
    tifffile.imwrite(flat, squares())
    tifffile.imwrite(stack, np.stack([squares(), squares(BOXES[:1])]))
    out, summary = tmp_path / "objects.csv", tmp_path / "summary.csv"
    assert main(["measure", str(flat), str(stack), "-o", str(out), "--summary", str(summary)]) == 0
    assert _header(summary)[:3] == ["image", "planes", "objects"]
    assert _header(out)[:4] == ["image", "plane", "label", "area"]
    with open(summary, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert [(r["image"], r["planes"], r["objects"]) for r in rows] == [
        ("a", "", "3"), ("b", "2", "4"),
    ]  # fmt: skip
