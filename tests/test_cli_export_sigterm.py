"""``napari-unet export`` ended by SIGTERM: one line, status 143, no staging folder left.

Before, the process died at once (no line) and left ``napari-unet-export-PID-*`` in the
system's temporary folder; ``predict``, ``slide`` and ``train`` already handled SIGTERM.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("torch")
pytest.importorskip("bioimageio.core")

#: Upper bound on waits for the child process (never reached when things work).
PATIENCE_S = 120


def test_export_ended_by_sigterm_removes_its_staging_folder(tmp_path):
    scratch = tmp_path / "tmp"  # the child's temporary folder: its staging folder goes there
    scratch.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TMPDIR": str(scratch)}
    out = tmp_path / "nuclei.zip"
    proc = subprocess.Popen(
        [sys.executable, "-m", "napari_unet", "export", "nuclei", "-o", str(out), "--test"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + PATIENCE_S
    while not list(scratch.glob(f"napari-unet-export-{proc.pid}-*")):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"no staging folder: {proc.communicate()[1][-2000:]}")
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)  # while it writes the package
    _, err = proc.communicate(timeout=PATIENCE_S)
    assert proc.returncode == 143, err[-2000:]  # before: -15, killed at once
    assert "napari-unet export: interrupted" in err
    assert not list(scratch.glob("napari-unet-export-*"))  # before: left behind
    assert not out.exists()
