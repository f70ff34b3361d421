"""The OpenEnv adapter: the Environment subclass against the gym env, and a live server."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import gymnasium as gym
import pytest
from openenv.core.env_server.serialization import deserialize_action, serialize_observation

import dialog_gym
from dialog_gym.error import ConfigError, RegistryError, ResetNeeded
from dialog_gym.integrations.openenv import (
    DialogAction,
    DialogGymClient,
    DialogGymEnvironment,
    DialogObservation,
    DialogState,
    create_app,
    main,
)
from dialog_gym.messages import tool_payload
from dialog_gym.registration import make_expert

CS = "Dialog-CustomerService-v0"
ROOT = Path(__file__).resolve().parents[2]


def expert_episode(env_id: str, seed: int) -> dict:
    """A scripted expert's episode on the local gym env: actions, messages, rewards, dones."""
    env = gym.make(env_id)
    expert = make_expert(env_id)
    obs, _ = env.reset(seed=seed)
    expert.reset()
    run = {"first": obs["messages"], "actions": [], "messages": [], "rewards": [], "dones": []}
    done = False
    while not done:
        action = expert.act(obs)
        obs, reward, terminated, truncated, _ = env.step(action)
        done = terminated or truncated
        run["actions"].append(action)
        run["messages"].append(obs["messages"])
        run["rewards"].append(reward)
        run["dones"].append(done)
    env.close()
    return run


def local_steps(env_id: str, seed: int, actions: list) -> list[tuple[list, float, bool]]:
    """``(messages, reward, done)`` of each of ``actions`` played on the local gym env."""
    env = gym.make(env_id)
    env.reset(seed=seed)
    out = []
    for action in actions:
        obs, reward, terminated, truncated, _ = env.step(action)
        out.append((obs["messages"], reward, terminated or truncated))
    env.close()
    return out


def lookup_call(call_id: str, order: str) -> dict:
    return {"role": "assistant", "content": "Let me look that up.",
            "tool_calls": [{"id": call_id, "type": "function",
                            "function": {"name": "lookup_order",
                                         "arguments": json.dumps({"order": order})}}]}


# ------------------------------------------------------------------ direct (no server)
@pytest.mark.parametrize("env_id", dialog_gym.env_ids())
def test_environment_matches_local_gym_env(env_id):
    for seed in (0, 11):
        ref = expert_episode(env_id, seed)
        env = DialogGymEnvironment(env_id)
        obs = env.reset(seed=seed, episode_id=f"ep-{seed}")
        assert isinstance(obs, DialogObservation)
        assert obs.messages == ref["first"] and obs.new_messages == ref["first"]
        assert obs.reward is None and not obs.done
        assert obs.tool_schemas == env.env.unwrapped.tool_schemas
        previous = obs.messages
        for i, action in enumerate(ref["actions"]):
            obs = env.step(action)
            assert obs.messages == ref["messages"][i], (env_id, seed, i)
            assert obs.new_messages == obs.messages[len(previous):]
            assert obs.reward == pytest.approx(ref["rewards"][i], abs=1e-12)
            assert obs.done == ref["dones"][i]
            previous = obs.messages
        state = env.state
        assert state.episode_id == f"ep-{seed}" and state.seed == seed
        assert state.step_count == len(ref["actions"]) and state.done
        assert state.episode_return == pytest.approx(sum(ref["rewards"]))
        assert obs.info["episode_summary"]["return"] == pytest.approx(sum(ref["rewards"]))
        env.close()


def test_action_forms_match_local_env():
    env = gym.make(CS)
    first = env.reset(seed=3)[0]["messages"][1]["content"]
    order = next(w.strip("(),.") for w in first.split() if w.strip("(),.")[:1].isupper()
                 and any(c.isdigit() for c in w))
    actions = [
        lookup_call("c1", order),                                         # OpenAI tool_calls
        {"role": "assistant", "content": None,                            # flat, dict args
         "tool_calls": [{"name": "lookup_order", "arguments": {"order": order}}],
         "source": "agent"},
        "One moment. <tool_call>"                                         # Hermes text
        + json.dumps({"name": "lookup_order", "arguments": {"order": order}}) + "</tool_call>",
        f"Checking again. [lookup_order order={order}]",                  # inline call
        {"role": "assistant", "content": "Broken call.",                 # malformed JSON
         "tool_calls": [{"id": "bad", "type": "function",
                         "function": {"name": "lookup_order", "arguments": "{not json"}}]},
    ]
    ref = local_steps(CS, 3, actions)
    oe = DialogGymEnvironment(CS)
    oe.reset(seed=3)
    for action, (messages, reward, done) in zip(actions, ref, strict=True):
        obs = oe.step(action)
        assert obs.messages == messages and obs.reward == pytest.approx(reward)
        assert obs.done == done
    tools = [m for m in obs.messages if m["role"] == "tool"]
    assert len(tools) == 5
    assert [tool_payload(m)["ok"] for m in tools] == [True, True, True, True, False]
    assert tools[0]["tool_call_id"] == "c1" and tools[-1]["tool_call_id"] == "bad"
    assert order in tool_payload(tools[0])["message"]


