"""Conformance tests run over every registered dialog-gym environment."""

import warnings

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import dialog_gym
from dialog_gym.agents import make_agent

ENV_IDS = dialog_gym.env_ids()


def test_registry_is_not_empty():
    assert "Dialog-CustomerService-v0" in ENV_IDS


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_gymnasium_env_checker_passes_without_warnings(env_id):
    env = gym.make(env_id)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped)
    assert [str(w.message) for w in caught] == []


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_make_without_import_via_module_prefix(env_id):
    env = gym.make(f"dialog_gym:{env_id}")
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)


def _rollout(env_id, agent_name, seed, steps=30):
    env = gym.make(env_id)
    agent = make_agent(agent_name, env_id=env_id)
    obs, info = env.reset(seed=seed)
    agent.reset()
    trace = [(obs, info)]
    for _ in range(steps):
        obs, r, term, trunc, info = env.step(agent.act(obs))
        trace.append((obs, r, term, trunc, info))
        if term or trunc:
            break
    return trace


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("agent_name", ["expert", "random", "echo"])
def test_same_seed_same_actions_identical_episodes(env_id, agent_name):
    for seed in (0, 7, 123):
        a = _rollout(env_id, agent_name, seed)
        b = _rollout(env_id, agent_name, seed)
        assert a == b


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_different_seeds_give_different_scenarios(env_id):
    env = gym.make(env_id)
    ids = {env.reset(seed=s)[1]["scenario_id"] for s in range(20)}
    assert len(ids) >= 18


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_generator_is_deterministic_by_index_and_indices_differ(env_id):
    gen = gym.make(env_id).unwrapped.generator
    for level in gen.difficulties:
        assert gen.generate(5, level) == gen.generate(5, level)
        assert gen.generate(5, level) != gen.generate(6, level)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_user_wording_varies_by_seed(env_id):
    env = gym.make(env_id)
    openings = {env.reset(seed=s)[0]["history"] for s in range(40)}
    assert len(openings) >= 3  # several wordings (domains test their own variety further)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_check_domain_passes(env_id):
    from dialog_gym.testing import check_domain

    figures = check_domain(env_id, episodes=20)
    assert figures["expert"][0] >= 0.9


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_vector_env_sync_steps(env_id):
    envs = gym.make_vec(env_id, num_envs=3, vectorization_mode="sync")
    obs, info = envs.reset(seed=0)
    assert len(obs["history"]) == 3
    obs, rew, term, trunc, info = envs.step(["Hello, how can I help?"] * 3)
    assert rew.shape == (3,)
    envs.close()


@pytest.fixture(scope="module")
def suite_results():
    from dialog_gym.evaluation import evaluate

    out = {}
    for env_id in ENV_IDS:
        for name in ["expert", "random", "keyword-stuffing", "echo", "repeat"]:
            out[env_id, name] = evaluate(make_agent(name, env_id=env_id), env_id,
                                         episodes=100, seed=500)
    return out


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_expert_solves_and_random_does_not(env_id, suite_results):
    assert suite_results[env_id, "expert"]["success_rate"] >= 0.95
    assert suite_results[env_id, "random"]["success_rate"] <= 0.10


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("probe", ["keyword-stuffing", "echo", "repeat"])
def test_reward_hacking_probes_stay_far_below_the_expert(env_id, probe, suite_results):
    expert, r = suite_results[env_id, "expert"], suite_results[env_id, probe]
    assert r["success_rate"] <= 0.10
    gap = expert["mean_return"] - r["mean_return"]
    spread = max(abs(expert["mean_return"]), 1.0)
    assert r["ci95"][1] < expert["ci95"][0]
    assert gap >= 0.5 * spread, (probe, r["mean_return"], expert["mean_return"])


_HASHSEED_SCRIPT = """
import json, sys
import dialog_gym
from dialog_gym.agents import make_agent
from dialog_gym.evaluation import evaluate
out = {}
for env_id in dialog_gym.env_ids():
    for name in ["expert", "random", "keyword-stuffing", "echo"]:
        r = evaluate(make_agent(name, env_id=env_id), env_id, episodes=4, seed=77,
                     keep_transcripts=True)
        out[env_id + "/" + name] = [(e["return"], e["transcript"]) for e in r["records"]]
print(json.dumps(out))
"""


