"""The plugin's own tests: the domain checks, and discovery through the entry point."""

import gymnasium as gym

import dialog_gym
from dialog_gym.testing import check_domain


def test_found_through_its_entry_point():
    """Installed, the env is a dialog-gym id that gym.make builds."""
    assert "Example-CoffeeOrder-v0" in dialog_gym.env_ids()
    env = gym.make("Example-CoffeeOrder-v0")
    obs, _ = env.reset(seed=0)
    assert obs["history"].startswith("Customer:")


def test_passes_the_domain_checks():
    """The checks every built-in env passes."""
    figures = check_domain("Example-CoffeeOrder-v0", episodes=20)
    assert figures["expert"][0] >= 0.9


def test_the_tool_returns_its_order_as_data_and_the_expert_reads_messages():
    """place_order's result carries the order and total; the expert acts from messages."""
    import pytest

    from dialog_gym.error import ConfigError
    from dialog_gym.messages import tool_payload

    env = gym.make("Example-CoffeeOrder-v0")
    obs, _ = env.reset(seed=1)
    expert = env.unwrapped.domain.make_expert()
    replies, done = [], False
    while not done:
        replies.append(expert.act(obs))
        assert expert.act({"messages": obs["messages"]}) == replies[-1]  # messages alone
        obs, _, terminated, truncated, info = env.step(replies[-1])
        done = terminated or truncated
    assert info["success"]
    (placed,) = [tool_payload(m) for m in obs["messages"] if m["role"] == "tool"]
    order = env.unwrapped.world["orders"][0]
    assert placed["data"] == {**order, "total": placed["data"]["total"]}
    assert f"${placed['data']['total']:.2f}" in placed["message"] and \
        f"${placed['data']['total']:.2f}" in replies[-1]
    with pytest.raises(ConfigError, match=r"observation\['messages'\]"):
        expert.act({"context": obs["context"], "history": obs["history"]})
