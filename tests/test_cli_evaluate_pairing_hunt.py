"""``evaluate``: the images of a folder of image/label pairs are no predictions, no ground truth."""

from __future__ import annotations

import numpy as np
import tifffile

from napari_unet.cli import main
from napari_unet.cli._evaluate_inputs import match_files

BOXES = [(2, 12, 2, 12), (2, 12, 20, 30), (20, 30, 5, 15)]


def squares(shape=(40, 40)) -> np.ndarray:
    lab = np.zeros(shape, dtype=np.uint16)
    for k, (r0, r1, c0, c1) in enumerate(BOXES):
        lab[r0:r1, c0:c1] = k + 1
    return lab


def grey(seed: int, shape=(40, 40)) -> np.ndarray:
    """A raw image: many grey levels, which read as ids would be many objects."""
    return np.random.default_rng(seed).integers(0, 200, shape, dtype=np.uint8)


def _folder(path, files):
    path.mkdir()
    for name, data in files.items():
        tifffile.imwrite(path / name, data)
    return path


def _rows(out: str) -> list[str]:
    """The names of the per-image rows of evaluate's table."""
    rows = []
    for line in out.splitlines()[1:]:
        if line.startswith("-"):
            break
        rows.append(line.split()[0])
    return rows


def test_image_not_predicted_in_its_folder_is_a_missing_prediction(tmp_path, capsys):
    # predict wrote a_labels.tif (and its probabilities) beside a.tif; b.tif was not predicted
    data = _folder(
        tmp_path / "data",
        {
            "a.tif": grey(0),
            "a_labels.tif": squares(),
            "a_probabilities.tif": np.zeros((40, 40), np.float32),
            "b.tif": grey(1),
        },
    )
    gt = _folder(tmp_path / "gt", {"a.tif": squares(), "b.tif": squares()})
    assert main(["evaluate", str(data), str(gt)]) == 2
    err = capsys.readouterr().err
    assert "error: no prediction for 1 ground-truth file(s): b.tif" in err
    # once b is predicted too, both are scored from their labels, never from the images
    tifffile.imwrite(data / "b_labels.tif", squares())
    assert main(["evaluate", str(data), str(gt)]) == 0
    out = capsys.readouterr()
    assert _rows(out.out) == ["a", "b"]
    assert out.out.splitlines()[1].split()[:4] == ["a", "3", "3", "1.0000"]
    assert "has no ground truth" not in out.err  # the images are no predictions
    assert "a_probabilities" in out.err  # predict's probabilities: noted as skipped


def test_image_without_mask_in_a_cellpose_folder_is_no_ground_truth(tmp_path, capsys):
    pred = _folder(tmp_path / "pred", {"A_labels.tif": squares(), "B_labels.tif": squares()})
    # a plain folder of ground truth (no label endings, or some): read as before
    plain = _folder(tmp_path / "plain", {"A.tif": squares(), "B_masks.tif": squares()})
    assert main(["evaluate", str(pred), str(plain)]) == 0
    assert _rows(capsys.readouterr().out) == ["A", "B_masks"]
    # Cellpose-style: A.tif beside A_masks.tif; B.tif not annotated yet
    data = _folder(
        tmp_path / "data", {"A.tif": grey(0), "A_masks.tif": squares(), "B.tif": grey(1)}
    )
    assert main(["evaluate", str(pred), str(data)]) == 0
    out = capsys.readouterr()
    assert _rows(out.out) == ["A_masks"]  # before: B scored against the raw image B.tif
    assert out.out.splitlines()[1].split()[:4] == ["A_masks", "3", "3", "1.0000"]
    assert "warning: B_labels has no ground truth; skipped" in out.err


def test_model_form_same_folder_skips_image_without_labels(tmp_path):
    # evaluate MODEL --images data --labels data: before, "the image and the ground truth
    # of B are the same file ... choose two files"
    data = _folder(
        tmp_path / "data", {"A.tif": grey(0), "A_masks.tif": squares(), "B.tif": grey(1)}
    )
    files = sorted(data.iterdir())
    pairs, unused = match_files(files, files, what="image", images=True)
    assert pairs == [("A_masks", data / "A.tif", data / "A_masks.tif")]
    assert unused == ["B"]
    # a folder of images and a plain folder of ground truth: all paired, as before
    gt = _folder(tmp_path / "gt", {"A.tif": squares(), "B.tif": squares()})
    pairs, unused = match_files(files, sorted(gt.iterdir()), what="image", images=True)
    assert [(p, g) for _, p, g in pairs] == [
        (data / "A.tif", gt / "A.tif"),
        (data / "B.tif", gt / "B.tif"),
    ]
    assert unused == []


def test_a_plainly_named_ground_truth_beside_pairs_is_named_as_taken_for_an_image(
    tmp_path, capsys
):
    # gt/c.tif (labels named like their image) beside a Cellpose pair is taken for an image:
    # its prediction is skipped, and the note says why and how to name it (a review).
    pred = _folder(tmp_path / "pred", {"a_labels.tif": squares(), "c_labels.tif": squares()})
    gt = _folder(
        tmp_path / "gt", {"a.tif": grey(1), "a_masks.tif": squares(), "c.tif": squares()}
    )
    assert main(["evaluate", str(pred), str(gt)]) == 0
    err = capsys.readouterr().err
    assert f"{gt / 'c.tif'} is taken for an image" in err and "c_masks.tif" in err
    assert "a.tif is taken" not in err  # an image beside its labels is no news
