"""The Train dock's Save model... (``_saving.save_run``) over a model with its ``NAME.best``.

A save that fails leaves the old model and its ``NAME.best`` as they were: before, the new
run's best replaced ``NAME.best`` before the model was written, and a model write that then
failed (a full disk, a locked file) left the old model beside another run's best, which
Predict and Resume took for its own. No GUI needed.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from napari_unet.core.models import modelfile  # noqa: E402
from napari_unet.core.models.modelfile import read_metadata  # noqa: E402
from napari_unet.widgets import _saving  # noqa: E402


def _result(run_id: str, seed: int):
    """A small run's result whose best (step 2) is not its last step (4)."""
    from napari_unet.core.models import UNet
    from napari_unet.core.training.config import TrainConfig
    from napari_unet.core.training.events import TrainResult

    torch.manual_seed(seed)
    model = UNet(1, 2, base_channels=4, depth=2).eval()
    best = {k: v.clone() for k, v in model.state_dict().items()}
    return TrainResult(
        model=model, history={"train": [], "val": []}, stopped=False,
        best_metrics={"step": 2, "ap50": 0.1 * seed, "loss": 1.0}, steps_done=4,
        config=TrainConfig(), metadata={"provenance": {"run_id": run_id}},
        optimizer_state={"state": {}, "param_groups": []}, best_state=best, run_id=run_id,
    )  # fmt: skip


def _run_of(path) -> str:
    return read_metadata(path)["provenance"]["run_id"]


def _failing(monkeypatch, fails):
    """``save_model`` raising a full disk for the files ``fails(path)`` names."""
    real = modelfile.save_model

    def save_model(path, *args, **kwargs):
        if fails(path):
            raise OSError(28, "No space left on device", str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(modelfile, "save_model", save_model)


def test_a_failed_model_write_keeps_the_old_model_and_its_best(tmp_path, monkeypatch):
    out = tmp_path / "m.safetensors"
    best = tmp_path / "m.best.safetensors"
    _saving.save_run(_result("run-a", 1), out)
    assert _run_of(out) == _run_of(best) == "run-a"
    _failing(monkeypatch, lambda path: str(path) == str(out))
    with pytest.raises(OSError, match="No space left"):
        _saving.save_run(_result("run-b", 2), out)
    assert _run_of(out) == "run-a"
    assert _run_of(best) == "run-a", "the failed save put another run's best beside the model"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # no temporary left
    monkeypatch.undo()
    _saving.save_run(_result("run-b", 2), out)  # saved again: the new pair
    assert _run_of(out) == _run_of(best) == "run-b"


def test_a_failed_best_write_saves_the_model_without_the_old_best(tmp_path, monkeypatch):
    out = tmp_path / "m.safetensors"
    best = tmp_path / "m.best.safetensors"
    _saving.save_run(_result("run-a", 1), out)
    _failing(monkeypatch, lambda path: str(path) != str(out))  # only NAME.best's write fails
    with pytest.warns(RuntimeWarning, match=r"m\.safetensors is saved, but its best weights"):
        _saving.save_run(_result("run-b", 2), out)
    assert _run_of(out) == "run-b"
    assert not best.exists()  # never run A's best beside run B's model
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
