from dialog_gym.agents import make_agent
from dialog_gym.testing import check_agent
from dialog_gym_example_agent import ChecklistAgent


def test_meets_the_agent_contract():
    report = check_agent(ChecklistAgent(), "Dialog-CustomerService-v0", episodes=3)
    assert report["episodes"] == 3


def test_found_through_its_entry_point():
    assert isinstance(make_agent("example-checklist"), ChecklistAgent)