def test_results_do_not_depend_on_python_hash_seed():
    import os
    import subprocess
    import sys

    runs = []
    for hs in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hs)
        proc = subprocess.run([sys.executable, "-c", _HASHSEED_SCRIPT], capture_output=True,
                              text=True, env=env, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        runs.append(proc.stdout)
    assert runs[0] == runs[1]


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_expert_plays_from_the_messages_alone(env_id):
    """The expert reads obs["messages"]: blanking the text views changes none of its replies,
    and an observation without messages is a clear error."""
    env = gym.make(env_id)
    domain = env.unwrapped.domain
    expert = domain.make_expert()
    wins = 0
    for seed in range(5):
        obs, _ = env.reset(seed=seed)
        expert.reset()
        done = False
        while not done:
            reply = expert.act(obs)
            fresh = domain.make_expert()
            assert fresh.act({"messages": obs["messages"], "turn": obs["turn"]}) == reply
            assert domain.make_expert().act({**obs, "history": "", "context": ""}) == reply
            obs, _, terminated, truncated, info = env.step(reply)
            done = terminated or truncated
        wins += info["success"]
    assert wins == 5
    with pytest.raises(dialog_gym.error.ConfigError, match=r"reads observation\['messages'\]"):
        expert.act({"context": obs["context"], "history": obs["history"], "turn": 0})


#: the domains whose system message carries their public context as ``data``
DATA_ENVS = ["Dialog-VirtualAssistant-v0", "Dialog-QA-v0", "Dialog-Recommendation-v0",
             "Dialog-TwentyQuestions-v0"]


def _json_types_only(x, path="data"):
    """Raise if ``x`` holds anything but JSON's own types (str keys, list, no tuple)."""
    if isinstance(x, dict):
        for k, v in x.items():
            assert isinstance(k, str), (path, k)
            _json_types_only(v, f"{path}.{k}")
    elif isinstance(x, list):
        for i, v in enumerate(x):
            _json_types_only(v, f"{path}[{i}]")
    else:
        assert x is None or type(x) in (str, int, float, bool), (path, type(x).__name__)


def _strings(x):
    if isinstance(x, dict):
        return [s for v in x.values() for s in _strings(v)]
    if isinstance(x, list):
        return [s for v in x for s in _strings(v)]
    return [x] if isinstance(x, str) else []


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_system_message_data_is_json_and_fixed_by_the_seed(env_id):
    """The system message's data is plain JSON, the same on every reset with one seed
    (another env, or the same env after another episode), and only on the system message."""
    import json

    env, other = gym.make(env_id), gym.make(env_id)
    for seed in (0, 5, 42):
        msgs = env.reset(seed=seed)[0]["messages"]
        other.reset(seed=seed + 1)
        again = other.reset(seed=seed)[0]["messages"]
        assert msgs[0].get("data") == again[0].get("data")
        assert all("data" not in m for m in msgs[1:])
        data = msgs[0].get("data", {})
        _json_types_only(data)
        assert json.loads(json.dumps(data, allow_nan=False)) == data
        if env_id in DATA_ENVS:
            assert data, "a domain with context data gave none"
            assert env.reset(seed=seed + 1)[0]["messages"][0]["data"] != data


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_system_message_data_says_only_what_its_text_says(env_id):
    """Every text value of the data appears in the system message's text (the data is
    that text's structure, not extra knowledge)."""
    env = gym.make(env_id)
    for seed in range(10):
        system = env.reset(seed=seed)[0]["messages"][0]
        for s in _strings(system.get("data", {})):
            assert s in system["content"], (seed, s)


@pytest.mark.parametrize("env_id", DATA_ENVS)
def test_expert_reads_the_context_from_the_data_not_the_text(env_id):
    """The expert's every reply is the same with the system message's text blanked: it
    reads the context from the data alone."""
    env = gym.make(env_id)
    domain = env.unwrapped.domain
    for seed in range(5):
        obs, _ = env.reset(seed=seed)
        expert, done = domain.make_expert(), False
        while not done:
            reply = expert.act(obs)
            blank = [{**obs["messages"][0], "content": ""}, *obs["messages"][1:]]
            assert domain.make_expert().act({**obs, "messages": blank}) == reply
            obs, _, term, trunc, info = env.step(reply)
            done = term or trunc
        assert info["success"]


@pytest.mark.parametrize("env_id", DATA_ENVS)
def test_expert_without_context_data_fails_clearly(env_id):
    """Messages whose system message lost its data (plain(), a hand-built system message)
    or that have no system message are a ConfigError naming the expert, never a silent
    wrong reply."""
    from dialog_gym.messages import plain

    env = gym.make(env_id)
    obs, _ = env.reset(seed=0)
    expert = env.unwrapped.domain.make_expert()
    name = type(expert).__name__
    stripped = [{k: v for k, v in m.items() if k != "data"} for m in obs["messages"]]
    for messages, why in ((plain(obs["messages"]), "has no 'data'"),
                          (stripped, "has no 'data'"),
                          (obs["messages"][1:], "there is no system message")):
        with pytest.raises(dialog_gym.error.ConfigError,
                           match=rf"{name} reads the public context from the system "
                                 rf"message's 'data'.*{why}"):
            expert.act({**obs, "messages": messages})
