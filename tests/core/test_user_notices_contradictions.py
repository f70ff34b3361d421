"""The simulated user notices when the agent contradicts its own earlier statement."""

import gymnasium as gym
import pytest

import dialog_gym  # noqa: F401


def _play(replies, seed=3):
    env = gym.make("Dialog-CustomerService-v0")
    env.reset(seed=seed)
    out = []
    for r in replies:
        _, _, _, _, info = env.step(r)
        out.append(info)
    return out


def test_a_changed_weekday_is_noticed_and_costs_mood():
    first, second = _play(["I'm sorry about that. Your package arrives on Friday.",
                           "Yes, it arrives on Monday."])
    assert first["user"]["contradictions"] == []
    assert second["user"]["contradictions"]
    assert second["user"]["mood"] < first["user"]["mood"]


@pytest.mark.parametrize("second", ["Sorry, I meant Monday: it arrives on Monday.",
                                    "Does it arrive on Monday?",
                                    "It ships Monday and arrives Friday."])
def test_corrections_questions_and_other_subjects_are_not_contradictions(second):
    _, info = _play(["I'm sorry about that. Your package arrives on Friday.", second])
    assert info["user"]["contradictions"] == []
