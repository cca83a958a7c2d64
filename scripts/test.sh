#!/usr/bin/env bash
# Set up (if needed) and run the whole check: ruff, then pytest under a virtual X server
# (pytest-xvfb starts Xvfb when there is no display). Extra arguments go to pytest; a path
# (tests/x.py, or tests/x.py::test_name) is taken from the folder you run this script in.
# The tests run in parallel processes (pytest-xdist), one per core up to 4: on the 2-core CI
# machine the suite takes about half the time of one process, since most tests wait on Qt, a
# subprocess or the disk for part of their time. NAPARI_UNET_TEST_WORKERS=0 runs one process.
set -euo pipefail
# The script works in the repository folder: make the caller's relative paths absolute first.
caller="$PWD"
for arg in "$@"; do
    shift
    path="${arg%%::*}"
    case "$arg" in
        -* | /*) ;;
        *) if [ -n "$path" ] && [ -e "$caller/$path" ]; then arg="$caller/$arg"; fi ;;
    esac
    set -- "$@" "$arg"
done
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
