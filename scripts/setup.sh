#!/usr/bin/env bash
# Set up napari-unet on a bare Debian/Ubuntu machine: system libraries for Qt on X,
# a virtual environment in .venv, torch that fits the machine, the project (editable)
# with its test tools. Cheap to re-run: every step checks first.
#
# Environment:
#   NAPARI_UNET_TORCH   the torch requirement to install (for example "torch==2.5.1"
#                       or "torch>=2.2" for the CUDA build on a GPU machine).
#                       Default: "torch>=2.2" where nvidia-smi finds a GPU, else "torch==2.13.0"
#                       (a CPU wheel of that version is kept on the project's build machines).
#   NAPARI_UNET_VENV    where to create the virtual environment (default: .venv).
#   PYTHON              the interpreter used to create it (default: python3).
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${NAPARI_UNET_VENV:-.venv}"
python="${PYTHON:-python3}"
log() { printf '[setup] %s\n' "$*"; }

# 1. System libraries Qt 6 needs on X, and a virtual X server for headless runs.
if command -v dpkg >/dev/null 2>&1; then
    missing=()
    for pkg in xvfb xauth libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxcb-xinerama0 \
               libxkbcommon-x11-0 libegl1 libgl1 libgl1-mesa-dri libfontconfig1 libdbus-1-3; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        sudo=""
        [ "$(id -u)" -eq 0 ] || sudo="sudo"
        log "installing system packages: ${missing[*]}"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
    fi
else
    log "no dpkg: install Xvfb and the Qt xcb libraries with your system's package manager"
fi

# 2. Virtual environment.
if [ ! -x "$venv/bin/python" ]; then
    log "creating $venv"
    "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip install -q)

# 3. torch, before the project, so that the project's "torch>=2.2" leaves it alone.
if ! "$venv/bin/python" -c "import torch" >/dev/null 2>&1; then
    if [ -n "${NAPARI_UNET_TORCH:-}" ]; then
        torch_req="$NAPARI_UNET_TORCH"
    elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
        torch_req="torch>=2.2"
    else
        torch_req="torch==2.13.0"
    fi
    log "installing $torch_req"
    "${pip[@]}" "$torch_req"
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
