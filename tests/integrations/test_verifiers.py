"""The verifiers adapter: rows, the relay loop, the rubric, verifiers' own eval runner.

Policies are served by a real local OpenAI-compatible HTTP server (``_vf_server``): the
dialog-gym expert (acting on the chat messages alone, its calls as ``tool_calls``) and a
tiny randomly initialised GPT-2 saved to a temp folder.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
from pathlib import Path

import gymnasium as gym
import pytest
import verifiers.v1 as vf

import dialog_gym
from dialog_gym.integrations import verifiers as adapter
from dialog_gym.messages import plain

sys.path.insert(0, str(Path(__file__).parent))

from _vf_server import (  # noqa: E402
    ChatServer,
    ExpertPolicy,
    TinyLMPolicy,
    build_tiny_lm,
    play_expert_directly,
)

CS = "Dialog-CustomerService-v0"


def _ctx(server, model="policy"):
    return vf.ModelContext(model=model, client=vf.EvalClientConfig(
        base_url=server.base_url, api_key_var="DIALOG_GYM_TEST_KEY"))


def _run(env, server, tasks=None, model="policy"):
    """Every row (or ``tasks``) once through verifiers' env.serving()/run_slot."""
    from verifiers.v1.env import RunSlot

    tasks = list(env.taskset) if tasks is None else tasks

    async def main():
        async with env.serving():
            return await asyncio.gather(*(env.run_slot(RunSlot(t), _ctx(server, model))
                                          for t in tasks))

    return tasks, asyncio.run(main())


# ---------------------------------------------------------------- rows and config


def test_rows_are_the_reset_messages_with_the_tool_schemas():
    env = adapter.load_environment(CS, num_examples=3, seed=5)
    tasks = list(env.taskset)
    assert len(tasks) == 3
    direct = gym.make(CS)
    for i, task in enumerate(tasks):
        obs, info = direct.reset(seed=5 + i)
        data = task.data
        assert data.seed == 5 + i and data.env_id == CS
        assert data.scenario_id == info["scenario_id"]
        prompt = [m.model_dump(exclude_none=True) for m in data.prompt]
        assert prompt == plain(obs["messages"])
        assert [m["role"] for m in prompt] == ["system", "user"]
        assert data.tools == direct.unwrapped.tool_schemas and data.tools
    assert len({t.key for t in tasks}) == 3


def test_verifiers_loader_resolves_the_config_by_taskset_id():
    from verifiers.v1.utils.loaders import load_environment as vf_load
    from verifiers.v1.utils.loaders import resolve_env_config

    raw = {"taskset": {"id": adapter.TASKSET_ID, "env_id": "Dialog-QA-v0",
                       "num_examples": 2, "seed": 7, "env_kwargs": {"difficulty": 1}}}
    config = resolve_env_config(raw)  # what vf-eval / TOML configs go through
    assert isinstance(config, adapter.DialogGymEnvConfig)
    env = vf_load(config)
    assert isinstance(env, adapter.DialogGymEnv)
    tasks = list(env.taskset)
    assert [t.data.seed for t in tasks] == [7, 8]
    assert all(t.data.env_kwargs == {"difficulty": 1} for t in tasks)
    # the default seat plays the in-process harness on the local runtime
    harness = env.config.agent_harnesses()["agent"]
    assert harness.id == adapter.TASKSET_ID
    assert env.config.agent.runtime.type == "subprocess"


def test_endless_rows_for_training():
    env = adapter.load_environment(CS, num_examples=None, seed=0)
    assert not env.taskset.bounded
    first = list(env.taskset.take(12))
    assert [t.data.seed for t in first] == list(range(12))


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="unknown dialog-gym env id 'Dialog-Nope-v0'"):
        adapter.load_environment("Dialog-Nope-v0")
    with pytest.raises(ValueError, match="gym.make"):
        adapter.load_environment(CS, no_such_kwarg=1)
    with pytest.raises(ValueError, match="num_examples"):
        adapter.load_environment(CS, num_examples=0)
    with pytest.raises(ValueError, match="JSON"):
        adapter.load_environment(CS, reward=object())
    with pytest.raises(TypeError, match="AgentConfig"):
        adapter.load_environment(CS, agent=3)


