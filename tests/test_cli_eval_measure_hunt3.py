"""``evaluate`` and ``measure`` on what ``predict`` writes and on (Y, X, 1) label files."""

from __future__ import annotations

import csv

import numpy as np
import tifffile

from napari_unet.cli import main


def _cells(shape=(30, 40)) -> np.ndarray:
    lab = np.zeros(shape, np.uint16)
    lab[2:10, 3:12] = 5
    lab[15:25, 20:35] = 9
    return lab


def test_the_summary_of_a_label_file_with_a_samples_axis_counts_no_planes(tmp_path):
    # A (Y, X, 1) TIFF is one 2D image: the objects were measured as such, and the summary
    # said planes = 30 (its height).
    path = tmp_path / "cells_labels.tif"
    tifffile.imwrite(path, _cells()[..., None], photometric="minisblack")
    out, summary = tmp_path / "objects.csv", tmp_path / "summary.csv"
    assert main(["measure", str(path), "-o", str(out), "--summary", str(summary)]) == 0
    rows = list(csv.DictReader(summary.open()))
    assert len(rows) == 1 and "planes" not in rows[0]
    assert rows[0]["objects"] == "2"
    assert "plane" not in next(csv.reader(out.open()))


def test_a_stack_summary_still_counts_its_planes(tmp_path):
    path = tmp_path / "stack_labels.tif"
    tifffile.imwrite(path, np.stack([_cells(), _cells(), np.zeros((30, 40), np.uint16)]))
    summary = tmp_path / "summary.csv"
    out = tmp_path / "objects.csv"
    assert main(["measure", str(path), "-o", str(out), "--summary", str(summary)]) == 0
    assert next(csv.DictReader(summary.open()))["planes"] == "3"


def test_evaluate_skips_the_probability_files_of_predict_with_a_note(tmp_path, capsys):
    # predict --probabilities writes NAME_probabilities.tif beside NAME_labels.tif; before,
    # evaluate warned it "has no ground truth", as if a ground-truth file were missing.
    pred, gt = tmp_path / "pred", tmp_path / "gt"
    pred.mkdir(), gt.mkdir()
    tifffile.imwrite(gt / "cells.tif", _cells())
    tifffile.imwrite(pred / "cells_labels.tif", _cells())
    tifffile.imwrite(pred / "cells_probabilities.tif", (_cells() > 0).astype(np.float32))
    tifffile.imwrite(pred / "other_labels.tif", _cells())  # this one has no ground truth
    assert main(["evaluate", str(pred), str(gt)]) == 0
    err = capsys.readouterr().err
    assert "note: skipping 1 probability file(s) (cells_probabilities...)" in err
    assert "cells_probabilities has no ground truth" not in err
    assert "warning: other_labels has no ground truth; skipped" in err


def test_evaluate_reads_a_label_file_with_a_samples_axis_as_one_plane(tmp_path, capsys):
    # measure read it as 2D; evaluate refused it: "shape (30, 40, 1) but ... (30, 40)".
    pred, gt = tmp_path / "cells_labels.tif", tmp_path / "cells.tif"
    tifffile.imwrite(pred, _cells()[..., None], photometric="minisblack")
    tifffile.imwrite(gt, _cells())
    assert main(["evaluate", str(pred), str(gt), "--per-plane"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[1:4] == ["2", "2", "1.0000"] and lines[2].startswith("---")
