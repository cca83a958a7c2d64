"""bioimage.io packages in the docks: Export buttons (Predict, Train), packages opened as models."""

from __future__ import annotations

import sys
import zipfile

import numpy as np
import pytest

pytest.importorskip("torch")

from napari_unet.widgets import _exporting, _saving  # noqa: E402
from napari_unet.widgets.predict import PredictWidget  # noqa: E402
from napari_unet.widgets.train import TrainWidget  # noqa: E402

HINT = 'pip install ".[bioimageio]"'


def _export(qtbot, dock, path):
    """Run the dock's export to ``path`` and wait for its worker; the status texts seen."""
    seen, show = [], dock._exporter._on_status
    dock._exporter._on_status = lambda text: (seen.append(text), show(text))
    assert dock._exporter.run(path) is not None
    qtbot.waitUntil(lambda: dock._exporter.worker is None, timeout=120_000)
    return seen


def test_predict_dock_exports_a_package_that_passes_the_check(
    make_napari_viewer, qtbot, tiny, tmp_path
):
    pytest.importorskip("bioimageio.core")
    from napari_unet import import_bioimageio

    viewer = make_napari_viewer()
    dock = PredictWidget(viewer)
    dock.set_model(*tiny, name="tiny model")  # as the Train dock hands it over: in memory
    seen = _export(qtbot, dock, tmp_path / "tiny")  # the suffix is added
    package = tmp_path / "tiny.zip"
    assert dock._exporter.result["passed"], "\n".join(dock._exporter.result["lines"])
    assert dock._status.value.startswith("exported tiny.zip (")
    assert dock._status.value.endswith(": passed bioimageio test")
    assert any("testing tiny.zip" in text for text in seen), seen  # progress was shown
    assert dock._exporter.button.enabled
    with zipfile.ZipFile(package) as z:
        assert {"weights.pt", "weights_torchscript.pt", "rdf.yaml"} <= set(z.namelist())
    model, _ = import_bioimageio(package)
    assert model.config == tiny[0].config


def test_train_dock_exports_the_trained_model(
    make_napari_viewer, qtbot, tiny, tmp_path, monkeypatch
):
    pytest.importorskip("bioimageio.core")
    from napari_unet import import_bioimageio
    from napari_unet.core.exchange import export

    # The package's own test runs in the Predict dock's test above (10 s here).
    monkeypatch.setattr(export, "check_package", lambda path: (True, ["not run here"]))
    from napari_unet.core.training.config import TrainConfig
    from napari_unet.core.training.events import TrainResult

    viewer = make_napari_viewer()
    dock = TrainWidget(viewer)
    assert not dock._exporter.button.enabled  # nothing trained yet
    model, metadata = tiny
    state = {k: v * 0 for k, v in model.state_dict().items()}  # the "last" weights differ
    result = TrainResult(model=model, history={}, best_metrics={"ap50": 1.0}, steps_done=5,
                         stopped=False, config=TrainConfig(), metadata=dict(metadata),
                         optimizer_state={}, best_state=model.state_dict())  # fmt: skip
    last = result.best_model()
    last.load_state_dict(state)
    result.model = last
    dock._result = result
    dock._set_running(False)
    assert dock._exporter.button.enabled
    _export(qtbot, dock, tmp_path / "trained.zip")
    assert dock._status.value.endswith(": passed bioimageio test"), dock._status.value
    back, _ = import_bioimageio(tmp_path / "trained.zip")
    for key, value in model.state_dict().items():  # the best weights, as Predict received
        assert np.array_equal(back.state_dict()[key].numpy(), value.numpy()), key


def test_without_the_extra_the_button_says_what_to_install(
    make_napari_viewer, monkeypatch, errors, tiny
):
    viewer = make_napari_viewer()
    dock = PredictWidget(viewer)
    dock.set_model(*tiny, name="tiny")
    monkeypatch.setitem(sys.modules, "bioimageio.core", None)  # as if not installed
    asked = []
    monkeypatch.setattr(_saving, "ask_path", lambda *a: asked.append(a))
    assert dock._exporter.run() is None
    assert not asked  # said before any dialog
    assert errors and HINT in errors[-1] and "bioimageio.core" in errors[-1]
    assert dock._status.value.startswith("Error: ") and HINT in dock._status.value
    with pytest.raises(Exception, match=r"\.\[bioimageio\]"):  # opening a package
        _exporting.load_model_file("model.zip")


