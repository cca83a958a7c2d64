"""Fixtures of the dock tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def errors(monkeypatch):
    """The error notifications the docks show, collected instead of shown."""
    from napari_unet.widgets import _annotate_work, _autosave, _session, annotate

    shown: list[str] = []
    monkeypatch.setattr("napari.utils.notifications.show_error", shown.append)
    for module in (annotate, _autosave, _session, _annotate_work):
        monkeypatch.setattr(module, "show_error", shown.append)
    return shown


@pytest.fixture
def messages(monkeypatch, errors):
    """The error and warning notifications the docks show, collected in order."""
    from napari_unet.widgets import _autosave, _session, annotate

    for module in (annotate, _autosave, _session):
        monkeypatch.setattr(module, "show_warning", errors.append)
    return errors


@pytest.fixture(scope="module")
def model_file(tiny, tmp_path_factory):
    """The tiny model as a model file (what the docks' model choice takes)."""
    from napari_unet.core.models.modelfile import save_model

    model, meta = tiny
    meta = {k: v for k, v in meta.items() if k != "final_loss"}
    return save_model(tmp_path_factory.mktemp("tiny") / "tiny.unet.safetensors", model, **meta)


@pytest.fixture(scope="module")
def tiny():
    """A tiny same-padded U-Net trained briefly on touching cells: ``(model, metadata)``."""
    pytest.importorskip("torch")
    from tiny_model import train_tiny

    return train_tiny("same", steps=150)


@pytest.fixture
def run_predict(qtbot):
    """Press a Predict dock's Predict button and wait until its run has ended."""

    def run(widget):
        widget._run.clicked.emit()
        qtbot.waitUntil(lambda: widget._worker is None and widget._run.enabled, timeout=120_000)

    return run


@pytest.fixture
def runs(monkeypatch):
    """The weight-map computations the Weight map dock starts (each runs the real one)."""
    from napari_unet.widgets import weightmap as weightmap_module

    started = []
    real = weightmap_module.iter_target_and_weights

    def counting(labels, **kwargs):
        started.append(kwargs)
        return (yield from real(labels, **kwargs))

    monkeypatch.setattr(weightmap_module, "iter_target_and_weights", counting)
    return started


@pytest.fixture
def review_crops(shared_data, tmp_path):
    """Three review images, cropped to 96 x 96 (fast to predict and train on)."""
    import numpy as np
    from PIL import Image
    from review_data import REVIEW_NAMES

    folder = tmp_path / "images"
    folder.mkdir()
    for name in REVIEW_NAMES[:3]:
        pixels = np.asarray(Image.open(shared_data / "dsb2018_full" / "images" / f"{name}.png"))
        Image.fromarray(pixels[:96, :96]).save(folder / f"{name}.png")
    return folder
