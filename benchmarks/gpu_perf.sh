#!/usr/bin/env bash
# Neural-scorer speed on a GPU: the two batching ratios of benchmarks/perf.py, measured
# with the sentence-embedding model on CUDA instead of the CPU.
#   1. perf_scorers.py: the `semantic` scorer vs one SentenceTransformer.encode call per
#      item, same model, same inputs, same run (target >= 3x).
#   2. perf_env.py: the batched vector env (vector_entry_point) vs gymnasium's
#      SyncVectorEnv of the same 8 envs with the `semantic` reward term on (target >= 2x).
# The environments themselves always run on the CPU; only the encoder moves.
#
# Usage (on a machine with a CUDA GPU and dialog-gym installed):
#     bash benchmarks/gpu_perf.sh [OUT_DIR]       # default benchmarks/results
# Environment: PYTHON (the interpreter, default `python`).
# Writes OUT_DIR/perf_scorers_cuda.json and OUT_DIR/perf_env_cuda.json.
set -euo pipefail

OUT="${1:-benchmarks/results}"
mkdir -p "$OUT"
PY="${PYTHON:-python}"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1

"$PY" - <<'PY'
import sys, torch
if not torch.cuda.is_available():
    sys.exit("gpu_perf.sh: no CUDA device; on a CPU run `python benchmarks/perf.py`")
print(f"GPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
PY

"$PY" benchmarks/perf_scorers.py --device cuda --scorers semantic --episodes 80 \
    --repeats 3 --torch-threads 1 --ratio-threads 1 --out "$OUT/perf_scorers_cuda.json"
"$PY" benchmarks/perf_env.py --device cuda --only semantic --num-envs 8 \
    --semantic-steps 40 --out "$OUT/perf_env_cuda.json"
echo "gpu_perf: OK"
