"""The review's prefetch thread builds its predictor, and loads a model file, itself.

Old: ``Prefetcher.__init__`` built the predictor (``import torch``, the network moved to its
device) on the caller's thread: the Review dock's GUI thread, for seconds at Open. Now the
thread does it before its first image; a model file given as a ``LoadLater`` is read there
too, and one that fails to load fails each image with the reason (not the GUI thread).
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from napari_unet.core.errors import InputError
from napari_unet.core.images.io import write_image
from napari_unet.core.review.session import Review

pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model():
    from napari_unet.core.models import build_model
    from napari_unet.core.training.config import TrainConfig

    return build_model(TrainConfig(model="tiny").model), {}


def _review(tmp_path) -> Review:
    images = tmp_path / "images"
    images.mkdir()
    for k, name in enumerate("ab"):
        image = np.zeros((32, 32), np.uint16)
        image[6 + 4 * k : 20, 8:24] = 1000
        write_image(images / f"{name}.tif", image)
    return Review(images, tmp_path / "out")


def _wait(condition, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_the_predictor_is_built_on_the_prefetch_thread(tmp_path, model, monkeypatch):
    from napari_unet.core.inference import plan
    from napari_unet.core.review.prefetch import Prefetcher

    built = []

    class Recorded(plan.Predictor):
        def __init__(self, *args, **kwargs):
            built.append(threading.current_thread())
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(plan, "Predictor", Recorded)
    pf = Prefetcher(_review(tmp_path), *model, "tiny")
    try:
        pf.want(["a.tif"])
        _wait(lambda: pf.get("a.tif") is not None or pf.error("a.tif"))
        assert pf.error("a.tif") is None and pf.get("a.tif").source == "prediction (tiny)"
    finally:
        assert pf.close()
    assert built and threading.main_thread() not in built  # old: built by the caller


def test_a_model_given_to_load_later_is_loaded_by_the_prefetch_thread(tmp_path, model):
    from napari_unet.core.inference.scale import AUTO
    from napari_unet.core.review.prefetch import LoadLater, Prefetcher, model_key

    loaded = []

    def load():
        loaded.append(threading.current_thread())
        return model

    review = _review(tmp_path)
    pf = Prefetcher(review, LoadLater(load), None, "tiny")
    try:
        pf.want(["a.tif"])
        _wait(lambda: pf.get("a.tif") is not None or pf.error("a.tif"))
        assert pf.error("a.tif") is None and pf.get("a.tif").source == "prediction (tiny)"
    finally:
        assert pf.close()
    assert loaded and threading.main_thread() not in loaded
    # Cached under the key a review opened with the loaded model uses.
    assert pf.key == f"{model_key(model[0])}-{AUTO}" == review.entries["a.tif"].predicted_with


def test_a_model_that_fails_to_load_fails_each_image_with_the_reason(tmp_path):
    from napari_unet.core.review.prefetch import LoadLater, Prefetcher

    asked, errors = threading.Event(), []

    def load():
        asked.wait(30)  # the images are wanted first: they hear of it
        raise InputError("tiny.safetensors is not a model file; choose a .safetensors model")

    pf = Prefetcher(
        _review(tmp_path), LoadLater(load), None, "tiny",
        on_error=lambda name, message: errors.append((name, message)),
    )  # fmt: skip
    pf.want(["a.tif", "b.tif"])
    asked.set()
    _wait(lambda: len(errors) == 2)
    why = "the model could not be loaded: tiny.safetensors is not a model file; choose a "
    assert errors == [(n, why + ".safetensors model") for n in ("a.tif", "b.tif")]
    assert pf.error("b.tif") == errors[1][1] and pf.get("a.tif") is None
    assert pf.close(timeout=10)  # the thread ended
