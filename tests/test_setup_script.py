"""scripts/setup.sh: the steps a newcomer's machine trips on, run against stand-ins.

Each test runs the real setup.sh in a copy of the repository's scripts folder. ``dpkg`` on
PATH says every system package is installed; the interpreter (``PYTHON``) and the virtual
environment's python are small wrappers around this test's own interpreter that log their
arguments and answer ``-m pip`` and ``-m venv`` themselves, so nothing is installed and each
run takes a second.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(
    sys.platform.startswith("win") or shutil.which("bash") is None, reason="bash scripts"
)


def executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(0o755)
    return path


# A virtual environment's python: logs its arguments; pip answers yes to everything; the rest
# runs in this interpreter with a stand-in torch (version in $FAKE_TORCH) on its path.
VENV_PYTHON = """#!/usr/bin/env bash
printf '%s\\n' "venv-python $*" >> "$SETUP_LOG"
if [ "$1" = -m ] && [ "$2" = pip ]; then exit 0; fi
PYTHONPATH="$FAKE_SITE${PYTHONPATH:+:$PYTHONPATH}" exec "$REAL_PYTHON" "$@"
"""

# The interpreter that makes the environment: ``-m venv [--clear] DIR`` writes VENV_PYTHON.
MAKER = """#!/usr/bin/env bash
printf '%s\\n' "python $*" >> "$SETUP_LOG"
if [ "$1" = -m ] && [ "$2" = venv ]; then
    dir="${@: -1}"
    mkdir -p "$dir/bin"
    cp "$VENV_PYTHON_TEMPLATE" "$dir/bin/python"
    exit 0
fi
exec "$REAL_PYTHON" "$@"
"""

# An interpreter that says it is Python 3.8.
OLD_PYTHON = """#!{real}
import sys
sys.version_info = (3, 8, 18, "final", 0)
if sys.argv[1:2] == ["--version"]:
    print("Python 3.8.18")
elif sys.argv[1:2] == ["-c"]:
    code = sys.argv[2]
    sys.argv = ["-c", *sys.argv[3:]]
    exec(compile(code, "<string>", "exec"), {{"__name__": "__main__"}})
else:
    sys.exit("unexpected call: " + " ".join(sys.argv[1:]))
"""


class Setup:
    """A repository folder with the real setup.sh, and a way to run it."""

    def __init__(self, tmp: Path):
        self.tmp = tmp.resolve()
        self.root = self.tmp / "repo"
        (self.root / "scripts").mkdir(parents=True)
        shutil.copy(ROOT / "scripts" / "setup.sh", self.root / "scripts" / "setup.sh")
        shutil.copy(ROOT / "pyproject.toml", self.root / "pyproject.toml")
        self.venv = self.tmp / "venv"
        self.log = self.tmp / "calls.log"
        self.log.touch()
        bin_dir = self.tmp / "bin"
        executable(bin_dir / "dpkg", "#!/bin/sh\nexit 0\n")  # every system package is there
        self.venv_python = executable(self.tmp / "venv-python", VENV_PYTHON)
        self.maker = executable(self.tmp / "python-maker", MAKER)
        self.fake_site = self.tmp / "site"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("NAPARI_UNET_")}
        self.env.update(
            PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            SETUP_LOG=str(self.log),
            REAL_PYTHON=sys.executable,
            FAKE_SITE=str(self.fake_site),
            VENV_PYTHON_TEMPLATE=str(self.venv_python),
            NAPARI_UNET_VENV=str(self.venv),
            PYTHON=str(self.maker),
        )

    def torch(self, version: str) -> None:
        """A stand-in torch of this version, importable by the environment's python."""
        package = self.fake_site / "torch"
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").write_text(f"__version__ = {version!r}\n", encoding="utf-8")

    def healthy_venv(self) -> None:
        executable(self.venv / "bin" / "python", self.venv_python.read_text(encoding="utf-8"))
        (self.venv / ".napari-unet-installed").touch()
        stamp = self.venv / ".napari-unet-installed"
        os.utime(stamp, (os.path.getmtime(self.root / "pyproject.toml") + 10,) * 2)

    def run(self, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["bash", str(self.root / "scripts" / "setup.sh")],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=120,
        )

    def calls(self) -> list[str]:
        return self.log.read_text(encoding="utf-8").splitlines()


@pytest.fixture
def setup(tmp_path) -> Setup:
    return Setup(tmp_path)


