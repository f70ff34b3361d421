"""The chat-message interface: obs["messages"], tool schemas, and every action form."""

import copy
import json

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dialog_gym
from dialog_gym.agents import make_agent
from dialog_gym.messages import (
    context_data,
    plain,
    system_message,
    tool_payload,
    user_message,
    validate,
)

TOOL_ENVS = [e for e in dialog_gym.env_ids()
             if gym.make(e).unwrapped.tool_schemas]
NO_TOOL_ENV = next(e for e in dialog_gym.env_ids() if not gym.make(e).unwrapped.tool_schemas)


@pytest.mark.parametrize("env_id", dialog_gym.env_ids())
def test_check_env_and_messages_observation(env_id):
    env = gym.make(env_id)
    check_env(env.unwrapped, skip_render_check=True)
    obs, info = env.reset(seed=4)
    assert obs in env.observation_space
    msgs = obs["messages"]
    assert validate(msgs) is None
    assert [m["role"] for m in msgs] == ["system", "user"]
    assert msgs[0]["content"] == obs["context"]
    assert msgs[1]["source"] == "user_simulator"
    assert info["tool_schemas"] == env.unwrapped.tool_schemas


def _random_action(rng, env):
    """A random reply in one of the accepted forms, with random (often broken) calls."""
    tools = [t["function"] for t in env.unwrapped.tool_schemas] or [{"name": "nope",
                                                                    "parameters": {}}]
    words = ["hello", "order", "A1234", "yes", "no", "42", "tomorrow", "3pm", "sorry", ""]
    text = " ".join(rng.choice(words, size=int(rng.integers(0, 6))).tolist())
    tool = tools[int(rng.integers(len(tools)))]
    props = list(tool.get("parameters", {}).get("properties", {}))
    args = {p: rng.choice(["x", "1", "A1234", "2.5"]).item() for p in props
            if rng.random() < 0.7}
    form = int(rng.integers(5))
    if form == 0:
        return text
    if form == 1:
        return {"role": "assistant", "content": text,
                "tool_calls": [{"type": "function",
                                "function": {"name": tool["name"], "arguments": json.dumps(args)}}]}
    if form == 2:
        return f'{text} <tool_call>{json.dumps({"name": tool["name"], "arguments": args})}' \
               "</tool_call>"
    if form == 3:  # malformed in several ways
        bad = [{"function": {"name": tool["name"], "arguments": "{not json"}},
               "a string", {"function": {"arguments": {}}}, {"function": "x"}]
        return {"role": "assistant", "content": None,
                "tool_calls": [bad[int(rng.integers(len(bad)))]]}
    return text + " <tool_call>{\"name\": "  # unclosed Hermes block


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), env_index=st.integers(0, len(dialog_gym.env_ids()) - 1))
def test_messages_are_append_only_under_random_agents(seed, env_index):
    env = gym.make(dialog_gym.env_ids()[env_index])
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    prev = obs["messages"]
    for _ in range(8):
        obs, _, term, trunc, info = env.step(_random_action(rng, env))
        msgs = obs["messages"]
        assert validate(msgs) is None
        assert msgs[: len(prev)] == prev  # earlier messages never change
        new = msgs[len(prev):]
        assert new and new[0]["role"] == "assistant"
        calls = new[0].get("tool_calls", [])
        tools = [m for m in new if m["role"] == "tool"]
        assert [m["tool_call_id"] for m in tools] == [c["id"] for c in calls]
        assert len(tools) == len(info["tool_results"])
        prev = msgs
        if term or trunc:
            break


def test_observations_do_not_alias_env_state():
    env = gym.make("Dialog-CustomerService-v0")
    obs, _ = env.reset(seed=0)
    obs["messages"][1]["content"] = "tampered"
    obs["messages"].append({"role": "user", "content": "x"})
    obs2, *_ = env.step("Hello, how can I help?")
    assert obs2["messages"][1]["content"] != "tampered"
    assert obs2["messages"][2]["role"] == "assistant"


