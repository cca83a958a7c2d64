"""The napari-unet command: version, help, errors and the demo screenshot."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from napari_unet import __version__
from napari_unet.cli import SUBCOMMANDS, main


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_help_lists_every_subcommand(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert name in out


def test_no_subcommand_is_an_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([])
    assert exit_info.value.code == 2


def test_demo_rejects_non_png(tmp_path, capsys):
    assert main(["demo", "--screenshot", str(tmp_path / "out.jpg")]) == 2
    assert "must name a .png" in capsys.readouterr().err


def test_demo_rejects_bad_size(tmp_path, capsys):
    assert main(["demo", "--screenshot", str(tmp_path / "o.png"), "--size", "big"]) == 2
    assert "--size" in capsys.readouterr().err


def test_demo_screenshot_without_display(tmp_path):
    """The headless check of the main job: no DISPLAY, the command starts its own Xvfb."""
    out = tmp_path / "demo.png"
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "napari_unet",
            "demo",
            "--screenshot",
            str(out),
            "--size",
            "1200x800",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    picture = np.asarray(Image.open(out))
    assert picture.shape[:2] == (800, 1200)
    # Not blank: the dark canvas, the bright-ish nuclei and the grey panels all show.
    grey = picture[..., :3].mean(axis=-1)
    assert grey.std() > 10
    assert len(np.unique(picture[..., :3].reshape(-1, 3), axis=0)) > 500
