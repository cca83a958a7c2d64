"""Slips a review found in the session's own changes (hunt 15).

1. A run saved before side files kept their name's ending (``v1.0``: best ``v1.best.0``)
   resumed without its best weights: the resumed run named a worse step its best.
2. ``drain`` threw a callback's error into ``iter_evaluate_many``, which re-labelled it as
   an error about an image.
3. An ``iter_train`` generator kept in a variable, left unfinished, was closed as Python
   exited and tried to save with torch half torn down: the process aborted (exit 134).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import napari_unet as nu  # noqa: E402
from napari_unet import InputError  # noqa: E402
from napari_unet.core.progress import drain  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def test_a_run_saved_under_the_old_best_name_resumes_with_its_best(tmp_path):
    from napari_unet.core.training.checkpoint import best_path, load_resume, optimizer_path

    img, lab = nu.touching_cells((96, 96), n_cells=8, seed=0)
    pairs = nu.make_pairs([img], [lab])
    config = nu.TrainConfig(model="tiny", steps=4, batch_size=1, crop_size=32, device="cpu",
                            prefetch=0, val_every=2, val_fraction=0.3)  # fmt: skip
    out = tmp_path / "v1.0"
    nu.train(pairs, config, output=out)
    assert best_path(out).is_file()
    best_path(out).rename(tmp_path / "v1.best.0")  # the names a run got before
    optimizer_path(out).rename(tmp_path / "v1.optim.safetensors")
    resumed = load_resume(out)
    assert resumed.best_metrics and resumed.best_state is not None  # before: None
    best = nu.load_model(tmp_path / "v1.best.0")[0].state_dict()
    for key, value in best.items():
        assert torch.equal(resumed.best_state[key], value)


def test_a_callbacks_error_comes_out_of_drain_as_it_was():
    from napari_unet.core.metrics.contingency import CHUNK

    side = int(np.ceil(np.sqrt(CHUNK))) + 64  # counted in chunks: steps yielded mid-image
    labels = np.zeros((side, side), np.int32)
    labels[2:6, 2:6] = 1

    def refuse(event):
        raise InputError("my callback refused")

    pairs = [("img_007", labels, labels), ("img_008", labels, labels)]
    with pytest.raises(InputError) as caught:
        drain(nu.iter_evaluate_many(pairs, total=2), refuse)
    assert str(caught.value) == "my callback refused"  # before: "img_007: my callback ..."


def test_an_unfinished_training_generator_left_at_exit_ends_cleanly(tmp_path):
    script = tmp_path / "left.py"
    script.write_text(
        "import napari_unet as nu\n"
        "img, lab = nu.touching_cells((96, 96), n_cells=8, seed=0)\n"
        "pairs = nu.make_pairs([img], [lab])\n"
        "cfg = nu.TrainConfig(model='tiny', steps=50, batch_size=1, crop_size=32,"
        " device='cpu', prefetch=0, val_every=100)\n"
        "gen = nu.iter_train(pairs, cfg, output='m.safetensors')\n"
        "for event in gen:\n"
        "    if isinstance(event, nu.TrainStep) and event.step >= 2:\n"
        "        break\n"
        "print('done')\n",
        encoding="utf-8",
    )
    env = {"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}
    src = Path(nu.__file__).resolve().parents[1]
    env["PYTHONPATH"] = str(src)
    result = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True,
        env=env, timeout=300, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]  # before: 134, a C++ abort
    assert "done" in result.stdout and "Traceback" not in result.stderr
