#!/usr/bin/env bash
# One lent GPU's work, prepared to run as ONE device call (device time is a few minutes).
#
# Here, once, before the call (after committing: the commit is recorded):
#     bash scripts/gpu_session.sh prepare
# copies the DSB2018 set (about 46 MB) into .gpu/ (ignored by git) so that it travels with
# the working tree. Then the call (the device tool's `run`):
#     command: bash scripts/gpu_session.sh run      carry: [".gpu"]      timeout_s: 580
# Its tables and logs come back in $OUT; copy the figures into docs/benchmarks.md with the
# device named. The device machine has python3 with a CUDA torch, numpy, scipy, scikit-image,
# tifffile and safetensors, which is all the core needs (no napari, dask or zarr there), so
# nothing is installed: the package runs from src/.
#
# What it measures, in order of priority (each step has its own time limit, so a slow step
# costs its own figures only):
#   1. issue 21: prediction on the GPU (old and new path, on-device pipeline, host/device
#      split) at 4096 x 4096 for the built-in model and the paper's network;
#   2. issue 21: training crops on the host against crops on the device (images/s, loss);
#   3. issue 17: the fluorescence recipe at GPU scale (`scripts/train_nuclei.py`), a model
#      file and its test scores, to compare with the built-in model's.
# SMOKE=1 runs every step with tiny sizes on the CPU, to check the orchestration here.
set -u -o pipefail
cd "$(dirname "$0")/.."

case "${1:-}" in
prepare)
    src="${DATA:-../shared/data}/dsb2018_full"
    [ -f "$src/index.csv" ] || { echo "no DSB2018 set at $src (set DATA)" >&2; exit 2; }
    grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
    mkdir -p .gpu && rm -rf .gpu/dsb2018_full && cp -r "$src" .gpu/dsb2018_full
    git rev-parse --short HEAD >.gpu/commit  # the tree travels without .git
    du -sh .gpu
    exit 0
    ;;
run) ;;
*)
    echo "usage: bash scripts/gpu_session.sh prepare|run" >&2
    exit 2
    ;;
esac

OUT="${OUT:-/tmp/gpu-session}"
mkdir -p "$OUT"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY="${PYTHON:-python3}"
DATA_DIR=.gpu/dsb2018_full
if [ "${SMOKE:-0}" = 1 ]; then
    DEVICE=cpu
    PREDICT=(--sizes 256 --models nuclei --repeats 1 --pipeline none)
    CROPS=(--images 2 --steps 8 --batches 1 --stat-batches 2 --batch 2 --crop 64)
    RECIPE=(--steps 4 --head paper --batch-size 2 --crop-size 64 --extra-val 1)
    LIMITS=(120 120 300)
else
    DEVICE=cuda
    PREDICT=(--sizes 4096 --models nuclei,paper --repeats 2 --pipeline nuclei,paper)
    CROPS=(--steps 60 --seeds 2)
    # 32 base channels (4x the built-in model's FLOPs; 7.5 MB): what a GPU can train in minutes.
    RECIPE=(--minutes 3 --base-channels 32 --head paper --batch-size 8 --crop-size 256
        --zoom 0.4 --precision bf16)
    LIMITS=(120 100 330)
fi

step() {  # step NAME LIMIT COMMAND...: run with a time limit, log to $OUT/NAME.log
    local name=$1 limit=$2
    shift 2
    echo "== $name (limit ${limit}s)"
    local start=$SECONDS
    timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
    local code=$?
    echo "   exit $code after $((SECONDS - start)) s"
    tail -n 40 "$OUT/$name.log"
}

{
    date -u
    echo "commit $(git rev-parse --short HEAD 2>/dev/null || cat .gpu/commit 2>/dev/null)"
    "$PY" -c 'import torch; print(torch.__version__, torch.cuda.is_available() and torch.cuda.get_device_name(0))'
    nvidia-smi -L 2>/dev/null
    nproc
} >"$OUT/machine.txt" 2>&1
cat "$OUT/machine.txt"

step predict_speed "${LIMITS[0]}" "$PY" benchmarks/predict_speed.py --device "$DEVICE" "${PREDICT[@]}"
step train_device "${LIMITS[1]}" "$PY" benchmarks/train_device.py --device "$DEVICE" \
    --data "$DATA_DIR" "${CROPS[@]}"
step train_nuclei "${LIMITS[2]}" "$PY" scripts/train_nuclei.py --data "$DATA_DIR" --kinds fluo \
    --device "$DEVICE" --work /tmp/gpu-session-work --output "$OUT/nuclei-gpu.unet.safetensors" \
    "${RECIPE[@]}"
ls -la "$OUT"
