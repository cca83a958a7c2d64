"""The command line says "out of memory" in one line, also when PyTorch says it.

PyTorch's CPU allocator raises a RuntimeError naming its C++ source: the commands printed a
traceback. A training run that an error ends keeps the steps it trained, and says where.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from failing_runs import CPU_OOM, failing_at  # noqa: E402
from test_cli_train_hunt import _pair  # noqa: E402

from napari_unet import load_model, save_model  # noqa: E402
from napari_unet.cli import main  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

FAST = ["--arch", "tiny", "--crop-size", "48", "--batch-size", "2", "--device", "cpu", "-q"]
SAID = "error: out of memory (an array of 8.0 GiB did not fit); use smaller tiles (--tile)"


def test_train_out_of_memory_keeps_the_steps_and_says_so(tmp_path, capsys, monkeypatch):
    image, labels = _pair(tmp_path)
    out = tmp_path / "m.safetensors"
    failing_at(monkeypatch, 4, RuntimeError(CPU_OOM))
    code = main(["train", "--images", str(image), "--labels", str(labels), "--steps", "10",
                 "--output", str(out), *FAST])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert f"failed at step 3; saved {out}" in err and f"napari-unet train: {SAID}" in err
    assert "Traceback" not in err and "alloc_cpu" not in err
    assert load_model(out)[1]["provenance"]["steps"] == 3


def test_predict_out_of_memory_is_one_line(tmp_path, capsys, monkeypatch):
    from napari_unet import build_model

    net = build_model({"arch": "unet", "in_channels": 1, "base_channels": 4, "depth": 2,
                       "padding": "same"})  # fmt: skip
    model = save_model(tmp_path / "m.safetensors", net)
    image, _ = _pair(tmp_path)

    def oom(*args, **kwargs):
        raise RuntimeError(CPU_OOM)

    monkeypatch.setattr(type(net), "forward", oom)
    code = main(["predict", str(model), str(image), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and f"napari-unet predict: {SAID}" in err and "Traceback" not in err


def test_other_runtime_errors_are_not_called_memory(tmp_path, monkeypatch):
    from napari_unet import build_model

    net = build_model({"arch": "unet", "in_channels": 1, "base_channels": 4, "depth": 2,
                       "padding": "same"})  # fmt: skip
    model = save_model(tmp_path / "m.safetensors", net)
    image, _ = _pair(tmp_path)

    def broken(*args, **kwargs):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    monkeypatch.setattr(type(net), "forward", broken)
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):  # a bug: traceback
        main(["predict", str(model), str(image), "-o", str(tmp_path / "out")])