@pytest.fixture(scope="module")
def tiny_files(tiny, tmp_path_factory):
    """The tiny model as a model file and as a package exported from it."""
    pytest.importorskip("bioimageio.core")
    from napari_unet import export_bioimageio, save_model

    folder = tmp_path_factory.mktemp("package")
    model_file = save_model(folder / "tiny.safetensors", tiny[0], **tiny[1])
    return model_file, export_bioimageio(model_file, folder / "tiny-package.zip")


def test_a_package_opened_in_the_predict_dock_predicts_like_its_model_file(
    run_predict, make_napari_viewer, qtbot, tiny_files
):
    model_file, package = tiny_files
    viewer = make_napari_viewer()
    viewer.open_sample("napari-unet", "touching_cells")
    dock = PredictWidget(viewer)
    dock._image.value = viewer.layers["touching cells"]
    dock._model_file.value = model_file
    run_predict(dock)
    dock._model_file.value = package
    assert "bioimage.io package" in dock._model_label.value
    run_predict(dock)
    assert not dock._status.value.startswith("Error"), dock._status.value
    expected = viewer.layers["touching cells segmentation (tiny)"].data
    labels = viewer.layers["touching cells segmentation (tiny-package)"].data
    assert expected.max() > 5 and np.array_equal(labels, expected)
    assert dock._form.model is not None and "tiny-package.zip" in dock._model_label.value


def test_a_package_of_another_tool_runs_through_bioimageio_core(
    run_predict, make_napari_viewer, qtbot, tiny_files, tmp_path
):
    import yaml

    _, package = tiny_files
    foreign = tmp_path / "other-tool.zip"  # no napari-unet entry: run as another tool's
    with zipfile.ZipFile(package) as src, zipfile.ZipFile(foreign, "w") as dst:
        for item in src.namelist():
            data = src.read(item)
            if item == "rdf.yaml":
                rdf = yaml.safe_load(data)
                del rdf["config"]["napari_unet"]
                data = yaml.safe_dump(rdf).encode()
            dst.writestr(item, data)
    viewer = make_napari_viewer()
    viewer.open_sample("napari-unet", "touching_cells")
    dock = PredictWidget(viewer)
    dock._image.value = viewer.layers["touching cells"]
    dock._model_file.value = foreign
    run_predict(dock)
    assert "2 probability channel(s)" in dock._status.value, dock._status.value
    probs = viewer.layers["touching cells segmentation (other-tool) probabilities"].data
    assert probs.shape == (2, *viewer.layers["touching cells"].data.shape)
    assert np.allclose(probs.sum(0), 1, atol=1e-5)  # the package's softmax classes
    assert "touching cells segmentation (other-tool)" not in viewer.layers  # no instances


def test_the_predict_docks_export_follows_its_model_choice(make_napari_viewer, tiny, tmp_path):
    from napari_unet import save_model
    from napari_unet.core.errors import InputError
    from napari_unet.widgets.predict import BUILTIN

    dock = PredictWidget(make_napari_viewer())
    with pytest.raises(InputError, match="choose an image layer"):
        dock._form.export_source()  # auto, the default, exports the model of the image
    dock._source.value = BUILTIN
    model, name, path = dock._form.export_source()  # a built-in model by name
    assert (model, name, path.name) == ("nuclei", "nuclei", "nuclei.zip")
    dock._model_file.value = save_model(tmp_path / "mine.safetensors", *tiny[:1], **tiny[1])
    assert dock._form.export_source() == (tmp_path / "mine.safetensors", "mine",
                                          tmp_path / "mine.zip")  # fmt: skip
    dock.set_model(*tiny, name="handed over")
    model, name, _ = dock._form.export_source()
    assert model[0] is tiny[0] and name == "handed over"
