"""The docks call the same things by the same names (the UX audit of the dock vocabulary).

A user who learns a word in one dock finds it in the next: the picker of their painted
cells is "annotations" in Train, Weight map and Live (not "labels" in two of them), the
region picker is "annotated region" everywhere and its no-region choice "(whole image)",
Evaluate scores against "ground truth", and the command's ``weights`` takes ``--region``
as the docks say it (``--mask`` still works).
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from qtpy.QtWidgets import QLabel, QToolButton

from napari_unet.cli import main
from napari_unet.widgets.live import LiveWidget
from napari_unet.widgets.predict import PredictWidget
from napari_unet.widgets.train import TrainWidget
from napari_unet.widgets.weightmap import WeightMapWidget


def _field_names(dock) -> set[str]:
    """The field names the dock shows (its QLabels), as the user reads them."""
    return {label.text().strip() for label in dock.native.findChildren(QLabel)}


def _items(combo) -> list[str]:
    """The texts of a picker's choices, in the order shown."""
    native = combo.native
    return [native.itemText(i) for i in range(native.count())]


@pytest.fixture
def docks(make_napari_viewer):
    """Train, Weight map, Predict (with its Evaluate section) and Live on one viewer."""
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((32, 32), np.float32), name="cells")
    viewer.add_labels(np.zeros((32, 32), np.uint32), name="cells annotations")
    found = {}
    for name, cls in (("train", TrainWidget), ("weightmap", WeightMapWidget),
                      ("predict", PredictWidget), ("live", LiveWidget)):  # fmt: skip
        found[name] = cls(viewer)
        viewer.window.add_dock_widget(found[name], name=name)
    found["evaluate"] = found["predict"]._evaluate.panel
    return found


def test_the_users_labels_are_annotations_in_every_dock(docks):
    for name in ("train", "weightmap", "live"):
        shown = _field_names(docks[name])
        assert "annotations" in shown, (name, sorted(shown))
        assert "labels" not in shown, (name, sorted(shown))
    assert "val annotations" in _field_names(docks["train"])


def test_the_region_picker_has_one_name_and_one_whole_image_choice(docks):
    pickers = {
        "train": docks["train"]._region,
        "evaluate": docks["evaluate"]._region,
        "weightmap": docks["weightmap"]._mask,
        "live": docks["live"]._annotated_box,
    }
    for name, picker in pickers.items():
        assert picker.label == "annotated region", (name, picker.label)
    for name in ("train", "evaluate", "weightmap"):
        assert _items(pickers[name])[0] == "(whole image)", (name, _items(pickers[name]))
    assert "annotated region" in _field_names(docks["train"])


def test_predict_says_areas_foreground_and_built_in(docks):
    predict = docks["predict"]
    assert predict._min_size.label == "min area (px²)"
    assert "min area (px²)" in _field_names(predict)
    assert "foreground probability" in predict._probabilities.tooltip
    assert "class probabilities" not in predict._probabilities.tooltip
    assert "nuclei (built-in)" in _items(predict._source)
    assert "nuclei (built-in)" in _items(docks["live"]._model)
    assert not [t for t in _items(predict._source) if "starter" in t]


def test_evaluate_section_says_ground_truth(docks):
    titles = [b.text() for b in docks["predict"].native.findChildren(QToolButton)]
    assert "Evaluate against ground truth" in titles, titles
    assert "ground truth" in docks["predict"]._evaluate._button.toolTip()


def _weights(argv) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse refuses an unknown flag
        return exc.code


def test_weights_takes_region_and_still_mask(tmp_path):
    labels = np.zeros((32, 40), np.uint16)
    labels[4:20, 4:20], labels[4:20, 20:36] = 1, 2
    mask = np.zeros(labels.shape, np.uint8)
    mask[:, :24] = 1
    tifffile.imwrite(tmp_path / "cells.tif", labels)
    tifffile.imwrite(tmp_path / "region.tif", mask)
    outputs = {}
    for flag in ("--region", "--mask"):
        out = tmp_path / f"w{flag.strip('-')}.tif"
        argv = ["weights", str(tmp_path / "cells.tif"), "-o", str(out),
                flag, str(tmp_path / "region.tif")]  # fmt: skip
        assert _weights(argv) == 0, flag
        outputs[flag] = tifffile.imread(out)
    np.testing.assert_array_equal(outputs["--region"], outputs["--mask"])
    assert np.all(outputs["--region"][:, 24:] == 0)  # the region was applied
