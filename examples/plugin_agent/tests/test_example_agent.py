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
