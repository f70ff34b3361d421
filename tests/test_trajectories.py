"""Trajectory export: episodes as chat-message JSONL with tools and per-turn rewards."""

import json
import math

import pytest

from dialog_gym.cli import main
from dialog_gym.evaluation import read_trajectories
from dialog_gym.leaderboard import run_cell
from dialog_gym.messages import validate


def _check(traj, env_id):
    assert traj["env_id"] == env_id
    assert validate(traj["messages"]) is None
    assert traj["messages"][0]["role"] == "system"
    assert len(traj["turn_rewards"]) == traj["turns"] >= 1
    assert math.isclose(sum(t["reward"] for t in traj["turn_rewards"]), traj["return"],
                        abs_tol=1e-9)
    for t in traj["turn_rewards"]:
        assert traj["messages"][t["message_index"]]["role"] == "assistant"
        assert set(t) >= {"reward", "scores", "violations", "success", "progress"}


def test_evaluate_saves_trajectories(tmp_path, capsys):
    out = tmp_path / "sub" / "t.jsonl"
    rc = main(["evaluate", "--agent", "expert", "--env", "Dialog-CustomerService-v0",
               "--episodes", "3", "--seed", "2", "--json", "--save-trajectories", str(out)])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    trajs = read_trajectories(str(out))
    assert [t["seed"] for t in trajs] == [2, 3, 4]
    for t in trajs:
        _check(t, "Dialog-CustomerService-v0")
        assert t["agent"] == "expert"
        assert {s["function"]["name"] for s in t["tools"]} >= {"refund", "lookup_order"}
    assert any(m.get("tool_calls") for t in trajs for m in t["messages"])
    mean = sum(t["return"] for t in trajs) / 3
    assert math.isclose(mean, summary["mean_return"], rel_tol=1e-9)
    assert [t["success"] for t in trajs].count(True) / 3 == pytest.approx(summary["success_rate"])


def test_leaderboard_cell_saves_trajectories(tmp_path):
    path = tmp_path / "traj" / "random__QA.jsonl"
    path.parent.mkdir()
    res = run_cell("random", {}, "Dialog-QA-v0", seeds=2, k=2, trajectories=str(path))
    assert res["status"] == "ok"
    trajs = read_trajectories(str(path))
    assert len(trajs) == len(res["episodes"]) == 4
    for t, ep in zip(trajs, res["episodes"], strict=True):
        _check(t, "Dialog-QA-v0")
        assert t["return"] == ep["return"] and t["scenario"] == ep["scenario"]
        assert t["agent"] == "random"
    assert not (tmp_path / "traj" / "random__QA.jsonl.part").exists()


def test_leaderboard_run_writes_trajectories_and_reuses_them(tmp_path):
    from dialog_gym.leaderboard import LeaderboardConfig, run_leaderboard, trajectories_path

    cfg = LeaderboardConfig(agents=["echo"], envs=["Dialog-QA-v0"], seeds=2, k=1, workers=1,
                            out=str(tmp_path), save_trajectories=True)
    run_leaderboard(cfg)
    path = trajectories_path(str(tmp_path), "echo", "Dialog-QA-v0")
    first = read_trajectories(path)
    assert len(first) == 2
    mtime = (tmp_path / "trajectories" / "echo__Dialog-QA-v0.jsonl").stat().st_mtime_ns
    run_leaderboard(cfg)  # cached cell, trajectories present: nothing rerun
    assert (tmp_path / "trajectories" / "echo__Dialog-QA-v0.jsonl").stat().st_mtime_ns == mtime
    (tmp_path / "trajectories" / "echo__Dialog-QA-v0.jsonl").unlink()
    run_leaderboard(cfg)  # trajectories missing: the cell runs again and writes them
    assert read_trajectories(path) == first
