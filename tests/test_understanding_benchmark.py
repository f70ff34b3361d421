"""Every domain's labelled utterances: act F1 >= 0.90 on the held-out half."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_held_out_act_f1_of_every_domain(tmp_path):
    out = tmp_path / "understanding.json"
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "understanding.py"),
                           "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    results = json.loads(out.read_text())
    assert len(results) >= 6  # one labelled set per built-in domain with a simulated user
    for domain, r in results.items():
        assert r["n"] >= 50, domain  # at least 50 held-out utterances
        assert r["micro"]["f1"] >= 0.90, (domain, r["micro"])
