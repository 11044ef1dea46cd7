#!/usr/bin/env bash
# Issue 37 on one GPU, in one call: `fast` on JAX with a cold then a warm compile cache, against
# airbench94's own PyTorch script, three seeds each, all 50,000 training images, test accuracy
# with TTA; then the course CNN against a notebook-style model.fit on JAX, batch 32/64/128.
#
#   bench/gpu_vs_airbench.sh AIRBENCH94_PY ARCHIVE [--quick]
#
# AIRBENCH94_PY: airbench94.py (KellerJordan/cifar10-airbench, legacy/airbench94.py), not part
# of this project. ARCHIVE: the CIFAR-10 JPEG archive. --quick: the CPU dry run (20 images per
# class, 1 epoch, 10 test images per class; airbench is skipped without CUDA). Results go to
# $OUT (the device tool's folder; default ./gpu-out) as JSON lines, and to the terminal.
#
# Before the call, on the machine with internet, put what the GPU machine lacks in an ignored
# folder that travels with the tree (the GPU machines have JAX and PyTorch, no Keras, no
# TensorFlow, no internet), about 21 MiB:
#   mkdir -p .gpu/whl && cp ../shared/data/cifar10-jpg.tar.gz .gpu/ && cp PATH/airbench94.py .gpu/
#   pip download --no-deps --only-binary=:all: --python-version 3.12 -d .gpu/whl \
#       keras==3.15.1 namex optree          # the GPU machine's Python (3.12 on the last H200)
# and on the GPU machine first:
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .gpu/whl/*.whl
#   export PYTHONPATH=/tmp/site
#
# Time boxes (seconds of the device tool's 600 a call, 900 a session with the start): the
# sections run in order of what the issue needs most, each under `timeout`.
set -u
AIRBENCH=${1:?usage: bench/gpu_vs_airbench.sh AIRBENCH94_PY ARCHIVE [--quick]}
DATA=${2:?usage: bench/gpu_vs_airbench.sh AIRBENCH94_PY ARCHIVE [--quick]}
QUICK=${3:-}
HERE=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$HERE/gpu-out}
mkdir -p "$OUT"
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$HERE"
export KERAS_BACKEND=jax XLA_PYTHON_CLIENT_PREALLOCATE=false
export CIFAR_TUI_CACHE=${CIFAR_TUI_CACHE:-/tmp/cifar-tui-cache}   # the decoded data (.npy)
PY=${PYTHON:-python3}
T0=$SECONDS
say() { echo "== $* ($((SECONDS - T0)) s)"; }

if [ "$QUICK" = "--quick" ]; then
    FAST=(--subset 20 --epochs 1 --test-subset 10 --seeds 0,0)
    AIR=(--subset 20 --epochs 1 --seeds 0)
    GPU=(--quick --budget-s 120)
    BOX_FAST=900 BOX_AIR=300 BOX_CNN=600
else
    FAST=(--subset 0 --epochs 0 --seeds 0,0,1,2)   # the preset's epochs, all 50,000 images
    AIR=(--warmup --seeds 0,1,2)
    GPU=(--budget-s 150)
    BOX_FAST=200 BOX_AIR=120 BOX_CNN=200
fi

say "device"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null \
    || echo "no nvidia-smi: no NVIDIA GPU here"
$PY -c "import jax, keras; print('jax', jax.__version__, jax.devices(), 'keras', keras.__version__)"
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" \
    2>/dev/null || echo "no torch"

say "data: decode the archive once (untimed), so no run below pays for it"
$PY -m cifar_tui data --data "$DATA" | tail -2

say "1. fast on JAX, --val-split 0: the first seed on a cold compile cache, the rest warm"
timeout "$BOX_FAST" $PY "$HERE/bench/compile_cache.py" --data "$DATA" --archs fast \
    --cache /tmp/cifar-tui-compiled --out "$OUT/fast.jsonl" "${FAST[@]}" -- --val-split 0 \
    || echo "fast: stopped or failed (exit $?)"

say "2. airbench94 (PyTorch), its own script, the same data"
timeout "$BOX_AIR" $PY "$HERE/bench/airbench_run.py" --airbench "$AIRBENCH" --data "$DATA" \
    "${AIR[@]}" | tee "$OUT/airbench.txt" || echo "airbench: stopped or failed"

say "3. the course CNN: ours against a notebook model.fit, batch 32/64/128, JAX"
timeout "$BOX_CNN" $PY "$HERE/bench/gpu.py" --data "$DATA" --out "$OUT" \
    --only ours:cnn,notebook:cnn "${GPU[@]}" || echo "cnn: stopped or failed (exit $?)"

say "done"
