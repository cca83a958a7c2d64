"""The live trainer as a script uses it: a loaded model's metadata, its snapshot, its plane."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import napari_unet as nu  # noqa: E402
from napari_unet.core.errors import InputError  # noqa: E402
from napari_unet.core.live.trainer import LiveTrainer  # noqa: E402


@pytest.fixture
def tiny_file(tmp_path):
    from napari_unet.core.models.unet import UNet

    torch.manual_seed(0)
    model = UNet(1, 2, base_channels=4, depth=3, padding="same")
    return nu.save_model(
        tmp_path / "tiny.safetensors", model,
        normalization={"method": "percentile", "low": 5.0, "high": 95.0},
        object_size=9.0, postprocess={"threshold": 0.4, "min_size": 3},
    )  # fmt: skip


@pytest.fixture
def raw():
    image, _ = nu.touching_cells((96, 96), n_cells=8, seed=1)
    return image.astype(np.float32)[None]


def test_metadata_left_out_is_the_loaded_models_own(tiny_file, raw, one_thread):
    # LiveTrainer(model, None, raw) raised TypeError ('NoneType' object is not iterable)
    model, meta = nu.load_model(tiny_file)
    trainer = LiveTrainer(model, None, raw)
    try:
        assert trainer.metadata["normalization"] == meta["normalization"]
        assert trainer.metadata["postprocess"] == meta["postprocess"]
    finally:
        trainer.stop()


def test_the_snapshot_carries_what_save_writes_not_the_start_files(tiny_file, raw, tmp_path,
                                                                   one_thread):
    from napari_unet.core.models.carried import carried

    model, meta = nu.load_model(tiny_file)
    changed = {**meta, "normalization": {"method": "percentile", "low": 1.0, "high": 99.0},
               "object_size": 14.0}  # fmt: skip
    trainer = LiveTrainer(model, changed, raw)
    try:
        snap = trainer.snapshot()
        path = trainer.save(tmp_path / "live.safetensors")
    finally:
        trainer.stop()
    _, saved = nu.load_model(path)
    # the snapshot carried the start file's 5-95 and 9 px; the file holds 1-99 and 14 px
    assert carried(snap)["normalization"] == saved["normalization"] == changed["normalization"]
    assert carried(snap)["object_size"] == saved["object_size"] == 14.0
    assert carried(snap)["provenance"]["trained_by"] == "napari-unet live"
    image, again = raw[0], nu.load_model(path)[0]
    with pytest.warns(nu.DomainWarning):  # an untrained network: one blob
        first = nu.segment(snap, image)
    with pytest.warns(nu.DomainWarning):
        np.testing.assert_array_equal(first, nu.segment(again, image))


@pytest.mark.parametrize("shape", [(96, 96, 3), (3, 96, 96), (96, 96)])
def test_a_plane_not_as_the_model_reads_it_is_refused_at_once(tiny_file, shape):
    # Before: taken, and the thread died later ("box ... is outside the 96 x 3 image").
    model, meta = nu.load_model(tiny_file)
    with pytest.raises(InputError, match=r"raw must be .*C = 1"):
        LiveTrainer(model, meta, np.zeros(shape, np.float32))


def test_segment_slide_refuses_a_seed_level(random_valid, tmp_path):
    # Before: TypeError from Predictor.__init__ (seed_level unexpected).
    with pytest.raises(InputError, match="seed_level is not supported"):
        nu.segment_slide(random_valid, tmp_path / "in.zarr", tmp_path / "out.zarr", seed_level=0.5)


def test_a_model_saved_live_is_not_the_start_runs(tiny_file, raw, tmp_path, one_thread):
    # The saved file kept the Train run's run_id: the Train dock took it for its own result
    # and its next Train or Resume wrote over the live model (a cross-dock hunt).
    model, meta = nu.load_model(tiny_file)
    meta = {**meta, "provenance": {**meta.get("provenance", {}), "run_id": "a" * 32}}
    trainer = LiveTrainer(model, meta, raw)
    try:
        first = trainer.save(tmp_path / "live.safetensors")
        again = trainer.save(tmp_path / "again.safetensors")
    finally:
        trainer.stop()
    prov = nu.read_metadata(first)["provenance"]
    assert prov["run_id"] != "a" * 32 and prov["start_run_id"] == "a" * 32
    assert prov["trained_by"] == "napari-unet live"
    assert nu.read_metadata(again)["provenance"]["run_id"] == prov["run_id"]  # one live run
