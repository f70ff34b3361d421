"""CLI smoke (export-demos, train pipeline/a2c, evaluate --agent llm) and kill/resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.llm.conftest import ENV, TINY


def _tiny_flags():
    return ["--vocab-size", str(TINY["vocab_size"]), "--n-embd", str(TINY["n_embd"]),
            "--n-layer", str(TINY["n_layer"]), "--n-head", str(TINY["n_head"])]


RL_TINY = {"iterations": 1, "num_envs": 2, "turns_per_rollout": 2, "minibatch_size": 2,
           "micro_batch": 2, "max_new_tokens": 8, "max_episode_turns": 3, "save_every": 0}


def test_cli_pipeline_then_agent(tmp_path, capsys):
    from dialog_gym.agents import make_agent
    from dialog_gym.cli import main

    demos = tmp_path / "demos.jsonl"
    assert main(["export-demos", "--env", ENV, "--out", str(demos), "--episodes", "12"]) == 0
    assert len(demos.read_text().splitlines()) == 12
    out = tmp_path / "run"
    sft = {"demos": str(demos), "max_steps": 2, "batch_size": 4, "micro_batch": 4,
           "save_every": 0, **TINY}
    rm = {"max_steps": 2, "max_pairs": 30, "batch_size": 4, "micro_batch": 4,
          "policy_sample_fraction": 0.2}
    code = main(["train", "pipeline", "--env", ENV, "--out", str(out), "--no-deepspeed",
                 "--threads", "1", "--sft", json.dumps(sft), "--rm", json.dumps(rm),
                 "--rl", json.dumps(RL_TINY)])
    assert code == 0
    summary = json.loads((out / "metrics.json").read_text())
    assert set(summary["steps"]) == {"sft", "rm", "ppo"}
    for step in ("sft", "rm", "ppo"):
        assert (out / step / "metrics.json").is_file()
        assert (out / step / "model.safetensors").is_file()
    assert 0.0 <= summary["rm_heldout_accuracy"] <= 1.0

    # a separate algorithm from the same SFT + RM folders, through `train a2c`
    a2c = tmp_path / "a2c"
    flags = []
    for k, v in RL_TINY.items():
        flags += ["--" + k.replace("_", "-"), str(v)]
    assert main(["train", "a2c", "--env", ENV, "--model", str(out / "sft"),
                 "--reward-model", str(out / "rm"), "--critic-init", "rm",
                 "--out", str(a2c), "--no-deepspeed", *flags]) == 0
    assert json.loads((a2c / "metrics.json").read_text())["stage"] == "a2c"

    capsys.readouterr()
    assert main(["evaluate", "--agent", "llm", "--agent-kw", f"model={out / 'ppo'}",
                 "--env", ENV, "--episodes", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["episodes"] == 2 and result["agent"] == "llm"

    agent = make_agent("llm", model=str(out / "ppo"), env_id=ENV, greedy=True)
    reply = agent.act({"context": "ctx", "history": "Customer: where is my order A1234?",
                       "turn": 0})
    assert isinstance(reply, str)
    assert agent.act_batch([{"context": "c", "history": "Customer: hi", "turn": 0}] * 3)


def test_llm_agent_errors_are_helpful(tmp_path):
    from dialog_gym.agents import make_agent
    from dialog_gym.error import ConfigError

    with pytest.raises(ConfigError, match="needs a model"):
        make_agent("llm")
    with pytest.raises(ConfigError, match="could not load"):
        make_agent("llm", model=str(tmp_path / "missing"))


def test_reward_model_scorer(tmp_path, sft_dir):
    from dialog_gym.agents.llm.rm import RMConfig, train_rm
    from dialog_gym.dialogue import USER, Turn
    from dialog_gym.scorers import ScoreInput, make_scorer

    rm_dir = tmp_path / "rm"
    m = train_rm(RMConfig(model=sft_dir, out=str(rm_dir), max_steps=2, max_pairs=40,
                          batch_size=4, micro_batch=4, no_deepspeed=True, threads=1))
    assert m["heldout_pairs"] > 0 and "eval/heldout_accuracy" in m
    scorer = make_scorer("reward_model", model=str(rm_dir))
    hist = (Turn(USER, "Where is my order A1234?"),)
    scores = scorer.score([ScoreInput(context="ctx", history=hist, response=r)
                           for r in ("Let me check.", "")])
    assert scores.shape == (2,) and np.isfinite(scores).all()
    # inside an env the scorer reads the env's messages and the reply with its tool calls
    import gymnasium as gym

    env = gym.make(ENV, reward={"reward_model": {"weight": 1.0, "model": str(rm_dir)}})
    obs, _ = env.reset(seed=3)
    _, r, *_ = env.step({"role": "assistant", "content": "Let me check.", "tool_calls": [
        {"name": "lookup_order", "arguments": {"order": "A8891"}}]})
    assert np.isfinite(r)
    said = {"role": "assistant", "content": "Let me check."}
    with_call = {**said, "tool_calls": [{"id": "c", "type": "function", "function": {
        "name": "lookup_order", "arguments": '{"order": "A8891"}'}}]}
    ids = [scorer._ids(ScoreInput(context="ctx", response="Let me check.",
                                  messages=tuple(obs["messages"]), reply=m))
           for m in (said, with_call)]
    assert ids[0] != ids[1] and ids[0][:20] == ids[1][:20]


def _rows(path):
    rows = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            rows.append(json.loads(line))
    return rows


@pytest.mark.slow  # two training processes (DeepSpeed start-up each): minutes on 2 CPUs
def test_kill_and_resume_continues_to_the_same_step_count(tmp_path, sft_dir):
    out = tmp_path / "ppo"
    cmd = [sys.executable, "-m", "dialog_gym.cli", "train", "ppo", "--env", ENV,
           "--model", sft_dir, "--out", str(out), "--iterations", "5", "--save-every", "1",
           "--num-envs", "2", "--turns-per-rollout", "1", "--minibatch-size", "2",
           "--micro-batch", "2", "--max-new-tokens", "6", "--threads", "1",
           "--max-episode-turns", "3"]
    # a fresh rendezvous: this process may hold the port of an earlier in-process engine
    env = {k: v for k, v in os.environ.items()
           if k not in ("MASTER_PORT", "MASTER_ADDR", "RANK", "WORLD_SIZE", "LOCAL_RANK")}
    env.update({"HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"})
    log = open(tmp_path / "first_run.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    latest = out / "checkpoints" / "latest"
    deadline = time.time() + 240
    try:
        while time.time() < deadline:
            if latest.exists() and latest.read_text().strip() in (
                    "checkpoint-2", "checkpoint-3"):
                break
            if proc.poll() is not None:
                log.close()
                tail = (tmp_path / "first_run.log").read_text()[-3000:]
                pytest.fail(f"training exited early with code {proc.returncode}:\n{tail}")
            time.sleep(0.2)
        else:
            pytest.fail("no checkpoint appeared in time")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        log.close()
    killed_at = int(latest.read_text().strip().split("-")[1])
    assert killed_at < 5 and not (out / "metrics.json").exists()

    done = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["iterations"] == 5
    steps = [r["step"] for r in _rows(out / "metrics.jsonl")]
    assert steps == [1, 2, 3, 4, 5]  # each iteration logged once, none lost
    assert f"step {killed_at + 1}:" in done.stdout and f"step {killed_at}:" not in done.stdout
