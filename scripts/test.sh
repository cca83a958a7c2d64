#!/usr/bin/env bash
# Set up (if needed) and run the whole check: ruff, then pytest under a virtual X server
# (pytest-xvfb starts Xvfb when there is no display). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
venv="${NAPARI_UNET_VENV:-.venv}"
echo "[test] ruff"
"$venv/bin/ruff" check .
echo "[test] pytest"
exec "$venv/bin/python" -m pytest "$@"
