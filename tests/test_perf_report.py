"""benchmarks/perf.py: the combined report reads each part's JSON and judges each ratio."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load():
    spec = importlib.util.spec_from_file_location("perf_all", ROOT / "benchmarks" / "perf.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_report_collects_every_ratio_and_judges_targets(tmp_path, capsys):
    perf = _load()
    (tmp_path / "perf_env.json").write_text(json.dumps(
        {"ratio_single_vs_textarena": 1.5, "ratio_null_env_vs_textarena": 5.3,
         "ratio_batched_vector_vs_sync_semantic": 2.4,
         "ratio_batched_vector_vs_sync_semantic_policy_like": 1.9}))
    (tmp_path / "perf_scorers.json").write_text(json.dumps(
        {"semantic_ratio_vs_encode_per_item": {"torch_threads_1": {"batch_64": 2.0},
                                               "torch_threads_2": {"batch_64": 4.8}}}))
    # perf_rl.json missing: its ratio is reported as missing, not invented
    assert perf.main(["--only", "", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "perf.json").read_text())
    rows = report["ratios"]
    assert len(rows) == len(perf.RATIOS)
    env_single, env_policy, null, minimal = [r for r in rows if r["peer"] == "textarena"]
    assert env_single["value"] == 1.5 and env_single["met"] is False
    assert "policy-like" in env_policy["ratio"] and env_policy["value"] is None
    # reference rows carry no target and are never judged
    assert null["value"] == 5.3 and null["target"] is None and null["met"] is None
    assert minimal["value"] is None and minimal["met"] is None
    vec = [r for r in rows if "SyncVectorEnv" in r["peer"] and r["part"] == "env"]
    assert [r["met"] for r in vec] == [True, False]
    assert not any(r["measured_this_run"] for r in vec)
    sem = [r for r in rows if r["peer"] == "sentence-transformers" and r["part"] == "scorers"]
    assert [r["met"] for r in sem] == [False, True]
    # GPU results are read when saved (never run by perf.py), and labelled with the GPU
    gpu = [r for r in rows if r["part"].startswith("gpu")]
    assert len(gpu) == 3 and all(r["value"] is None for r in gpu)
    rl = next(r for r in rows if r["peer"] == "trl")
    assert rl["value"] is None and rl["met"] is None
    md = (tmp_path / "perf.md").read_text()
    assert "missing" in md and "**no**" in md and "2.40x" in md
    assert f"{report['cpus']} CPUs, Python {report['python']}" in md  # the machine is named
    assert "| ratio |" in capsys.readouterr().out
    (tmp_path / "perf_scorers_cuda.json").write_text(json.dumps(
        {"machine": {"accelerator": "NVIDIA H200"},
         "semantic_ratio_vs_encode_per_item": {"torch_threads_1": {"batch_64": 19.8}}}))
    assert perf.main(["--only", "", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "perf.json").read_text())["ratios"]
    [g] = [r for r in rows if r["part"] == "gpu_scorers"]
    assert g["value"] == 19.8 and g["met"] is True and "GPU (NVIDIA H200)" in g["ratio"]


def test_unknown_part_is_an_error(tmp_path):
    perf = _load()
    with pytest.raises(SystemExit):
        perf.main(["--only", "gpu", "--out", str(tmp_path)])


def test_regenerating_the_report_keeps_earlier_run_records(tmp_path):
    """Parts not run now keep their command, time and load from the previous report."""
    perf = _load()
    earlier = {"env": {"command": "python benchmarks/perf_env.py", "returncode": 0,
                       "seconds": 36.9, "load_average_1min_at_start": 0.94}}
    (tmp_path / "perf.json").write_text(json.dumps({"runs": earlier}))
    assert perf.main(["--only", "", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "perf.json").read_text())
    assert report["runs"]["env"] == {**earlier["env"], "this_run": False}
    assert "env 0.94" in (tmp_path / "perf.md").read_text()
