#!/usr/bin/env bash
# Set up (if needed) and run the whole check: ruff, then pytest under a virtual X server
# (pytest-xvfb starts Xvfb when there is no display). Extra arguments go to pytest; a path
# (tests/x.py, or tests/x.py::test_name) is taken from the folder you run this script in.
# The tests run in parallel processes (pytest-xdist), one more than the cores, up to 4: most
# tests wait on Qt, a subprocess or the disk for part of their time, so on the 2-core CI
# machine a third process fills the cores; an idle process takes tests still queued for
# another (--dist worksteal), so the run does not end on one process's backlog.
# NAPARI_UNET_TEST_WORKERS=N runs N processes, 0 one process without xdist.
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
cores="$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)"
workers="${NAPARI_UNET_TEST_WORKERS:-$((cores + 1 < 4 ? cores + 1 : 4))}"
if [ "$workers" = "0" ]; then
    exec "$venv/bin/python" -m pytest "$@"
fi
exec "$venv/bin/python" -m pytest -n "$workers" --dist worksteal "$@"
