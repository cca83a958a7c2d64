#!/usr/bin/env bash
# Set up (if needed) and open napari with the nuclei sample and every napari-unet widget.
# Without a display it saves a screenshot to demo.png instead. Extra arguments go to
# `napari-unet demo` (for example --sample touching_cells or --screenshot out.png).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
venv="${NAPARI_UNET_VENV:-.venv}"
if [ $# -eq 0 ] && [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ "$(uname)" = Linux ]; then
    set -- --screenshot demo.png
fi
exec "$venv/bin/napari-unet" demo "$@"
