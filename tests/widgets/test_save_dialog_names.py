"""Names typed in the docks' save dialogs, and the file each save then writes.

A name typed without the filter's suffix gets it (before: a ValueError traceback); a file
that the name with its suffix added names is replaced only when the user says so (before:
``lab-model.v2`` replaced ``lab-model.v2.safetensors`` unasked, Qt having asked only
about ``lab-model.v2``); an Export never suggests or replaces the package the model was
opened from, and carries that package's name, authors and licence.
"""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from napari_unet.widgets import _exporting, _saving
from napari_unet.widgets.predict import PredictWidget

TIFF = "TIFF (*.tif *.tiff)"


def _dialog_answers(monkeypatch, path, chosen: str) -> None:
    """The save dialog returns ``path`` with the filter ``chosen``."""
    from qtpy.QtWidgets import QFileDialog

    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(path), chosen))


@pytest.fixture
def replace_question(monkeypatch):
    """The files the "replace?" question asked about; ``answer`` (a list) is the reply."""
    asked, answer = [], [False]

    def confirm(parent, path):
        asked.append(path)
        return answer[0]

    monkeypatch.setattr(_saving, "confirm_replace", confirm, raising=False)
    return asked, answer


NAMES = [  # typed, the filter chosen, the dialog's filters, the file then written
    ("cells", TIFF, _saving.LABEL_FILTERS, "cells.tif"),
    ("cells", "Zarr store (*.zarr)", _saving.LABEL_FILTERS, "cells.zarr"),
    ("cells.zarr", TIFF, _saving.LABEL_FILTERS, "cells.zarr"),  # a suffix of the dialog
    ("cells.TIF", TIFF, _saving.LABEL_FILTERS, "cells.TIF"),
    ("lab-model.v2", _saving.MODEL_FILTER, _saving.MODEL_FILTER, "lab-model.v2.safetensors"),
    ("shared", _exporting.PACKAGE_FILTER, _exporting.PACKAGE_FILTER, "shared.zip"),
]


def test_a_name_typed_without_its_suffix_gets_the_filters(monkeypatch, qtbot, tmp_path):
    for typed, chosen, filters, written in NAMES:
        _dialog_answers(monkeypatch, tmp_path / typed, chosen)
        assert _saving.ask_path(None, "Save", tmp_path / "x", filters) == tmp_path / written


def test_the_predict_dock_saves_a_segmentation_named_without_suffix(
    make_napari_viewer, qtbot, tiny, tmp_path, monkeypatch, run_predict
):
    import tifffile

    from napari_unet import touching_cells

    viewer = make_napari_viewer()
    dock = PredictWidget(viewer)
    viewer.window.add_dock_widget(dock, name="Predict")
    dock.set_model(*tiny, name="tiny")
    dock._image.value = viewer.add_image(touching_cells((96, 96), n_cells=8, seed=5)[0])
    run_predict(dock)
    _dialog_answers(monkeypatch, tmp_path / "cells", TIFF)
    dock._save_labels.native.click()
    qtbot.waitUntil(lambda: dock._status.value.startswith(("Saved", "Error")), timeout=30_000)
    saved = tmp_path / "cells.tif"
    assert saved.is_file(), dock._status.value
    layer = viewer.layers[-1]
    assert np.array_equal(tifffile.imread(saved), np.asarray(layer.data))


def test_saving_a_model_asks_before_replacing_the_file_its_suffix_names(
    make_napari_viewer, qtbot, tiny, tmp_path, monkeypatch, replace_question
):
    import copy

    import torch

    from napari_unet import save_model

    other = save_model(tmp_path / "lab-model.v2.safetensors", tiny[0], **tiny[1])
    before = other.read_bytes()
    zeroed = copy.deepcopy(tiny[0])
    with torch.no_grad():
        for p in zeroed.parameters():
            p.zero_()
    dock = PredictWidget(make_napari_viewer())
    dock.set_model(zeroed, tiny[1], name="new run")
    _dialog_answers(monkeypatch, tmp_path / "lab-model.v2", _saving.MODEL_FILTER)
    asked, answer = replace_question
    dock._save_model.native.click()  # "No": nothing is written
    assert asked == [other]
    assert other.read_bytes() == before
    assert not dock._status.value.startswith("Saved")
    answer[0] = True
    dock._save_model.native.click()  # "Yes": replaced
    assert asked == [other, other]
    assert other.read_bytes() != before
    assert dock._status.value == f"Saved the model to {other}"


def test_export_asks_before_replacing_the_package_its_suffix_names(
    make_napari_viewer, tiny, tmp_path, monkeypatch, replace_question
):
    pytest.importorskip("bioimageio.core")
    existing = tmp_path / "shared.zip"
    existing.write_bytes(b"another package")
    dock = PredictWidget(make_napari_viewer())
    dock.set_model(*tiny, name="tiny")
    _dialog_answers(monkeypatch, tmp_path / "shared", _exporting.PACKAGE_FILTER)
    assert dock._exporter.run() is None  # answered No: not exported
    assert replace_question[0] == [existing]
    assert existing.read_bytes() == b"another package"


@pytest.fixture(scope="module")
def lab_package(tiny, tmp_path_factory):
    """A package exported with its own name, authors and licence."""
    pytest.importorskip("bioimageio.core")
    from napari_unet import export_bioimageio

    folder = tmp_path_factory.mktemp("lab")
    return export_bioimageio(
        tiny, folder / "lab-model.zip", name="Lab nuclei v3", authors=["Ada Lovelace"],
        license="CC-BY-4.0", weight_formats=("pytorch_state_dict",),
    )  # fmt: skip


def _rdf(path) -> dict:
    import yaml

    with zipfile.ZipFile(path) as archive:
        return yaml.safe_load(archive.read("rdf.yaml"))


def test_exporting_an_opened_package_never_replaces_it(make_napari_viewer, qtbot, lab_package):
    before = lab_package.read_bytes()
    dock = PredictWidget(make_napari_viewer())
    dock._model_file.value = lab_package
    _, _, suggested = dock._form.export_source()
    assert suggested.parent == lab_package.parent and suggested != lab_package
    dock._exporter.run(lab_package)  # chosen in the dialog all the same
    qtbot.waitUntil(lambda: dock._exporter.worker is None, timeout=120_000)
    assert dock._status.value.startswith("Error: could not export")
    assert "refusing to overwrite it" in dock._status.value
    assert lab_package.read_bytes() == before


def test_exporting_an_opened_package_keeps_its_name_authors_and_licence(
    make_napari_viewer, qtbot, lab_package, tmp_path, run_predict, monkeypatch
):
    from napari_unet import touching_cells
    from napari_unet.core.exchange import export

    # The package's own test is test_export_widget's and test_exchange's (10 s here).
    monkeypatch.setattr(export, "check_package", lambda path: (True, ["not run here"]))

    viewer = make_napari_viewer()
    dock = PredictWidget(viewer)
    dock._image.value = viewer.add_image(touching_cells((96, 96), n_cells=8, seed=5)[0])
    dock._model_file.value = lab_package
    run_predict(dock)  # the package is read: the dock predicts with it in memory
    assert dock._form.model is not None, dock._status.value
    out = tmp_path / "for-fiji.zip"
    dock._exporter.run(out)
    qtbot.waitUntil(lambda: dock._exporter.worker is None, timeout=300_000)
    assert "passed bioimageio test" in dock._status.value, dock._status.value
    rdf = _rdf(out)
    assert rdf["name"] == "Lab nuclei v3"
    assert [a["name"] for a in rdf["authors"]] == ["Ada Lovelace"]
    assert rdf["license"] == "CC-BY-4.0"
