"""What SIGTERM, kill -9 and an unwritable folder leave behind, command by command.

After a hunt: ``train`` ended by SIGTERM (a batch job's time limit, ``timeout``, ``kill``) kept
no model, ``export`` killed left its staging folder beside the package, ``demo --screenshot``
ended by SIGTERM left its Xvfb running forever, and ``demo --screenshot`` / ``slide`` into a
folder that cannot be written ran first and failed with a raw errno.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from napari_unet.cli import main

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX signals")

#: Upper bound on waits for a child process (never reached when things work).
PATIENCE_S = 120


def _command(*args: str, env=None) -> subprocess.Popen:
    """``python -m napari_unet ARGS`` in a child (the ``PYTHONPATH`` this suite runs with)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "napari_unet", *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _wait_for(found, proc: subprocess.Popen, what: str):
    """Poll ``found()`` until it is true; fail if ``proc`` ends first."""
    deadline = time.monotonic() + PATIENCE_S
    while time.monotonic() < deadline:
        value = found()
        if value:
            return value
        if proc.poll() is not None:
            pytest.fail(f"ended before {what}: {proc.communicate()[1][-2000:]}")
        time.sleep(0.01)
    proc.kill()
    pytest.fail(f"no {what} after {PATIENCE_S} s")


@pytest.fixture
def guard():
    """The test's own SIGTERM handler (without the command's, SIGTERM would end pytest)."""
    caught = []
    before = signal.signal(signal.SIGTERM, lambda *a: caught.append(a))
    yield caught
    signal.signal(signal.SIGTERM, before)


def test_sigterm_stops_like_ctrl_c_and_the_handlers_are_restored(guard):
    from napari_unet.cli._signals import Terminated, sigint_stops

    before_int, before_term = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with sigint_stops(threading.Event()) as stop:
        os.kill(os.getpid(), signal.SIGTERM)  # the first: stop after the step
        assert stop.is_set() and stop.exit_status == 143
        with pytest.raises(Terminated):  # the second aborts the step (the run still saves)
            os.kill(os.getpid(), signal.SIGTERM)
    assert not guard
    assert signal.getsignal(signal.SIGINT) is before_int
    assert signal.getsignal(signal.SIGTERM) is before_term
    with sigint_stops(threading.Event()) as stop:  # Ctrl-C: no status of its own
        signal.raise_signal(signal.SIGINT)
        assert stop.is_set() and stop.exit_status is None


def test_train_ended_by_sigterm_saves_the_model_and_its_optimiser_state(tmp_path):
    # Before: the process died at once; with no validation yet, nothing at all was kept.
    from napari_unet import load_model, touching_cells, write_image

    img, lab = touching_cells((96, 96), n_cells=8, seed=0)
    image = write_image(tmp_path / "a.tif", (img * 255).astype(np.uint8))
    labels = write_image(tmp_path / "a_labels.tif", lab.astype(np.uint16))
    out, log = tmp_path / "m.safetensors", tmp_path / "m.jsonl"
    proc = _command(
        "train", "--images", str(image), "--labels", str(labels), "-o", str(out),
        "--steps", "100000", "--val-fraction", "0", "--arch", "tiny", "--crop-size", "48",
        "--batch-size", "2", "--device", "cpu", "-q", "--log", str(log),
    )  # fmt: skip
    _wait_for(lambda: log.exists() and '"TrainStep"' in log.read_text(), proc, "a step")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=PATIENCE_S)
    assert proc.returncode == 143, err[-2000:]  # saved, and said as a shell says SIGTERM
    assert "SIGTERM" in err
    steps = load_model(out)[1]["training"]["steps_done"]
    assert steps >= 1
    assert (tmp_path / "m.optim.safetensors").exists()


def test_export_killed_leaves_nothing_beside_the_package(tmp_path):
    pytest.importorskip("bioimageio.core")
    out, temporary = tmp_path / "out", tmp_path / "tmp"
    out.mkdir()
    temporary.mkdir()
    proc = _command("export", "nuclei", "-o", str(out / "pkg.zip"), env={"TMPDIR": str(temporary)})

    def staging():
        return [p for f in (out, temporary) for p in f.iterdir() if "napari-unet-export" in p.name]

    _wait_for(staging, proc, "the staging folder")
    proc.kill()  # kill -9: no clean-up runs at all
    proc.communicate(timeout=PATIENCE_S)
    assert sorted(p.name for p in out.iterdir()) == []  # before: .napari-unet-export-XXXX/


def test_a_later_export_removes_the_staging_a_killed_one_left(tmp_path, monkeypatch):
    import tempfile

    from napari_unet.core.files import temporary_folder

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = subprocess.Popen([sys.executable, "-c", ""])
    gone.wait()  # a process id no process has now
    left = tmp_path / f"napari-unet-export-{gone.pid}-k1ll3d"
    (left / "weights").mkdir(parents=True)
    running = tmp_path / f"napari-unet-export-{os.getpid()}-running"  # a live writer's
    running.mkdir()
    with temporary_folder("napari-unet-export-") as staging:
        assert staging.parent == tmp_path and staging.is_dir()
        assert not left.exists() and running.is_dir()
    assert not staging.exists()