def _forms(parsed):
    """The same calls as a canonical inline string, an OpenAI message and Hermes text."""
    inline = " ".join([parsed.text] * bool(parsed.text) + [c.render() for c in parsed.calls])
    message = {"role": "assistant", "content": parsed.text,
               "tool_calls": [{"type": "function",
                               "function": {"name": c.name, "arguments": json.dumps(dict(c.args))}}
                              for c in parsed.calls]}
    message_dict_args = {"role": "assistant", "content": parsed.text,
                         "tool_calls": [{"name": c.name, "arguments": dict(c.args)}
                                        for c in parsed.calls]}
    hermes = " ".join([parsed.text] * bool(parsed.text) + [
        "<tool_call>" + json.dumps({"name": c.name, "arguments": dict(c.args)}) + "</tool_call>"
        for c in parsed.calls])
    return {"inline": inline, "message": message, "message_dict_args": message_dict_args,
            "hermes": hermes}


def _play(env_id, seed, form, steps=12):
    env = gym.make(env_id)
    expert = make_agent("expert", env_id=env_id)
    obs, _ = env.reset(seed=seed)
    trace = []
    for _ in range(steps):
        reply = expert.act(obs)
        parsed = env.unwrapped.tools.parse(reply)
        obs, r, term, trunc, info = env.step(_forms(parsed)[form])
        trace.append((r, info["scores"], info["tool_results"], info["violations"]))
        if term or trunc:
            break
    return trace, obs["history"], obs["messages"], copy.deepcopy(env.unwrapped.world)


@pytest.mark.parametrize("env_id", TOOL_ENVS)
@pytest.mark.parametrize("seed", [0, 3])
def test_every_form_of_the_same_calls_gives_identical_results(env_id, seed):
    ref = _play(env_id, seed, "inline")
    assert any(t[2] for t in ref[0]), "the expert made no tool call: the test proves nothing"
    for form in ("message", "message_dict_args", "hermes"):
        got = _play(env_id, seed, form)
        assert got[0] == ref[0], form  # rewards, scores, tool results, violations
        assert got[1] == ref[1], form  # the text transcript
        assert got[2] == ref[2], form  # the messages (generated tool-call ids included)
        assert got[3] == ref[3], form  # the database


