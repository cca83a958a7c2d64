#!/usr/bin/env bash
# Set up napari-unet on a bare Debian/Ubuntu machine: system libraries for Qt on X,
# a virtual environment in .venv, torch that fits the machine, the project (editable)
# with its test tools. Cheap to re-run: every step checks first.
#
# Environment:
#   NAPARI_UNET_TORCH   the torch requirement to install (for example "torch==2.5.1"
#                       or "torch>=2.2" for the CUDA build on a GPU machine). When set and the
#                       installed torch does not satisfy it, torch is replaced.
#                       Default: "torch>=2.2" where nvidia-smi finds a GPU, else "torch==2.13.0"
#                       (a CPU wheel of that version is kept on the project's build machines;
#                       elsewhere PyPI's torch is the large CUDA build: see README.md).
#                       An installed torch is kept when this is not set.
#   NAPARI_UNET_VENV    where to create the virtual environment (default: .venv).
#   PYTHON              the interpreter used to create it (default: python3).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${NAPARI_UNET_VENV:-.venv}"
python="${PYTHON:-python3}"
min_python=3.10  # pyproject.toml's requires-python
log() { printf '[setup] %s\n' "$*"; }

# 0. An interpreter new enough, before anything is installed (pip's own error for an old
#    one is a baffling "no matching distribution" for torch).
if ! command -v "$python" >/dev/null 2>&1; then
    log "no $python found: napari-unet needs Python >= $min_python; set PYTHON=/path/to/python3.X"
    exit 1
fi
found="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo unknown)"
if ! "$python" -c "import sys; sys.exit(sys.version_info[:2] < tuple(map(int, '$min_python'.split('.'))))" \
        >/dev/null 2>&1; then
    log "napari-unet needs Python >= $min_python (found $found); set PYTHON=/path/to/python3.X"
    exit 1
fi

# 1. System libraries Qt 6 (PyQt6) needs on X, a virtual X server for headless runs, and
#    the venv module (Debian and Ubuntu ship it apart from python3).
if command -v dpkg >/dev/null 2>&1; then
    missing=()
    installed() { dpkg -s "$1" >/dev/null 2>&1 || dpkg -s "${1}t64" >/dev/null 2>&1; }
    for pkg in xvfb xauth libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxcb-xinerama0 \
               libxcb-shape0 libxcb-image0 libxcb-randr0 libxcb-render-util0 libxcb-xkb1 \
               libxkbcommon-x11-0 libglib2.0-0 libegl1 libgl1 libgl1-mesa-dri libfontconfig1 \
               libdbus-1-3 python3-venv; do
        installed "$pkg" || missing+=("$pkg")
    done
    # The venv package of the interpreter's own version, where apt has one (a python3.12
    # beside a python3.11 default needs python3.12-venv).
    if ! installed "python$found-venv" && apt-cache show "python$found-venv" >/dev/null 2>&1; then
        missing+=("python$found-venv")
    fi
    if [ "${#missing[@]}" -gt 0 ]; then
        sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        log "installing system packages: ${missing[*]}"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
    fi
else
    log "no dpkg: install Xvfb, the Qt xcb libraries and Python's venv module with your system's package manager"
fi

# 2. Virtual environment. One whose python cannot run pip (a venv made while python3-venv
#    was missing: it has bin/python but no pip) is made again.
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
    if [ -e "$venv" ]; then
        log "recreating $venv: its python cannot run pip"
    else
        log "creating $venv"
    fi
    if ! "$python" -m venv --clear "$venv"; then
        log "could not create $venv with $python (Debian/Ubuntu: apt-get install python3-venv)"
        exit 1
    fi
fi
pip=("$venv/bin/python" -m pip install -q)

# 3. torch, before the project, so that the project's "torch>=2.2" leaves it alone.
installed_torch="$("$venv/bin/python" -c 'import torch; print(torch.__version__)' 2>/dev/null || true)"
if [ -z "$installed_torch" ]; then
    if [ -n "${NAPARI_UNET_TORCH:-}" ]; then
        torch_req="$NAPARI_UNET_TORCH"
    elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
        torch_req="torch>=2.2"
    else
        torch_req="torch==2.13.0"
    fi
    log "installing $torch_req"
    "${pip[@]}" "$torch_req"
elif [ -n "${NAPARI_UNET_TORCH:-}" ]; then
    # Exit status 0: the installed torch satisfies the requirement; 1: it does not;
    # 2: the requirement is no plain "torch<specifier>" (a URL or a file) and cannot be compared.
    status=0
    "$venv/bin/python" - "$NAPARI_UNET_TORCH" "$installed_torch" <<'PY' || status=$?
import sys
try:
    from packaging.requirements import Requirement
except ImportError:
    from pip._vendor.packaging.requirements import Requirement
try:
    req = Requirement(sys.argv[1])
except Exception:
    sys.exit(2)
if req.name.lower() != "torch" or req.url:
    sys.exit(2)
sys.exit(0 if req.specifier.contains(sys.argv[2], prereleases=True) else 1)
PY
    if [ "$status" -eq 1 ]; then
        log "torch $installed_torch is installed; NAPARI_UNET_TORCH asks for $NAPARI_UNET_TORCH: replacing it"
        "${pip[@]}" "$NAPARI_UNET_TORCH"
        # pip keeps what the old torch brought: a CUDA build's nvidia-*, cuda-* and triton
        # packages, which beside a CPU build can crash the process. Remove those nothing needs.
        orphans="$("$venv/bin/python" - <<'PY'
import re
from importlib.metadata import distributions
try:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ImportError:
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.utils import canonicalize_name
gpu = re.compile(r"^(nvidia-.*|cuda-.*|triton)$")
dists = {canonicalize_name(d.metadata["Name"]): d for d in distributions() if d.metadata["Name"]}
def needs(dist):
    extras = ["", *(dist.metadata.get_all("Provides-Extra") or [])]
    for text in dist.requires or []:
        req = Requirement(text)
        if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in extras):
            yield canonicalize_name(req.name)
kept, todo = set(), [name for name in dists if not gpu.match(name)]
while todo:
    for dep in needs(dists[todo.pop()]):
        if dep in dists and dep not in kept and gpu.match(dep):
            kept.add(dep)
            todo.append(dep)
print(" ".join(sorted(name for name in dists if gpu.match(name) and name not in kept)))
PY
)"
        if [ -n "$orphans" ]; then
            log "removing what the replaced torch needed and nothing needs now: $orphans"
            # shellcheck disable=SC2086  # one name per word
            "$venv/bin/python" -m pip uninstall -y -q $orphans
        fi
    elif [ "$status" -ne 0 ]; then
        log "torch $installed_torch is installed and kept; NAPARI_UNET_TORCH=$NAPARI_UNET_TORCH cannot be compared with it."
        log "to replace it: $venv/bin/python -m pip install --force-reinstall '$NAPARI_UNET_TORCH'"
    fi
fi

# 4. The project, editable, with the Qt binding and the test tools. Skipped when the
#    installed metadata is newer than pyproject.toml. The bioimageio extra writes and
#    reads bioimage.io model packages (napari-unet export / import; their tests need it).
stamp="$venv/.napari-unet-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    log "installing napari-unet with the qt, testing and bioimageio extras"
    "${pip[@]}" -e ".[all,testing,bioimageio]"
    touch "$stamp"
fi
log "ready: $("$venv/bin/python" -c 'import torch, napari_unet; print("napari-unet", napari_unet.__version__, "torch", torch.__version__)')"
