#!/usr/bin/env bash
# Set up (if needed) and run the whole check: ruff, then pytest under a virtual X server
# (pytest-xvfb starts Xvfb when there is no display). Extra arguments go to pytest.
# The tests run in parallel processes (pytest-xdist), one per core up to 4: on the 2-core CI
# machine the suite takes about half the time of one process, since most tests wait on Qt, a
# subprocess or the disk for part of their time. NAPARI_UNET_TEST_WORKERS=0 runs one process.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
venv="${NAPARI_UNET_VENV:-.venv}"
echo "[test] ruff"
"$venv/bin/ruff" check .
echo "[test] pytest"
workers="${NAPARI_UNET_TEST_WORKERS:-auto}"
if [ "$workers" = "0" ]; then
    exec "$venv/bin/python" -m pytest "$@"
fi
exec "$venv/bin/python" -m pytest -n "$workers" --maxprocesses=4 "$@"