def test_dialog_action_conversions():
    assert DialogAction(content="hi").to_gym() == "hi"
    msg = lookup_call("x", "A1")
    assert DialogAction.from_message(msg).to_gym() == msg
    assert DialogAction.coerce({"content": None, "tool_calls": None}).to_gym() == ""
    assert DialogAction.coerce("[lookup_order order=A1]").content == "[lookup_order order=A1]"
    with pytest.raises(ValueError, match="role 'assistant'"):
        DialogAction.from_message({"role": "user", "content": "hi"})
    with pytest.raises(TypeError, match="DialogAction, a str or an assistant message"):
        DialogAction.coerce(42)
    # the server's deserialisation of the client's payload gives the same action
    payload = DialogGymClient(base_url="http://127.0.0.1:1")._step_payload(msg)
    assert deserialize_action(payload, DialogAction).to_gym() == msg


def test_reset_seed_options_and_errors():
    env = DialogGymEnvironment(CS)
    with pytest.raises(ResetNeeded, match="before reset"):
        env.step("hello")
    a = env.reset(seed=5)
    b = env.reset(seed=5)
    assert a.messages == b.messages and a.info["scenario_id"] == b.info["scenario_id"]
    assert a.metadata["episode_id"] != b.metadata["episode_id"]  # fresh UUIDs
    replay = env.reset(seed=1, scenario_id=a.info["scenario_id"])
    assert env.state.scenario_id == a.info["scenario_id"] == replay.info["scenario_id"]
    with pytest.raises(ConfigError, match="unknown reset option"):
        env.reset(seed=1, bogus=True)
    with pytest.raises(TypeError, match="seed must be an int"):
        env.reset(seed="5")
    ref = expert_episode(CS, 5)
    env.reset(seed=5)
    for action in ref["actions"]:
        obs = env.step(action)
    assert obs.done and obs.terminated
    with pytest.raises(ResetNeeded, match="episode ended"):
        env.step("anything else?")


def test_observation_and_state_serialise_as_json():
    env = DialogGymEnvironment(CS)
    env.reset(seed=2)
    obs = env.step(lookup_call("c1", "A0000"))
    wire = json.loads(json.dumps(serialize_observation(obs)))
    assert wire["reward"] == pytest.approx(obs.reward) and wire["done"] is False
    back = DialogObservation(**wire["observation"], reward=wire["reward"], done=wire["done"])
    assert back.messages == obs.messages and back.info == obs.info
    assert set(obs.info) >= {"scores", "violations", "scenario_id", "success", "progress",
                             "tool_results", "user"}
    state = DialogState(**json.loads(env.state.model_dump_json()))
    assert state == env.state and state.step_count == 1


def test_bad_env_id_and_cli_arguments():
    with pytest.raises(RegistryError, match="Unknown environment"):
        create_app("Dialog-Nope-v0")
    with pytest.raises(ValueError, match="max_concurrent_envs"):
        create_app(CS, max_concurrent_envs=0)
    with pytest.raises(SystemExit):
        main(["--env", CS, "--make-kwargs", "{oops"])
    with pytest.raises(SystemExit):
        main(["--env", CS, "--make-kwargs", "[1]"])
    with pytest.raises(SystemExit):
        main(["--env", "Dialog-Nope-v0"])
    with pytest.raises(SystemExit):
        main(["--env", CS, "--make-kwargs", '{"no_such_kwarg": 1}'])


def test_missing_openenv_names_the_extra():
    code = ("import sys; sys.modules['openenv'] = None\n"
            "try:\n    import dialog_gym.integrations.openenv\n"
            "except ImportError as e:\n    print(type(e).__name__, e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, cwd=ROOT).stdout
    assert "DependencyNotInstalled" in out and "dialog-gym[openenv]" in out


# ------------------------------------------------------------------ live server
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server_url():
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "dialog_gym.integrations.openenv", "--env", CS,
         "--port", str(port), "--log-level", "warning"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "ENABLE_WEB_INTERFACE": "false"})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"server exited with {proc.returncode}: {proc.stderr.read()}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail("server did not answer /health within 90 s")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_server_seeded_reset_is_reproducible(server_url):
    local = gym.make(CS).reset(seed=4)[0]["messages"]
    with DialogGymClient(base_url=server_url).sync() as env:
        a = env.reset(seed=4)
        b = env.reset(seed=4)
        state = env.state()
    with DialogGymClient(base_url=server_url).sync() as other:
        c = other.reset(seed=4)
    assert a.observation.messages[1]["role"] == "user"
    assert a.observation.messages == b.observation.messages == c.observation.messages == local
    assert a.reward is None and not a.done
    assert isinstance(state, DialogState) and state.seed == 4 and state.step_count == 0
    assert [s["function"]["name"] for s in a.observation.tool_schemas][:1] == ["lookup_order"]


