#!/usr/bin/env bash
# Set up (if needed) and open napari with the nuclei sample and every napari-unet widget.
# Without a display (and without --screenshot) it saves a screenshot to demo.png (in the
# repository folder) instead, replacing the one an earlier run saved, with or without other
# arguments. Extra arguments go to `napari-unet demo` (for
# example --sample touching_cells or --screenshot out.png; a relative PNG path is taken from
# the folder you run this script in, and an existing file is kept unless you add --overwrite).
set -euo pipefail
# The script works in the repository folder: make the --screenshot path absolute first.
caller="$PWD"
absolute() { case "$1" in /*) printf '%s' "$1" ;; *) printf '%s/%s' "$caller" "$1" ;; esac; }
screenshot_next=0
screenshot_given=0
for arg in "$@"; do
    shift
    if [ "$screenshot_next" = 1 ]; then
        arg="$(absolute "$arg")"
        screenshot_next=0
    else
        case "$arg" in
            --screenshot) screenshot_next=1; screenshot_given=1 ;;
            --screenshot=*)
                arg="--screenshot=$(absolute "${arg#--screenshot=}")"
                screenshot_given=1
                ;;
        esac
    fi
    set -- "$@" "$arg"
done
cd "$(dirname "$0")/.."
bash scripts/setup.sh
venv="${NAPARI_UNET_VENV:-.venv}"
if [ "$screenshot_given" = 0 ] && [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] \
    && [ "$(uname)" = Linux ]; then
    # This script's own picture: a re-run replaces it. The other arguments are kept
    # (before, `demo.sh --sample touching_cells` without a display failed: "no display").
    set -- "$@" --screenshot "$PWD/demo.png" --overwrite
fi
exec "$venv/bin/napari-unet" demo "$@"