def test_tool_call_ids_given_by_the_agent_are_kept():
    env = gym.make("Dialog-CustomerService-v0")
    env.reset(seed=0)
    obs, *_ = env.step({"role": "assistant", "content": "Let me look.", "tool_calls": [
        {"id": "abc", "type": "function",
         "function": {"name": "lookup_order", "arguments": '{"order": "A1234"}'}},
        {"id": "def", "type": "function",
         "function": {"name": "lookup_order", "arguments": {"order": "B9"}}}]})
    tools = [m for m in obs["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tools] == ["abc", "def"]
    assert obs["messages"][2]["tool_calls"][0]["id"] == "abc"


@pytest.mark.parametrize("call, needle", [
    ({"function": {"name": "lookup_order", "arguments": "{bad json"}}, "not valid JSON"),
    ({"function": {"name": "lookup_order", "arguments": "[1, 2]"}}, "must be a JSON object"),
    ({"function": {"name": "lookup_ordr", "arguments": {"order": "A1"}}}, "did you mean"),
    ({"function": {"name": "refund", "arguments": {"order": "A1", "amount": "lots"}}},
     "not a valid float"),
    ({"function": {"name": "refund", "arguments": {"order": "A1"}}}, "missing argument"),
    ({"function": {"name": "lookup_order", "arguments": {"order": "A1", "x": 1}}},
     "unknown argument"),
    ({"function": {"name": "lookup_order", "arguments": {"order": ["A1"]}}}, "not a valid str"),
    ({"function": {"arguments": {}}}, "without a name"),
    ("lookup_order", "must be an object"),
])
def test_malformed_openai_calls_become_error_tool_messages(call, needle):
    env = gym.make("Dialog-CustomerService-v0")
    env.reset(seed=0)
    obs, r, *_ = env.step({"role": "assistant", "content": "Checking.", "tool_calls": [call]})
    tool = obs["messages"][-2] if obs["messages"][-1]["role"] == "user" else obs["messages"][-1]
    payload = tool_payload(tool)
    assert payload["ok"] is False
    assert needle.lower() in payload["message"].lower(), payload["message"]
    assert np.isfinite(r)


@pytest.mark.parametrize("text, needle", [
    ('Checking. <tool_call>{"name": "lookup_order", "arguments": {"order": </tool_call>',
     "valid JSON"),
    ('Checking. <tool_call>{"name": "lookup_order"', "unclosed"),
    ("Checking. <tool_call>[1]</tool_call>", "must hold an object"),
])
def test_malformed_hermes_calls_become_error_tool_messages(text, needle):
    env = gym.make("Dialog-CustomerService-v0")
    env.reset(seed=0)
    obs, *_ = env.step(text)
    tools = [m for m in obs["messages"] if m["role"] == "tool"]
    assert len(tools) == 1
    assert needle in tool_payload(tools[0])["message"]
    assert obs["messages"][2]["content"] == "Checking."  # the call is not spoken


def test_env_without_tools_reports_tool_calls_as_errors():
    env = gym.make(NO_TOOL_ENV)
    env.reset(seed=0)
    obs, *_ = env.step({"role": "assistant", "content": "Hi [not a call]",
                        "tool_calls": [{"name": "search", "arguments": {}}]})
    assert obs["messages"][2]["content"] == "Hi [not a call]"  # brackets stay speech
    tools = [m for m in obs["messages"] if m["role"] == "tool"]
    assert "no tools" in tool_payload(tools[0])["message"]


def test_bad_action_types_raise_clear_errors():
    env = gym.make("Dialog-CustomerService-v0")
    env.reset(seed=0)
    with pytest.raises(TypeError, match="assistant message"):
        env.step(42)
    with pytest.raises(TypeError, match="role 'assistant'"):
        env.step({"role": "user", "content": "hi"})


def test_message_content_parts_and_truncation():
    env = gym.make("Dialog-CustomerService-v0", max_reply_chars=20)
    env.reset(seed=0)
    obs, _, _, _, info = env.step({"role": "assistant",
                                   "content": [{"type": "text", "text": "Hello there, "},
                                               {"type": "text", "text": "how can I help you?"}]})
    assert info["action_truncated"] is True
    assert obs["messages"][2]["content"] == "Hello there, how can"


@pytest.mark.parametrize("env_id", TOOL_ENVS)
def test_tool_schema_views_come_from_one_definition(env_id):
    tools = gym.make(env_id).unwrapped.tools
    chat, responses, mcp = tools.schemas(), tools.schemas("responses"), tools.schemas("mcp")
    assert len(chat) == len(responses) == len(mcp) == len(tools.tools)
    for c, r, m in zip(chat, responses, mcp, strict=True):
        fn = c["function"]
        assert c["type"] == "function" and r["type"] == "function"
        assert r["name"] == m["name"] == fn["name"]
        assert r["parameters"] == m["inputSchema"] == fn["parameters"]
        params = fn["parameters"]
        assert params["type"] == "object"
        assert set(params["required"]) <= set(params["properties"])
        assert {p["type"] for p in params["properties"].values()} <= {"string", "number",
                                                                      "integer"}
        assert fn["description"]
    with pytest.raises(dialog_gym.error.ConfigError, match="unknown schema format"):
        tools.schemas("xml")


def test_plain_drops_source_and_data():
    env = gym.make("Dialog-Recommendation-v0")
    obs, _ = env.reset(seed=0)
    assert obs["messages"][0]["data"]["rows"]
    out = plain(obs["messages"])
    assert all("source" not in m and "data" not in m for m in out)
    assert [m["content"] for m in out] == [m["content"] for m in obs["messages"]]
    assert [set(m) for m in out] == [set(m) - {"source", "data"} for m in obs["messages"]]
    assert "data" in obs["messages"][0] and "source" in obs["messages"][0]  # not changed


def test_system_message_carries_its_data_and_context_data_reads_it():
    data = {"today": "2026-03-12", "cities": ["Oslo"]}
    msg = system_message("Today is Thursday, 2026-03-12.", data)
    assert msg == {"role": "system", "content": "Today is Thursday, 2026-03-12.",
                   "source": "env", "data": data}
    data["cities"].append("Lima")  # the message holds its own copy
    assert msg["data"]["cities"] == ["Oslo"]
    assert "data" not in system_message("ctx") and "data" not in system_message("ctx", {})
    messages = [msg, user_message("hi")]
    assert context_data(messages) == {"today": "2026-03-12", "cities": ["Oslo"]}
    assert context_data(messages, "MyExpert") is msg["data"]
    assert context_data([system_message("ctx"), user_message("hi")]) == {}
    assert context_data([user_message("hi")]) == {}
    with pytest.raises(dialog_gym.error.ConfigError, match=r"MyExpert reads .*has no 'data'"):
        context_data([system_message("ctx"), user_message("hi")], "MyExpert")
    with pytest.raises(dialog_gym.error.ConfigError, match="there is no system message"):
        context_data([user_message("hi")], "MyExpert")


def test_validate_accepts_data_on_the_system_message_only():
    good = [system_message("ctx", {"a": [1, "b"]}), user_message("hi")]
    assert validate(good) is None
    assert "only the system message" in validate([good[0], {**good[1], "data": {}}])
    assert "data of type list" in validate([{**good[0], "data": [1]}, good[1]])


@pytest.mark.parametrize("env_id", ["Dialog-Recommendation-v0", "Dialog-TwentyQuestions-v0"])
def test_chat_messages_space_flattens_context_data(env_id):
    from gymnasium.spaces.utils import flatten, unflatten

    env = gym.make(env_id)
    obs, _ = env.reset(seed=1)
    obs, *_ = env.step(make_agent("expert", env_id=env_id).act(obs))
    space = env.observation_space["messages"]
    assert obs["messages"] in space and obs["messages"][0]["data"]
    assert unflatten(space, flatten(space, obs["messages"])) == obs["messages"]
    assert unflatten(env.observation_space, flatten(env.observation_space, obs)) == obs


def test_async_vector_env_carries_messages():
    sync = gym.make_vec("Dialog-CustomerService-v0", num_envs=2, vectorization_mode="sync")
    asyn = gym.make_vec("Dialog-CustomerService-v0", num_envs=2, vectorization_mode="async")
    try:
        a, _ = sync.reset(seed=5)
        b, _ = asyn.reset(seed=5)
        assert list(a["messages"]) == list(b["messages"])
        a, *_ = sync.step(["Hi! [lookup_order order=A1]", "Hello"])
        b, *_ = asyn.step(["Hi! [lookup_order order=A1]", "Hello"])
        assert list(a["messages"]) == list(b["messages"])
        assert b["messages"][0][3]["role"] == "tool"
    finally:
        sync.close()
        asyn.close()


def test_async_vector_env_carries_context_data_and_the_expert_plays_from_it():
    env_id = "Dialog-TwentyQuestions-v0"
    sync = gym.make_vec(env_id, num_envs=2, vectorization_mode="sync")
    asyn = gym.make_vec(env_id, num_envs=2, vectorization_mode="async")
    experts = [make_agent("expert", env_id=env_id) for _ in range(2)]
    try:
        a, _ = sync.reset(seed=5)
        b, _ = asyn.reset(seed=5)
        for _ in range(3):
            assert list(a["messages"]) == list(b["messages"])
            assert all(m[0]["data"]["candidates"] for m in b["messages"])
            replies = [e.act({"messages": m}) for e, m in zip(experts, b["messages"],
                                                                strict=True)]
            assert replies == [e.act({"messages": m}) for e, m in zip(experts, a["messages"],
                                                                       strict=True)]
            a, *_ = sync.step(replies)
            b, *_ = asyn.step(replies)
    finally:
        sync.close()
        asyn.close()


def test_texts_render_calls_inline_like_the_transcript():
    from dialog_gym.messages import texts

    env = gym.make("Dialog-CustomerService-v0")
    env.reset(seed=3)
    obs, *_ = env.step("One moment.\nStill here. [lookup_order order=A8891]")
    assert texts(obs["messages"], "assistant") == [
        "One moment.\nStill here. [lookup_order order=A8891]"]
    assert texts(obs["messages"], "user")[0].startswith("Hi, I'd like to return")
    assert len(texts(obs["messages"], "user")) == 2
