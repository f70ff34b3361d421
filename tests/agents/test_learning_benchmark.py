import importlib.util
import json
import sys

from agent_testutil import ROOT


def _load_benchmark():
    spec = importlib.util.spec_from_file_location("learning_sb3",
                                                  ROOT / "benchmarks" / "learning_sb3.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def test_smoke_budget_writes_curves_summary_and_plot(tmp_path):
    bench = _load_benchmark()
    doc = bench.main(["--smoke", "--out", str(tmp_path), "--threads", "0"])
    saved = json.loads((tmp_path / "learning_sb3.json").read_text())
    assert saved["summary"] == doc["summary"] and saved["smoke"] is True
    assert (tmp_path / "learning_sb3.png").stat().st_size > 5_000
    assert set(saved["baselines"]) >= {"expert", "random", "random-candidate"}
    assert saved["baselines"]["expert"]["success_rate"] > 0.5
    for algo in ("ppo", "a2c"):
        s = saved["summary"][algo]
        assert 0 < s["steps"] <= saved["config"]["steps"]  # the budget is never exceeded
        assert set(s["targets"]) == {"return_ge_80pct_expert_mean_over_seeds",
                                     "return_ge_80pct_expert_every_seed",
                                     "success_ge_3x_random", "success_ge_3x_random_candidate"}
    runs = saved["runs"]
    assert {r["algo"] for r in runs} == {"ppo", "a2c"}
    assert all(r["curve"][0]["steps"] == 0 and len(r["curve"]) >= 2 for r in runs)
    assert all(r["training_scenarios_in_eval_set"] == 0 for r in runs)
