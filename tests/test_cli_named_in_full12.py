"""``evaluate`` and ``measure`` on label files a review named in full (``cells.tif_labels.tif``).

The Review dock names the files of ``cells.tif`` in full when ``cells.png`` had the stem
``cells`` (docs/review.md): ``cells.tif_labels.tif`` is the labels of ``cells.tif``,
``cells_labels.tif`` those of ``cells.png``. Before, evaluate scored ``gt/cells.tif`` against
``cells_labels.tif`` (AP 0) or found no prediction, and measure found no image ``cells.tif``.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest
import tifffile

from napari_unet.cli import main
from napari_unet.cli._evaluate_inputs import match_files
from napari_unet.core.errors import InputError


def squares(n: int, shape=(40, 40)) -> np.ndarray:
    """``n`` objects of 6 x 6 pixels in a row."""
    lab = np.zeros(shape, dtype=np.uint16)
    for k in range(n):
        lab[2 + 8 * k : 8 + 8 * k, 2:8] = k + 1
    return lab


A, B = squares(2), squares(4)  # the labels of cells.png, of cells.tif


def _write(folder, files):
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        if name.endswith(".tif"):
            tifffile.imwrite(folder / name, data)
        else:
            _png(folder / name, data)
    return folder


def _png(path, data):
    from PIL import Image

    Image.fromarray(data.astype(np.uint8)).save(path)


def _rows(out: str) -> dict[str, list[str]]:
    lines = [line.split() for line in out.splitlines()[1:] if line.strip() and line[0] != "-"]
    return {words[0]: words[1:] for words in lines}


def test_review_named_in_full_evaluates_against_its_own_labels(tmp_path, capsys):
    """The hunter's steps, end to end: a review, an image of the same stem, an export."""
    from napari_unet.core.review.export import export_review
    from napari_unet.core.review.session import Review

    images, out = tmp_path / "images", tmp_path / "out"
    _write(images, {"cells.png": A * 40})
    review = Review([images], out)
    review.save_labels("cells.png", A)
    review.set_status("cells.png", "accepted")
    review.save()
    (images / "cells.png").unlink()
    _write(images, {"cells.tif": (B * 40).astype(np.uint8)})
    review = Review([images], out)
    review.save_labels("cells.tif", B)
    review.set_status("cells.tif", "accepted")
    review.save()
    export_review(review)
    assert (out / "labels" / "cells.tif_labels.tif").exists()  # named in full
    gt = _write(tmp_path / "gt", {"cells.tif": B})

    assert main(["evaluate", str(out / "labels"), str(gt)]) == 0
    got = capsys.readouterr()
    assert _rows(got.out)["cells.tif"][:3] == ["4", "4", "1.0000"]  # before: AP 0 against A
    assert "cells_labels has no ground truth" in got.err
    assert "cells.tif_labels has no ground truth" not in got.err
    assert "cells_labels.tif is of another image" in got.err  # said, not silent

    assert main(["evaluate", str(out / "export" / "labels"), str(gt)]) == 0  # before: refused
    assert _rows(capsys.readouterr().out)["cells.tif"][:3] == ["4", "4", "1.0000"]

    csv_path = tmp_path / "objects.csv"
    args = ["measure", str(out / "export" / "labels"), "--images", str(images), "-o"]
    assert main([*args, str(csv_path)]) == 0
    got = capsys.readouterr()
    assert "note" not in got.err  # by name, not by how names begin
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and {r["image"] for r in rows} == {"cells.tif"}
    assert float(rows[0]["mean_intensity"]) == 40.0  # the intensities of cells.tif


def test_measure_output_labels_names_the_image_each_file_belongs_to(tmp_path, capsys):
    labels = _write(tmp_path / "labels", {"cells.tif_labels.tif": B, "cells_labels.tif": A})
    images = _write(tmp_path / "images", {"cells.tif": B * 10})
    csv_path = tmp_path / "o.csv"
    # cells_labels.tif is of cells.png, not given: stopped, naming why (before: "no image
    # named 'cells.tif'" though images/cells.tif is there)
    code = main(["measure", str(labels), "--images", str(images), "-o", str(csv_path)])
    err = capsys.readouterr().err
    assert code != 0 and "cells_labels.tif: no image named 'cells'" in err
    assert "is the image of cells.tif_labels.tif" in err and "Traceback" not in err
    # with cells.png there too, each goes with its own image (before: "two images are named")
    _write(images, {"cells.png": A * 20})
    assert main(["measure", str(labels), "--images", str(images), "-o", str(csv_path)]) == 0
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    means = {(r["image"], float(r["mean_intensity"])) for r in rows}
    assert means == {("cells.tif", 10.0), ("cells.tif", 20.0), ("cells.tif", 30.0),
                     ("cells.tif", 40.0), ("cells", 20.0), ("cells", 40.0)}  # fmt: skip