def test_without_verifiers_the_import_names_the_pip_extra(monkeypatch):
    import importlib

    from dialog_gym.error import DependencyNotInstalled

    for name in ("verifiers", "verifiers.v1"):  # as if not installed
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "dialog_gym.integrations.verifiers")
    with pytest.raises(DependencyNotInstalled, match=r"dialog-gym\[verifiers\]"):
        importlib.import_module("dialog_gym.integrations.verifiers")


# ---------------------------------------------------------------- the expert behind chat


@pytest.mark.parametrize("env_id", dialog_gym.env_ids())
def test_expert_rewards_through_verifiers_equal_direct_play(env_id):
    env = adapter.load_environment(env_id, num_examples=2, seed=3)
    with ChatServer(ExpertPolicy(env_id)) as server:
        tasks, episodes = _run(env, server)
    # the model gets plain OpenAI messages: no source, no system message data
    assert server.requests and all("source" not in m and "data" not in m
                                   for r in server.requests for m in r["messages"])
    for task, episode in zip(tasks, episodes, strict=True):
        assert episode.ok, episode.errors
        (trace,) = episode.traces
        assert trace.ok, trace.errors
        direct = play_expert_directly(env_id, task.data.seed)
        # the rubric: the reward is the return, the metrics its components
        assert set(trace.rewards) == {"episode_return"}
        assert trace.rewards["episode_return"].weight == 1.0
        assert trace.reward == direct["return"]
        assert trace.info["dialog_gym"]["rewards"] == direct["rewards"]
        assert trace.metrics["success"] == float(direct["success"]) == 1.0
        assert trace.metrics["turns"] == direct["turns"] == trace.num_turns
        assert trace.metrics["finished"] == trace.metrics["terminated"] == 1.0
        for name, value in direct["scores"].items():
            assert trace.metrics[f"score/{name}"] == value


def test_the_model_sees_tools_and_tool_results_answering_its_calls():
    env = adapter.load_environment(CS, num_examples=1, seed=1)
    with ChatServer(ExpertPolicy(CS)) as server:
        tasks, (episode,) = _run(env, server)
    assert episode.ok
    assert server.requests, "no model request reached the server"
    schemas = gym.make(CS).unwrapped.tool_schemas
    assert all(r["tools"] == schemas for r in server.requests)
    last = server.requests[-1]["messages"]
    assert last[:2] == [m.model_dump(exclude_none=True) for m in tasks[0].data.prompt]
    calls = {c["id"]: c["function"]["name"] for m in last if m["role"] == "assistant"
             for c in m.get("tool_calls") or []}
    results = [m for m in last if m["role"] == "tool"]
    assert calls and {r["tool_call_id"] for r in results} == set(calls)
    for r in results:
        assert r["name"] == calls[r["tool_call_id"]]
        assert json.loads(r["content"])["ok"] is True
    # every assistant turn is one sampled node of the trace, in order
    (trace,) = episode.traces
    sampled = [n.message for n in trace.nodes if n.sampled]
    assert len(sampled) == len([m for m in last if m["role"] == "assistant"]) + 1


def test_vf_eval_runner_scores_the_expert(tmp_path):
    """verifiers' own eval entry point (what ``vf-eval`` runs), traces written to disk."""
    from verifiers.v1.cli.eval.runner import run_eval
    from verifiers.v1.configs.cli.eval import EvalConfig

    env = adapter.load_environment(CS, num_examples=3, seed=0)
    with ChatServer(ExpertPolicy(CS)) as server:
        config = EvalConfig(env=env.config, model="expert", push=False, rich=None,
                            output_dir=tmp_path, num_rollouts=2,
                            client=vf.EvalClientConfig(base_url=server.base_url,
                                                       api_key_var="DIALOG_GYM_TEST_KEY"))
        episodes = asyncio.run(run_eval(config))
    assert len(episodes) == 6 and all(e.ok for e in episodes)
    expected = {s: play_expert_directly(CS, s)["return"] for s in range(3)}
    for e in episodes:
        assert e.traces[0].reward == expected[e.task.data.seed]
    lines = [json.loads(x) for x in
             next(tmp_path.rglob("traces.jsonl")).read_text().splitlines() if x.strip()]
    assert len(lines) == 6


