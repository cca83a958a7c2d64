"""Two runs writing one model file: the second is refused; a file changed meanwhile is kept.

Before, two ``napari-unet train -o m.safetensors`` (or two ``--resume m -o m``) at once
both said "saved m.safetensors": only the last one's model was there, their events mixed in
m.jsonl, and one run's clean-up removed the other's m.best.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_unet import touching_cells, write_image  # noqa: E402
from napari_unet.cli import main  # noqa: E402
from napari_unet.core.training import checkpoint  # noqa: E402
from napari_unet.core.training.output_claim import lock_path  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

FAST = ["--arch", "tiny", "--crop-size", "48", "--batch-size", "2", "--device", "cpu", "-q",
        "--val-fraction", "0", "--steps", "2"]  # fmt: skip


@pytest.fixture()
def data(tmp_path):
    img, lab = touching_cells((96, 96), n_cells=8, seed=0)
    image = write_image(tmp_path / "a.tif", (img * 65535).astype(np.uint16))
    labels = write_image(tmp_path / "a_labels.tif", lab.astype(np.uint16))
    return tmp_path, ["train", "--images", str(image), "--labels", str(labels), *FAST]


@pytest.fixture()
def other_process():
    """A live process of this host (another run, as far as the claim can tell)."""
    p = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                         stdin=subprocess.PIPE)  # fmt: skip
    yield p.pid
    p.stdin.close()
    p.wait()


def hold(out, pid):
    lock_path(out).write_text(json.dumps(
        {"pid": pid, "host": socket.gethostname(), "started": "now", "token": "x"}))  # fmt: skip


def test_a_run_is_refused_while_another_live_run_writes_its_output(data, other_process, capsys):
    tmp, cmd = data
    out = tmp / "m.safetensors"
    hold(out, other_process)
    assert main([*cmd, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"process {other_process} on {socket.gethostname()}" in err
    assert "m.safetensors is being written by another training run" in err
    assert not out.exists() and not (tmp / "m.jsonl").exists()  # no events mixed in
    assert lock_path(out).exists()  # the other run's claim stays
    # resumed in place (which needs no --overwrite): refused too, the file untouched
    lock_path(out).unlink()
    assert main([*cmd, "-o", str(out)]) == 0
    before = out.read_bytes()
    hold(out, other_process)
    code = main([*cmd, "--resume", str(out), "-o", str(out), "--steps", "4"])
    assert code == 2 and "being written by another training run" in capsys.readouterr().err
    assert out.read_bytes() == before


def test_a_claim_of_a_dead_process_is_taken_over_and_released(data, capsys):
    tmp, cmd = data
    out = tmp / "m.safetensors"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    hold(out, dead.pid)
    assert main([*cmd, "-o", str(out)]) == 0, capsys.readouterr().err
    assert out.exists() and not lock_path(out).exists()  # the run's own claim went at its end


def test_a_model_written_by_another_program_meanwhile_is_not_replaced(data, monkeypatch, capsys):
    tmp, cmd = data
    out = tmp / "m.safetensors"
    theirs = b"another program's model"
    real = checkpoint.save_final

    def written_meanwhile(result, path):
        out.write_bytes(theirs)  # another program (no claim) wrote -o while this run trained
        return real(result, path)

    monkeypatch.setattr(checkpoint, "save_final", written_meanwhile)
    with pytest.warns(RuntimeWarning, match="written by another program while this run"):
        code = main([*cmd, "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 1 and "was not written" in err
    assert out.read_bytes() == theirs  # kept
    kept = [p for p in tmp.iterdir() if p.name.startswith("m.unsaved-") and "optim" not in p.name]
    assert len(kept) == 1 and str(kept[0]) in err  # the trained model, under a free name
    assert not lock_path(out).exists()


def test_the_claim_is_nested_in_one_thread_and_refused_in_another(tmp_path):
    import threading

    from napari_unet.core.errors import InputError
    from napari_unet.core.training.output_claim import claimed

    out = tmp_path / "m.safetensors"
    refused = []

    def other():
        try:
            with claimed(out):
                pass
        except InputError as exc:
            refused.append(str(exc))

    with claimed(out), claimed(out):  # the command line's claim, then iter_train's
        t = threading.Thread(target=other)
        t.start()
        t.join()
        assert lock_path(out).exists()
    assert not lock_path(out).exists()
    assert refused and "this program" in refused[0]
    assert os.listdir(tmp_path) == []