def test_the_minimum_python_is_pyprojects(setup):
    script = (ROOT / "scripts" / "setup.sh").read_text(encoding="utf-8")
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    wanted = re.search(r'requires-python\s*=\s*">=\s*([\d.]+)"', pyproject).group(1)
    assert re.search(r"^min_python=([\d.]+)", script, re.M).group(1) == wanted


def test_an_old_python_is_refused_first_with_what_to_do(setup):
    old = executable(setup.tmp / "python3.8", OLD_PYTHON.format(real=sys.executable))
    result = setup.run(PYTHON=str(old))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "napari-unet needs Python >= 3.10 (found 3.8); set PYTHON=" in result.stdout
    assert not setup.venv.exists()  # nothing was made or installed


def test_a_missing_python_is_named(setup):
    result = setup.run(PYTHON="python-that-is-not-there")
    assert result.returncode == 1
    assert "no python-that-is-not-there found" in result.stdout and "PYTHON=" in result.stdout


def test_a_venv_whose_python_cannot_run_pip_is_made_again(setup):
    # What `python3 -m venv` leaves when python3-venv is missing: bin/python, no pip.
    executable(setup.venv / "bin" / "python", "#!/bin/sh\necho 'No module named pip' >&2\nexit 1\n")
    setup.torch("2.13.0")
    result = setup.run()
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"python -m venv --clear {setup.venv}" in setup.calls()
    assert "recreating" in result.stdout
    assert "[setup] ready: napari-unet" in result.stdout


def test_a_healthy_venv_is_kept(setup):
    setup.healthy_venv()
    setup.torch("2.13.0")
    result = setup.run()
    assert result.returncode == 0, result.stdout + result.stderr
    assert not [c for c in setup.calls() if "-m venv" in c or "pip install" in c]


@pytest.mark.parametrize(
    ("wanted", "replaced"),
    [("torch==2.5.1", True), ("torch>=2.2", False), ("torch==2.13.0", False), (None, False)],
)
def test_an_installed_torch_is_replaced_only_when_the_override_asks_for_another(
    setup, wanted, replaced
):
    setup.healthy_venv()
    setup.torch("2.13.0+cpu")
    env = {} if wanted is None else {"NAPARI_UNET_TORCH": wanted}
    result = setup.run(**env)
    assert result.returncode == 0, result.stdout + result.stderr
    installs = [c for c in setup.calls() if "pip install" in c]
    if replaced:
        assert installs == [f"venv-python -m pip install -q {wanted}"]
        assert (
            f"torch 2.13.0+cpu is installed; NAPARI_UNET_TORCH asks for {wanted}" in result.stdout
        )
    else:
        assert installs == []


def test_an_override_that_is_no_plain_requirement_says_how_to_replace_torch(setup):
    setup.healthy_venv()
    setup.torch("2.13.0")
    result = setup.run(NAPARI_UNET_TORCH="./wheels/torch-2.5.1-cp311-linux_x86_64.whl")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "torch 2.13.0 is installed and kept" in result.stdout
    assert "pip install --force-reinstall" in result.stdout


def dist_info(site: Path, name: str, *requires: str) -> None:
    folder = site / f"{name.replace('-', '_')}-1.0.dist-info"
    folder.mkdir(parents=True)
    lines = ["Metadata-Version: 2.1", f"Name: {name}", "Version: 1.0"]
    lines += [f"Requires-Dist: {req}" for req in requires]
    (folder / "METADATA").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_replacing_torch_removes_the_cuda_packages_nothing_needs(setup):
    """A CUDA torch replaced by a CPU one leaves nvidia-* and triton, which can crash napari."""
    setup.healthy_venv()
    setup.torch("2.14.1")
    dist_info(setup.fake_site, "nvidia-cublas-fake")  # the old torch's, needed by nothing now
    dist_info(setup.fake_site, "triton")
    dist_info(setup.fake_site, "nvidia-kept-fake")
    dist_info(setup.fake_site, "gpu-tool-fake", "nvidia-kept-fake")  # still needs it
    result = setup.run(NAPARI_UNET_TORCH="torch==2.13.0")
    assert result.returncode == 0, result.stdout + result.stderr
    uninstalls = [c for c in setup.calls() if "pip uninstall" in c]
    assert uninstalls == ["venv-python -m pip uninstall -y -q nvidia-cublas-fake triton"]