def test_server_tool_call_executes(server_url):
    action = lookup_call("call_abc", "A8891")
    (messages, reward, done), = local_steps(CS, 3, [action])
    with DialogGymClient(base_url=server_url).sync() as env:
        env.reset(seed=3)
        result = env.step(action)
        with pytest.raises(RuntimeError, match="unknown reset option"):
            env.reset(seed=3, bogus=1)
    obs = result.observation
    tool = [m for m in obs.new_messages if m["role"] == "tool"]
    assert len(tool) == 1 and tool[0]["tool_call_id"] == "call_abc"
    assert tool[0]["name"] == "lookup_order" and tool_payload(tool[0])["ok"]
    assert obs.messages == messages
    assert result.reward == pytest.approx(reward) and result.reward > 0
    assert result.done == done and obs.info["tool_results"][0].startswith("[lookup_order] ok")


def test_server_concurrent_sessions_are_isolated(server_url):
    seeds = (3, 8)
    refs = {s: expert_episode(CS, s) for s in seeds}
    assert refs[3]["first"] != refs[8]["first"]
    got = {s: [] for s in seeds}

    async def play():
        clients = {s: DialogGymClient(base_url=server_url) for s in seeds}
        try:
            # both sessions reset at the same time, then step alternately: A, B, A, B, ...
            resets = await asyncio.gather(*(clients[s].reset(seed=s) for s in seeds))
            for s, r in zip(seeds, resets, strict=True):
                assert r.observation.messages == refs[s]["first"]
            longest = max(len(refs[s]["actions"]) for s in seeds)
            for i in range(longest):
                for s in seeds:
                    if i < len(refs[s]["actions"]):
                        got[s].append(await clients[s].step(refs[s]["actions"][i]))
            states = await asyncio.gather(*(clients[s].state() for s in seeds))
            # a second round fully concurrently: one step of each at the same time
            again = await asyncio.gather(*(clients[s].reset(seed=s) for s in seeds))
            steps = await asyncio.gather(*(clients[s].step(refs[s]["actions"][0])
                                           for s in seeds))
            return states, again, steps
        finally:
            await asyncio.gather(*(c.close() for c in clients.values()))

    states, again, steps = asyncio.run(play())
    for s in seeds:
        assert [r.observation.messages for r in got[s]] == refs[s]["messages"]
        assert [r.reward for r in got[s]] == pytest.approx(refs[s]["rewards"])
        assert [r.done for r in got[s]] == refs[s]["dones"]
    for s, st, r0, r1 in zip(seeds, states, again, steps, strict=True):
        assert st.seed == s and st.step_count == len(refs[s]["actions"]) and st.done
        assert st.episode_return == pytest.approx(sum(refs[s]["rewards"]))
        assert r0.observation.messages == refs[s]["first"]
        assert r1.observation.messages == refs[s]["messages"][0]
        assert r1.reward == pytest.approx(refs[s]["rewards"][0])


def test_server_schema_and_metadata(server_url):
    with urllib.request.urlopen(f"{server_url}/schema", timeout=10) as r:
        schema = json.load(r)
    assert {"content", "tool_calls"} <= set(schema["action"]["properties"])
    assert {"messages", "new_messages", "tool_schemas", "info"} <= set(
        schema["observation"]["properties"])
    with urllib.request.urlopen(f"{server_url}/metadata", timeout=10) as r:
        meta = json.load(r)
    assert CS in meta["name"] and meta["version"] == dialog_gym.__version__


def test_doc_snippets_run(server_url, capsys):
    import re

    doc = (ROOT / "docs" / "integrations" / "openenv.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", doc, re.S)
    assert len(blocks) == 2
    for block in blocks:
        exec(compile(block.replace("http://127.0.0.1:8011", server_url), "doc", "exec"), {})
    out = capsys.readouterr().out
    assert "order A8891" in out and out.count("lookup_order") >= 1
    assert "tool {\"ok\": true" in out
