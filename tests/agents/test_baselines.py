"""The probes read the observation's chat messages (obs["messages"])."""

import gymnasium as gym
import pytest
from agent_testutil import ENV

import dialog_gym  # noqa: F401
from dialog_gym.agents import make_agent
from dialog_gym.error import ConfigError
from dialog_gym.messages import assistant_message, system_message, tool_message, user_message
from dialog_gym.tools import ToolCall, ToolResult


def _obs(*messages):
    return {"messages": list(messages)}


def test_echo_says_the_last_user_message_even_after_a_tool_result():
    call = ToolCall("lookup_order", {"order": "A1234"}, "")
    obs = _obs(system_message("Shop"), user_message("first\nsecond line"),
               assistant_message("Let me look.", [call], ["c1"]),
               tool_message(ToolResult("lookup_order", True, "order A1234"), "c1"))
    assert make_agent("echo").act(obs) == "first\nsecond line"
    assert make_agent("echo").act(_obs(system_message("Shop"))) == ""


def test_echo_on_the_env_repeats_the_opening():
    env = gym.make(ENV)
    obs, _ = env.reset(seed=4)
    reply = make_agent("echo").act(obs)
    assert reply and obs["history"] == "Customer: " + reply
    obs, *_ = env.step(reply)
    assert make_agent("echo").act(obs) == obs["messages"][-1]["content"] != reply
    env.close()


def test_keyword_stuffing_takes_words_from_the_system_message():
    agent = make_agent("keyword-stuffing", seed=0)
    words = set()
    for _ in range(10):
        words |= set(agent.act(_obs(system_message("Welcome to Zanzibarian bakery"),
                                    user_message("hi"))).rstrip("?").split())
    assert "zanzibarian" in words and "bakery" in words and "welcome" in words


@pytest.mark.parametrize("name", ["echo", "keyword-stuffing"])
def test_an_observation_without_messages_is_a_clear_error(name):
    with pytest.raises(ConfigError, match=r"reads observation\['messages'\].*"
                                          r"\['context', 'history', 'turn'\]"):
        make_agent(name).act({"context": "Shop", "history": "Customer: hi", "turn": 0})
