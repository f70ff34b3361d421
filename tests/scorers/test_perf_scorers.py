import json
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_perf_scorers_smoke(tmp_path):
    out = tmp_path / "perf.json"
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, str(root / "benchmarks" / "perf_scorers.py"),
                    "--episodes", "4", "--repeats", "1", "--ratio-threads", "1",
                    "--out", str(out)],
                   check=True, cwd=root, timeout=900)
    report = json.loads(out.read_text())
    for name in ("bleu", "rouge", "token_f1", "semantic", "emotion_consistency",
                 "logic_consistency", "repetition", "length"):
        row = report["scorers"][name]
        assert row["batch_1_items_per_s"] > 0 and row["batch_64_items_per_s"] > 0
    for b in (1, 64):
        cell = report["scorers"]["semantic_vs_encode_per_item_torch_threads_1"][f"batch_{b}"]
        assert cell["max_abs_score_diff"] < 1e-4  # same scores as the peer
        assert cell["ratio"] > 0 and cell["texts_encoded"] <= cell["peer_texts_encoded"]
    assert report["scorers"]["semantic_vs_encode_per_item_torch_threads_1"]["batch_64"][
        "model_calls"] < report["workload"]["items"]