# ---------------------------------------------------------------- endings and bad calls


def test_truncation_ends_the_exchange_and_max_turns_cuts_it_short():
    def chatter(messages, tools):
        return {"role": "assistant", "content": "Could you tell me more?"}

    env = adapter.load_environment(CS, num_examples=1, seed=0, max_episode_steps=2)
    with ChatServer(chatter) as server:
        _, (episode,) = _run(env, server)
    (trace,) = episode.traces
    assert trace.metrics["truncated"] == 1.0 and trace.metrics["terminated"] == 0.0
    assert trace.metrics["turns"] == 2 == trace.num_turns == len(server.requests)
    assert trace.metrics["success"] == 0.0

    env = adapter.load_environment(CS, num_examples=1, seed=0, agent={"max_turns": 1})
    with ChatServer(chatter) as server:
        _, (episode,) = _run(env, server)
    (trace,) = episode.traces
    assert trace.stop_condition == "max_turns"
    assert trace.metrics["turns"] == 1 and trace.metrics["finished"] == 0.0
    assert math.isfinite(trace.reward)


def test_malformed_tool_calls_become_error_results_not_failures():
    def bad_calls(messages, tools):
        return {"role": "assistant", "content": "One moment.", "tool_calls": [
            {"id": "c1", "type": "function",
             "function": {"name": "no_such_tool", "arguments": "{}"}},
            {"id": "c2", "type": "function",
             "function": {"name": "lookup_order", "arguments": "{not json"}},
        ]}

    env = adapter.load_environment(CS, num_examples=1, seed=0, max_episode_steps=2)
    with ChatServer(bad_calls) as server:
        _, (episode,) = _run(env, server)
    assert episode.ok, episode.errors
    second = server.requests[1]["messages"]
    results = {m["tool_call_id"]: json.loads(m["content"]) for m in second
               if m["role"] == "tool"}
    assert set(results) == {"c1", "c2"}
    assert not results["c1"]["ok"] and not results["c2"]["ok"]
    assert second[-1]["role"] == "user"


# ---------------------------------------------------------------- a real tiny model


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory):
    return build_tiny_lm(str(tmp_path_factory.mktemp("tiny_lm")), CS)


def test_tiny_model_plays_to_the_end_with_finite_rewards(tiny_lm):
    policy = TinyLMPolicy(tiny_lm, max_new_tokens=12)
    env = adapter.load_environment(CS, num_examples=2, seed=0, max_episode_steps=3)
    with ChatServer(policy) as server:
        _, episodes = _run(env, server, model="tiny-gpt2")
    for episode in episodes:
        assert episode.ok, episode.errors
        (trace,) = episode.traces
        assert trace.metrics["finished"] == 1.0
        assert 1 <= trace.metrics["turns"] <= 3
        assert math.isfinite(trace.reward)
        assert trace.reward == pytest.approx(sum(trace.info["dialog_gym"]["rewards"]))
        said = [n.message.content or "" for n in trace.nodes if n.sampled]
        assert said and all(s in policy.replies for s in said)
    assert len(policy.replies) == len(server.requests) >= 2


@pytest.mark.slow
def test_tiny_model_many_episodes_every_env(tmp_path):
    for env_id in dialog_gym.env_ids():
        model = build_tiny_lm(str(tmp_path / env_id), env_id)
        env = adapter.load_environment(env_id, num_examples=4, seed=0, max_episode_steps=6)
        with ChatServer(TinyLMPolicy(model, max_new_tokens=24)) as server:
            _, episodes = _run(env, server, model="tiny-gpt2")
        for episode in episodes:
            assert episode.ok, (env_id, episode.errors)
            (trace,) = episode.traces
            assert trace.metrics["finished"] == 1.0
            assert math.isfinite(trace.reward)


