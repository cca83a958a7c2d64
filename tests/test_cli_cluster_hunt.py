"""``predict --scheduler`` mistakes and stops (a hunt).

Before: a port that greets first (sshd) printed "out of memory; use smaller tiles", then
waited 60 s at exit and printed a TimeoutError traceback; ``--background flatten
--scheduler`` on a PNG said the image was "read chunk by chunk (a dask or Zarr image)"; a
run ended by SIGTERM left ``OUTDIR/..NAME.probabilities.tmp.zarr.PID.XXXX.tmp`` behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from greeting_server import greeting_server

from napari_unet.cli import main
from napari_unet.core.images.io import write_image

pytest.importorskip("distributed")


def _png(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path / "cells.png"
    write_image(path, (rng.random((96, 96)) * 255).astype(np.uint8))
    return path


def test_predict_on_a_port_that_greets_first_says_it_is_no_scheduler(tmp_path, capsys):
    src = _png(tmp_path)
    with greeting_server(b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n") as address:
        code = main(["predict", "nuclei", str(src), "-o", str(tmp_path / "out"),
                     "--scheduler", address])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert "out of memory" not in err
    assert f"{address!r} did not answer as a dask scheduler" in err and "8786" in err


def test_background_flatten_with_a_scheduler_names_the_cluster(tmp_path, capsys, monkeypatch):
    from napari_unet.cli import predict_package

    monkeypatch.setattr(predict_package, "load_or_run", lambda *a: pytest.fail("worked first"))
    src = _png(tmp_path)
    code = main(["predict", "nuclei", str(src), "-o", str(tmp_path / "out"),
                 "--background", "flatten", "--scheduler", "tcp://127.0.0.1:8786"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert "--scheduler" in err and "predicted on the cluster chunk by chunk" in err
    assert "dask or Zarr image" not in err


def test_predict_ended_by_sigterm_removes_its_temporary_store(tmp_path):
    """The run waits on a port that answers nothing, its temporary store made: SIGTERM."""
    src, out = _png(tmp_path), tmp_path / "out"
    args = ["predict", "nuclei", str(src), "-o", str(out), "--scheduler"]
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "25s"}  # fmt: skip
    with greeting_server(None) as address:
        code = (f"import sys; from napari_unet.cli import main; "
                f"sys.exit(main({[*args, address]!r}))")  # fmt: skip
        proc = subprocess.Popen([sys.executable, "-c", code], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        try:
            end = time.monotonic() + 22
            while time.monotonic() < end and proc.poll() is None:
                if out.is_dir() and any(p.name.endswith(".tmp") for p in out.iterdir()):
                    break
                time.sleep(0.05)
            made = out.is_dir() and [p.name for p in out.iterdir()]
            assert made and proc.poll() is None, f"no temporary store while waiting: {made}"
            time.sleep(0.3)  # in the wait for the scheduler's answer
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 143, err.decode()
    assert not out.exists()  # the temporary store removed, and the folder the run made
    assert b"terminated (SIGTERM)" in err
