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
