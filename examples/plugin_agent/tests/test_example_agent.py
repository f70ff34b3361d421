"""The plugin's own tests: the agent contract, and discovery through the entry point."""

from dialog_gym_example_agent import ChecklistAgent

from dialog_gym.agents import make_agent
from dialog_gym.testing import check_agent


def test_meets_the_agent_contract():
    """check_agent plays seeded episodes and checks the Agent contract."""
    report = check_agent(ChecklistAgent(), "Dialog-CustomerService-v0", episodes=3)
    assert report["episodes"] == 3


def test_found_through_its_entry_point():
    """Installed, the agent is found by name with no change to dialog-gym."""
    assert isinstance(make_agent("example-checklist"), ChecklistAgent)


def test_reports_what_the_lookup_data_says():
    """The agent reads the lookup's structured data, not the text of the result."""
    import gymnasium as gym
    import pytest

    env = gym.make("Dialog-CustomerService-v0")
    agent = ChecklistAgent()
    for seed in range(40):
        obs, _ = env.reset(seed=seed)
        agent.reset()
        for _ in range(4):
            reply = agent.act(obs)
            obs, _, terminated, truncated, _ = env.step(reply)
            if terminated or truncated:
                break
        order = next((o for o in env.unwrapped.world["orders"].values()
                      if f"Your order {o['id']} is " in reply), None)
        if order is not None and order["status"] == "shipped" and order["tracking"]:
            assert f"tracking number {order['tracking']}" in reply
            break
    else:
        pytest.fail("no seed in 40 had the agent report a shipped order")
    with pytest.raises(ValueError, match=r"observation\['messages'\]"):
        agent.act({"context": "", "history": "Customer: hi", "turn": 0})