def _refuse_unwritable(monkeypatch, folder: Path) -> None:
    """``folder`` is not writable (this machine may run as root, which chmod cannot stop)."""
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == folder else real(p, mode))


def test_demo_screenshot_refuses_an_unwritable_folder_before_napari(tmp_path, monkeypatch, capsys):
    from napari_unet.cli import demo

    ro = tmp_path / "ro"
    ro.mkdir()
    _refuse_unwritable(monkeypatch, ro)
    monkeypatch.setattr(demo, "_usable_display", lambda *a: pytest.fail("napari started"))
    assert main(["demo", "--screenshot", str(ro / "s.png")]) == 2
    assert "not writable" in capsys.readouterr().err


def test_slide_refuses_an_unwritable_folder_before_the_model(tmp_path, monkeypatch, capsys):
    zarr = pytest.importorskip("zarr")
    from napari_unet.core.models import modelfile

    image = tmp_path / "slide.zarr"
    zarr.open_array(str(image), mode="w", shape=(64, 64), chunks=(32, 32), dtype="u1")[:] = 1
    ro = tmp_path / "ro"
    ro.mkdir()
    _refuse_unwritable(monkeypatch, ro)
    monkeypatch.setattr(modelfile, "load_model", lambda *a, **k: pytest.fail("model loaded"))
    assert main(["slide", "nuclei", str(image), "-o", str(ro / "l.zarr")]) == 2
    assert "not writable" in capsys.readouterr().err
    assert sorted(p.name for p in ro.iterdir()) == []


_XVFB_SCRIPT = """
import os, signal, sys, time
from napari_unet.cli._display import virtual_display

def _child_xvfb(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            name, rest = f.read().rsplit(")", 1)
    except OSError:
        return False
    return name.endswith("(Xvfb") and int(rest.split()[1]) == os.getpid()

with virtual_display((640, 480)):
    mine = [p for p in os.listdir("/proc") if p.isdigit() and _child_xvfb(p)]
    print(" ".join(mine), flush=True)
    if sys.argv[1] == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(60)
"""


def _gone(pid: int) -> bool:
    """No such process, or only its zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


@pytest.mark.skipif(shutil.which("Xvfb") is None or not Path("/proc").is_dir(),
                    reason="needs Xvfb and /proc")  # fmt: skip
@pytest.mark.parametrize("how", ["term", "kill"])
def test_the_virtual_display_ends_with_the_command(how):
    # Before: SIGTERM (or kill -9) ended Python at once and Xvfb ran on forever.
    child = subprocess.run(
        [sys.executable, "-c", _XVFB_SCRIPT, how], capture_output=True, text=True,
        timeout=PATIENCE_S,
    )  # fmt: skip
    pids = [int(p) for p in child.stdout.split()]
    deadline = time.monotonic() + 10  # killed with its parent: gone at once when it works
    while not all(_gone(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.01)
    left = [p for p in pids if not _gone(p)]
    for pid in left:  # the test leaks no X server, even when it fails
        os.kill(pid, signal.SIGKILL)
    assert pids, child.stderr[-2000:]
    assert not left
    if how == "term":  # Xvfb stopped, then the process ended as SIGTERM ends it
        assert child.returncode == -signal.SIGTERM, child.stderr[-2000:]
        assert "terminated (SIGTERM)" in child.stderr


def test_a_run_that_left_only_its_best_model_is_not_offered_a_resume(tmp_path, capsys):
    # A run killed (kill -9) after a validation left NAME.best only; the refusal advised
    # --resume NAME, which then failed: "model file not found".
    from napari_unet import touching_cells, write_image
    from napari_unet.cli import main

    img, lab = touching_cells((64, 64), n_cells=4, seed=0)
    image = write_image(tmp_path / "a.tif", (img * 255).astype(np.uint8))
    labels = write_image(tmp_path / "a_labels.tif", lab.astype(np.uint16))
    (tmp_path / "m.best.safetensors").write_bytes(b"a best model")
    args = ["train", "--images", str(image), "--labels", str(labels),
            "-o", str(tmp_path / "m.safetensors")]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "m.best.safetensors exists" in err and "--init m.best.safetensors" in err
    assert "--resume" not in err


def test_resume_of_a_built_in_model_says_to_fine_tune_it_with_init(tmp_path, capsys):
    # "--resume nuclei" said only "model file not found": a built-in model is no run.
    from napari_unet import touching_cells, write_image
    from napari_unet.cli import main

    img, lab = touching_cells((64, 64), n_cells=4, seed=0)
    image = write_image(tmp_path / "a.tif", (img * 255).astype(np.uint8))
    labels = write_image(tmp_path / "a_labels.tif", lab.astype(np.uint16))
    args = ["train", "--images", str(image), "--labels", str(labels), "--resume", "nuclei",
            "-o", str(tmp_path / "m.safetensors")]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "model file not found" in err and "to fine-tune it, use --init nuclei" in err
