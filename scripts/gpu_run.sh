#!/usr/bin/env bash
# Run the conformance suite on a GPU machine and write its JSON (and HTML).
#
#   bash scripts/gpu_run.sh [OUT_DIR]
#
# torch and jax run on CUDA (CONFORMANCE_DEVICE=cuda), tensorflow on its GPU. A framework
# without a visible GPU is skipped with a message, so the script also runs, and does
# nothing harmful, on a CPU-only machine.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-reports/gpu}"
mkdir -p "$OUT"
PY="${PYTHON:-.venv/bin/python}"

has_gpu() {
    case "$1" in
        torch) "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null ;;
        jax) "$PY" -c "import jax, sys; sys.exit(0 if any(d.platform == 'gpu' for d in jax.devices()) else 1)" 2>/dev/null ;;
        tensorflow) "$PY" -c "import tensorflow as tf, sys; sys.exit(0 if tf.config.list_physical_devices('GPU') else 1)" 2>/dev/null ;;
    esac
}

status=0
ran=()
for framework in torch jax tensorflow; do
    if ! has_gpu "$framework"; then
        echo "gpu_run: $framework sees no GPU here; skipped" >&2
        continue
    fi
    device=cuda
    [ "$framework" = tensorflow ] && device=gpu
    CONFORMANCE_DEVICE="$device" "$PY" -m conformance run --frameworks "$framework" --all-paths --profile ci \
        --json "$OUT/$framework.json" --plain || status=1
    ran+=("$OUT/$framework.json")
done
if [ "${#ran[@]}" -gt 0 ]; then
    "$PY" -m conformance report "${ran[@]}" -o "$OUT/index.html"
else
    echo "gpu_run: no framework sees a GPU; nothing ran" >&2
fi
exit $status
