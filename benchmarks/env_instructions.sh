#!/usr/bin/env bash
# CPU instructions per episode of Dialog-CustomerService-v0 with the expert's replies:
# a cost figure that does not move with machine load (+-2%), for comparing code versions
# on a shared machine. Needs valgrind. Counts a replay of N episodes and of none under
# callgrind; the difference / N is the env's cost per episode (reset + ~3.3 steps).
#   bash benchmarks/env_instructions.sh [N=200] [python=python]
set -euo pipefail
N=${1:-200}
PY=${2:-python}
HERE=$(cd "$(dirname "$0")" && pwd)
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 2; }
ACTIONS="$HERE/results/env_replay_actions.json"
[ -f "$ACTIONS" ] || "$PY" "$HERE/env_replay.py" --record
count() {
  # one BLAS thread and a fixed hash seed: idle BLAS threads and hash order add noise
  OPENBLAS_NUM_THREADS=1 PYTHONHASHSEED=0 valgrind --tool=callgrind \
    --callgrind-out-file=/dev/null "$PY" "$HERE/env_replay.py" "$1" -q 2>&1 |
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
base=$(count 0)
full=$(count "$N")
"$PY" -c "print(f'{($full - $base) / $N / 1e6:.3f} M instructions per episode ($N episodes)')"