def test_vf_eval_command_line(tmp_path):
    """``python -m dialog_gym.integrations.verifiers`` = vf-eval with the taskset preset."""
    import subprocess

    with ChatServer(ExpertPolicy("Dialog-QA-v0")) as server:
        proc = subprocess.run(
            [sys.executable, "-m", "dialog_gym.integrations.verifiers",
             "--env.taskset.env-id", "Dialog-QA-v0", "--env.taskset.num-examples", "2",
             "--env.taskset.seed", "4", "-m", "expert", "--client.base-url", server.base_url,
             "--client.api-key-var", "DIALOG_GYM_TEST_KEY", "--no-push", "--no-rich",
             "-o", str(tmp_path)],
            capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    traces = [json.loads(x) for x in
              next(tmp_path.rglob("traces.jsonl")).read_text().splitlines() if x.strip()]
    got = sorted((e["task"]["data"]["seed"], t["rewards"]["episode_return"]["score"])
                 for e in traces for t in e["traces"])
    assert got == [(s, play_expert_directly("Dialog-QA-v0", s)["return"]) for s in (4, 5)]


@pytest.mark.slow
def test_stock_vf_eval_finds_the_taskset_through_a_top_level_shim(tmp_path):
    """The shipped shim package (one top-level module) lets stock ``vf-eval`` import the id."""
    import os
    import shutil
    import subprocess

    shim = Path(__file__).resolve().parents[2] / "examples" / "verifiers_env"
    assert (shim / f"{adapter.MODULE_ALIAS}.py").exists()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(shim), *filter(None, [os.environ.get("PYTHONPATH")])])}
    vf_eval = shutil.which("vf-eval") or str(Path(sys.executable).parent / "vf-eval")
    with ChatServer(ExpertPolicy(CS)) as server:
        proc = subprocess.run(
            [vf_eval, adapter.TASKSET_ID, "--env.taskset.num-examples", "2",
             "-m", "expert", "--client.base-url", server.base_url,
             "--client.api-key-var", "DIALOG_GYM_TEST_KEY", "--no-push", "--no-rich",
             "-o", str(tmp_path / "out")],
            capture_output=True, text=True, timeout=180, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    traces = [json.loads(x) for x in
              next((tmp_path / "out").rglob("traces.jsonl")).read_text().splitlines()
              if x.strip()]
    got = sorted((e["task"]["data"]["seed"], t["rewards"]["episode_return"]["score"])
                 for e in traces for t in e["traces"])
    assert got == [(s, play_expert_directly(CS, s)["return"]) for s in (0, 1)]


def test_a_system_prompt_override_replaces_the_context_the_model_sees(tmp_path):
    prompt_file = tmp_path / "system.txt"
    prompt_file.write_text("You are a terse support agent.")
    base = adapter.load_environment(CS, num_examples=1, seed=0, max_episode_steps=2)
    config = base.config.model_copy(update={"taskset": base.config.taskset.model_copy(
        update={"system_prompt": prompt_file})})
    env = adapter.DialogGymEnv(config)

    def chatter(messages, tools):
        return {"role": "assistant", "content": "Could you tell me more?"}

    with ChatServer(chatter) as server:
        _, (episode,) = _run(env, server)
    assert episode.ok, episode.errors
    assert len(server.requests) == 2
    for request in server.requests:
        systems = [m for m in request["messages"] if m["role"] == "system"]
        assert systems == [{"role": "system", "content": "You are a terse support agent."}]
        assert request["messages"][0] == systems[0]
    # the env itself still plays the original scenario
    assert server.requests[0]["messages"][1]["content"] == \
        base.taskset.load().__next__().data.prompt[1].content


def test_a_row_that_does_not_replay_fails_its_rollout_clearly():
    env = adapter.load_environment(CS, num_examples=1, seed=0)
    (task,) = list(env.taskset)
    system, user = task.data.prompt
    stale = task.with_data(prompt=[system, user.model_copy(update={"content": "Hi?"})])

    def never(messages, tools):  # pragma: no cover - setup fails before any call
        raise AssertionError("the model was called")

    with ChatServer(never) as server:
        _, (episode,) = _run(env, server, tasks=[stale])
    assert not episode.ok and not server.requests
    errors = [*episode.errors, *(e for t in episode.traces for e in t.errors)]
    assert any("gave other messages than the row's prompt" in e.message for e in errors)