def test_measure_never_pairs_labels_named_in_full_with_another_image(tmp_path, capsys):
    labels = _write(tmp_path / "labels", {"cells.tif_labels.tif": B})
    images = _write(tmp_path / "images", {"cells.png": A * 20})  # same stem, another image
    code = main(["measure", str(labels), "--images", str(images), "-o", str(tmp_path / "o.csv")])
    err = capsys.readouterr().err
    assert code != 0 and "no image named 'cells.tif'" in err  # before: paired by its prefix


def test_measure_folder_with_labels_named_in_full_beside_the_image(tmp_path, capsys):
    folder = _write(tmp_path / "data", {"cells.tif": B * 10, "cells.tif_labels.tif": B})
    csv_path = tmp_path / "o.csv"
    assert main(["measure", str(folder), "-o", str(csv_path)]) == 0
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    # the labels measured with the image's intensities; the image is no label file
    assert len(rows) == 4 and {r["image"] for r in rows} == {"cells.tif"}
    assert "mean_intensity" in rows[0]


def test_evaluate_pairs_two_images_of_one_stem_by_whole_name(tmp_path, capsys):
    preds = _write(tmp_path / "preds", {"cells.tif_labels.tif": B, "cells_labels.tif": A})
    gt = _write(tmp_path / "gt", {"cells.tif": B, "cells.png": A})
    assert main(["evaluate", str(preds), str(gt)]) == 0  # before: "two ... named 'cells'"
    rows = _rows(capsys.readouterr().out)
    assert rows["cells"][:3] == ["2", "2", "1.0000"]
    assert rows["cells.tif"][:3] == ["4", "4", "1.0000"]


def test_evaluate_says_when_it_cannot_tell_the_labels_of_a_ground_truth(tmp_path):
    preds = _write(tmp_path / "preds", {"cells.tif_labels.tif": B})
    gt = _write(tmp_path / "gt", {"cells.png": A})  # cells.png: not the image cells.tif
    with pytest.raises(InputError, match=r"cells.tif_labels.tif holds the labels of the image"):
        match_files([preds / "cells.tif_labels.tif"], [gt / "cells.png"])
    # a stem-named file still pairs with any suffix, as before
    pairs, unused = match_files([preds / "cells.tif_labels.tif", tmp_path / "x_labels.tif"],
                                [tmp_path / "x.png"])  # fmt: skip
    assert pairs == [("x", tmp_path / "x_labels.tif", tmp_path / "x.png")]
    assert unused == ["cells.tif_labels"]


def test_evaluate_model_form_pairs_ground_truth_named_in_full(tmp_path):
    imgs = _write(tmp_path / "imgs", {"cells.tif": B * 10, "other.tif": A * 10})
    gt = _write(tmp_path / "gt", {"cells.tif_masks.tif": B, "other_masks.tif": A})
    pairs, unused = match_files(sorted(imgs.iterdir()), sorted(gt.iterdir()), "image",
                                images=True)  # fmt: skip
    assert [(p.name, g.name) for _, p, g in pairs] == [
        ("cells.tif", "cells.tif_masks.tif"), ("other.tif", "other_masks.tif"),
    ]  # fmt: skip
    assert unused == []


def test_measure_still_pairs_an_image_whose_stem_ends_in_a_suffix(tmp_path, capsys):
    # predict names the labels of cells.tif.tif cells.tif_labels.tif: its stem, as before
    labels = _write(tmp_path / "labels", {"cells.tif_labels.tif": B})
    images = _write(tmp_path / "images", {"cells.tif.tif": B * 10})
    csv_path = tmp_path / "o.csv"
    assert main(["measure", str(labels), "--images", str(images), "-o", str(csv_path)]) == 0
    with open(csv_path, newline="") as f:
        assert {r["image"] for r in csv.DictReader(f)} == {"cells.tif"}
