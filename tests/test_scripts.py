"""scripts/demo.sh and scripts/test.sh: path arguments are the caller's, not the repository's.

The scripts run in a copy of the repository's scripts folder whose setup.sh does nothing and
whose virtual environment holds stand-ins that print the arguments they were given, so these
tests check what the scripts pass on without installing or starting anything.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"

pytestmark = pytest.mark.skipif(
    sys.platform.startswith("win") or shutil.which("bash") is None, reason="bash scripts"
)


def stand_in(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/usr/bin/env bash\n{body}\n", encoding="utf-8")
    path.chmod(0o755)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository folder with the real demo.sh and test.sh and stand-ins for the rest."""
    root = (tmp_path / "repo").resolve()
    for name in ("demo.sh", "test.sh"):
        stand_in(root / "scripts" / name, "")
        shutil.copy(SCRIPTS / name, root / "scripts" / name)
    stand_in(root / "scripts" / "setup.sh", "true")
    for tool in ("napari-unet", "python"):
        stand_in(root / ".venv" / "bin" / tool, 'printf "%s\\n" "$@"')
    stand_in(root / ".venv" / "bin" / "ruff", "true")
    return root


def run(repo: Path, script: str, cwd: Path, *args: str, **env: str) -> list[str]:
    """The arguments the script passed on, one per line."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("NAPARI_UNET_")}
    environ.pop("DISPLAY", None)
    environ.pop("WAYLAND_DISPLAY", None)
    environ.update(env)
    cwd.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["bash", os.path.relpath(repo / "scripts" / script, cwd), *args],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if not line.startswith("[test]")]


@pytest.mark.parametrize("style", ["separate", "equals"])
def test_demo_takes_a_relative_screenshot_path_from_the_callers_folder(repo, tmp_path, style):
    here = (tmp_path / "elsewhere").resolve()
    args = ["--screenshot", "mine.png"] if style == "separate" else ["--screenshot=mine.png"]
    passed = run(repo, "demo.sh", here, "--sample", "touching_cells", *args)
    expected = ["--screenshot", f"{here}/mine.png"]
    if style == "equals":
        expected = [f"--screenshot={here}/mine.png"]
    assert passed == ["demo", "--sample", "touching_cells", *expected]


def test_demo_keeps_an_absolute_screenshot_path_and_adds_no_overwrite(repo, tmp_path):
    out = str(tmp_path / "abs.png")
    assert run(repo, "demo.sh", tmp_path / "x", "--screenshot", out) == [
        "demo",
        "--screenshot",
        out,
    ]  # the user's own file is refused by the command if it exists


def test_demo_without_a_display_replaces_its_own_picture(repo, tmp_path):
    passed = run(repo, "demo.sh", tmp_path / "elsewhere")
    assert passed == ["demo", "--screenshot", f"{repo}/demo.png", "--overwrite"]


def test_test_sh_takes_existing_relative_paths_from_the_callers_folder(repo, tmp_path):
    here = (tmp_path / "elsewhere").resolve()
    (here / "tests").mkdir(parents=True)
    (here / "tests" / "test_x.py").write_text("", encoding="utf-8")
    passed = run(
        repo, "test.sh", here, "tests/test_x.py::test_a", "tests", "-k", "fast", "-q",
        "not/a/path.py", NAPARI_UNET_TEST_WORKERS="0",
    )  # fmt: skip
    assert passed == [
        "-m",
        "pytest",
        f"{here}/tests/test_x.py::test_a",
        f"{here}/tests",
        "-k",
        "fast",
        "-q",
        "not/a/path.py",
    ]


def test_test_sh_passes_workers_and_no_arguments_unchanged(repo, tmp_path):
    assert run(repo, "test.sh", tmp_path / "x") == [
        "-m",
        "pytest",
        "-n",
        "auto",
        "--maxprocesses=4",
    ]
