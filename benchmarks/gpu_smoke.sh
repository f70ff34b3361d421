#!/usr/bin/env bash
# GPU smoke test of the LLM agent: the quick pipeline (SFT -> RM -> PPO) under the
# `deepspeed` launcher with bf16 and ZeRO-2, then a short evaluation of the PPO policy.
#
# Usage (on a machine with N >= 1 CUDA GPUs and dialog-gym installed):
#     bash benchmarks/gpu_smoke.sh [OUT_DIR] [NUM_GPUS]
# Environment: STAGE (ZeRO stage, default 2), EPISODES (evaluation, default 32), and
# SFT_JSON / RM_JSON / RL_JSON: overrides of each step's quick preset, e.g.
# RL_JSON='{"iterations": 6}' for a shorter smoke run.
# Exit status 0 means every step ran and wrote its metrics.json.
set -euo pipefail

OUT="${1:-runs/gpu_smoke}"
NGPU="${2:-$(python -c 'import torch; print(max(1, torch.cuda.device_count()))')}"
STAGE="${STAGE:-2}"
EPISODES="${EPISODES:-32}"
SFT_JSON="${SFT_JSON:-{\}}"
RM_JSON="${RM_JSON:-{\}}"
RL_JSON="${RL_JSON:-{\}}"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false

python - <<'EOF'
import sys, torch
if not torch.cuda.is_available():
    sys.exit("gpu_smoke.sh: no CUDA device; on a CPU run `dialog-gym train pipeline --quick`")
print(f"GPUs: {torch.cuda.device_count()} x {torch.cuda.get_device_name(0)}, "
      f"bf16 supported: {torch.cuda.is_bf16_supported()}")
EOF

mkdir -p "$OUT"
CONFIG="$OUT/ds_zero${STAGE}_bf16.json"
python - "$CONFIG" "$STAGE" <<'EOF'
import json, sys
from dialog_gym.agents.llm.engine import deepspeed_config
cfg = deepspeed_config(zero_stage=int(sys.argv[2]), bf16=True)
open(sys.argv[1], "w").write(json.dumps(cfg, indent=2))
print("DeepSpeed config:", sys.argv[1])
EOF

# One entry point for every step: `python -m dialog_gym.cli`, started by the launcher.
# --threads 1 keeps the (CPU) env simulators from oversubscribing the host.
START=$(date +%s)
deepspeed --num_gpus "$NGPU" --no_local_rank --module dialog_gym.cli train pipeline \
    --env Dialog-CustomerService-v0 --out "$OUT/pipeline" --quick \
    --deepspeed "$CONFIG" --threads 1 --sft "$SFT_JSON" --rm "$RM_JSON" --rl "$RL_JSON"
END=$(date +%s)

for step in sft rm ppo; do
    test -f "$OUT/pipeline/$step/metrics.json" || { echo "missing $step/metrics.json"; exit 1; }
done

dialog-gym evaluate --agent llm --agent-kw "model=\"$OUT/pipeline/ppo\"" \
    --agent-kw 'device="cuda"' --episodes "$EPISODES" --json > "$OUT/eval_ppo.json"

python - "$OUT" "$((END - START))" <<'EOF'
import json, sys
out, wall = sys.argv[1], int(sys.argv[2])
p = json.load(open(f"{out}/pipeline/metrics.json"))
e = json.load(open(f"{out}/eval_ppo.json"))
print(json.dumps({"pipeline_wall_s": wall,
                  "rm_heldout_accuracy": p.get("rm_heldout_accuracy"),
                  "ppo_eval_mean_return": e["mean_return"], "ppo_eval_ci95": e["ci95"],
                  "ppo_eval_success_rate": e["success_rate"]}, indent=2))
EOF
echo "gpu_smoke: OK"
