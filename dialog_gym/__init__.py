"""dialog-gym: Gymnasium environments, reward scorers and agents for RL on dialogue.

Importing ``dialog_gym`` registers its environment ids with Gymnasium::

    import gymnasium as gym
    import dialog_gym  # noqa: F401  (registers Dialog-* ids)

    env = gym.make("Dialog-CustomerService-v0")
"""

from __future__ import annotations

from dialog_gym.dialogue import AGENT, SYSTEM, USER, Dialogue, Turn
from dialog_gym.env import DialogueEnv
from dialog_gym.registration import env_ids, register_envs
from dialog_gym.rules import Rule, RuleBook, Violation
from dialog_gym.scenario import (
    AdversarialSampler,
    PrioritizedSampler,
    Scenario,
    ScenarioSampler,
    UniformSampler,
    make_sampler,
)
from dialog_gym.simulator import AgendaUser, UserSimulator

__version__ = "0.1.0"

__all__ = [
    "AGENT",
    "SYSTEM",
    "USER",
    "AdversarialSampler",
    "AgendaUser",
    "Dialogue",
    "DialogueEnv",
    "PrioritizedSampler",
    "Rule",
    "RuleBook",
    "Scenario",
    "ScenarioSampler",
    "Turn",
    "UniformSampler",
    "UserSimulator",
    "Violation",
    "env_ids",
    "make_sampler",
    "register_envs",
    "__version__",
]

register_envs()
# Environment plugins (entry-point group ``dialog_gym.envs``) are registered here too, so
# that ``import dialog_gym; gym.make(plugin_id)`` works in any process (spawned workers
# included) as for the built-in ids; a plugin that fails to load is warned about.
from dialog_gym.registration import _plugin_envs  # noqa: E402

_plugin_envs()
