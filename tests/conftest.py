"""Shared test fixtures."""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path

import pytest
from viewer_pool import discard_at_exit

if not os.environ.get("NAPARI_UNET_FRESH_VIEWERS"):  # one viewer kept between tests
    from viewer_pool import make_napari_viewer  # noqa: F401 (napari's own, overridden)


def _one_thread_per_worker() -> None:
    """One torch (OpenMP) thread in each test process when the workers fill the cores.

    pytest-xdist runs a process per core; each took a thread per core for torch too, and
    OpenMP's spin-waiting threads then competed for the cores (a 60-step overfit of a tiny
    network: 12 s in a CI run, under 1 s alone). Set before torch is imported, and passed
    on to the commands the tests start. A variable the caller set is kept.
    """
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if workers and workers >= (os.cpu_count() or 1) and "OMP_NUM_THREADS" not in os.environ:
        os.environ["OMP_NUM_THREADS"] = "1"


_one_thread_per_worker()

REPO = Path(__file__).resolve().parents[1]
#: Real microscopy data with instance ground truth, kept beside the checkout (never copied into it).
SHARED_DATA = Path(os.environ.get("NAPARI_UNET_DATA", REPO.parent / "shared" / "data"))


class _YoungOnly:
    """Stands in for the ``gc`` module in napari's vispy canvas during the tests."""

    @staticmethod
    def collect(generation: int = 2) -> int:
        return gc.collect(0)


#: After every this many tests, the objects alive are collected and then frozen.
FREEZE_EVERY = 1
#: Every this many freezes, the frozen objects are looked at again.
UNFREEZE_EVERY = 10
_finished = [0]


@pytest.fixture(autouse=True)
def _cheap_full_collections():
    """Keep the garbage collections of a long test session cheap.

    napari's canvas runs a full ``gc.collect()`` each time layers leave it (a Windows
    OpenGL workaround; closing a viewer does it), and a full collection looks at every
    object alive: in a worker that has imported torch, napari and the rest, 0.1-0.8 s
    each time. Two measures, measured on 96 dock tests in one process (2026-12-07):

    - after each test's teardown, a full collection frees what is garbage and the
      survivors are frozen (``gc.freeze``), so later collections skip them; every
      :data:`UNFREEZE_EVERY` freezes every object is looked at again, which frees cycles
      that were alive at a freeze and dropped later (170 s with a freeze every 20 tests,
      150-159 s with one after every test);
    - the canvas's collection is a young-generation one (125 s): the garbage of the
      closed viewer is collected by the collection after the test, or by napari's viewer
      fixture when a viewer is still alive. Tests that check that something is freed call
      ``gc.collect()`` themselves.
    """
    canvas = sys.modules.get("napari._vispy.canvas")
    if canvas is not None and canvas.gc is gc:
        canvas.gc = _YoungOnly
    yield
    _finished[0] += 1
    if _finished[0] % FREEZE_EVERY == 0:
        if _finished[0] % (UNFREEZE_EVERY * FREEZE_EVERY) == 0:
            gc.unfreeze()
        gc.collect()
        gc.freeze()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder; skips the test cleanly where it is absent."""
    if not (SHARED_DATA / "dsb2018" / "index.csv").exists():
        pytest.skip(f"shared data folder not found (set NAPARI_UNET_DATA); looked in {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def napari_unet_plugin():
    """napari's plugin manager knows napari-unet (``viewer.open(..., plugin="napari-unet")``).

    Whatever ran before in this process: napari registers installed plugins only when a
    viewer first needs them, and registering them all twice fails.
    """
    from npe2 import PluginManager, PluginManifest

    pm = PluginManager.instance()
    try:
        pm.get_manifest("napari-unet")
    except KeyError:
        pm.register(PluginManifest.from_distribution("napari-unet"))
    return pm


@pytest.fixture
def one_thread():
    """Run torch on one thread: on shared 2-core machines OpenMP spin-waiting costs more."""
    torch = pytest.importorskip("torch")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def trained_same():
    """A tiny same-padded UNet trained on synthetic touching cells: (model, metadata)."""
    from tiny_model import train_tiny

    return train_tiny("same", steps=150)


@pytest.fixture(scope="session")
def random_valid():
    """An untrained valid UNet (3 poolings): equality of tilings must hold for any weights."""
    import torch

    from napari_unet.core.models import UNet

    torch.manual_seed(1)
    return UNet(1, 2, base_channels=4, depth=4, padding="valid").eval()


@pytest.fixture
def review_folder(shared_data, tmp_path) -> Path:
    """A folder holding the five :data:`REVIEW_NAMES` images (copied from the shared data)."""
    import shutil

    from review_data import REVIEW_NAMES

    images = tmp_path / "images"
    images.mkdir()
    for name in REVIEW_NAMES:
        shutil.copy(shared_data / "dsb2018_full" / "images" / f"{name}.png", images)
    return images


#: What safetensors says when the disk is full.
ENOSPC = "Error while serializing: I/O error: No space left on device (os error 28)"


@pytest.fixture()
def no_room(tmp_path, monkeypatch):
    """``tmp_path/full`` and the temporary folder full; the set empties when space is freed."""
    import tempfile

    import safetensors.torch
    from safetensors import SafetensorError

    full = {tmp_path / "full", tmp_path / "tmp"}
    for folder in full:
        folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    real = safetensors.torch.serialize_file

    def serialize_file(tensors, filename, *args, **kwargs):
        if Path(filename).parent in full:
            raise SafetensorError(ENOSPC)
        return real(tensors, filename, *args, **kwargs)

    monkeypatch.setattr(safetensors.torch, "serialize_file", serialize_file)
    return full


def pytest_sessionfinish(session, exitstatus):
    """Close the viewer kept between tests (see ``viewer_pool``)."""
    discard_at_exit()
