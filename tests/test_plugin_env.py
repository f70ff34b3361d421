"""Environments as plugins: the example entry-point plugin and a plain gym.register."""

import json
import subprocess
import sys

import gymnasium as gym
import pytest

import dialog_gym
from dialog_gym.leaderboard import LeaderboardConfig, run_leaderboard
from dialog_gym.registration import make_expert
from dialog_gym.testing import DomainCheckError, check_domain

PLUGIN = "Example-CoffeeOrder-v0"


@pytest.fixture(scope="module")
def plugin_installed():
    try:
        import dialog_gym_example_env  # noqa: F401
    except ImportError:
        pytest.fail("the example env plugin is not installed: pip install -e "
                    "examples/plugin_env (the README's set-up and .ci/run do)")
    return PLUGIN


def test_entry_point_plugin_is_listed_made_and_evaluated(plugin_installed):
    assert PLUGIN in dialog_gym.env_ids()
    out = subprocess.run([sys.executable, "-m", "dialog_gym.cli", "envs"], capture_output=True,
                         text=True, check=True).stdout
    assert PLUGIN in out
    out = subprocess.run([sys.executable, "-m", "dialog_gym.cli", "evaluate", "--agent",
                          "expert", "--env", PLUGIN, "--episodes", "5", "--json"],
                         capture_output=True, text=True, check=True).stdout
    assert json.loads(out)["success_rate"] == 1.0
    assert gym.spec(PLUGIN).max_episode_steps == 8


def test_plugin_env_runs_through_the_leaderboard(plugin_installed, tmp_path):
    report = run_leaderboard(LeaderboardConfig(agents=["expert", "random"], envs=[PLUGIN],
                                               seeds=3, k=1, workers=1, out=str(tmp_path)))
    ranks = {r["agent"]: r["rank"] for r in report["ranking"]}
    assert ranks == {"expert": 1, "random": 2}
    assert (tmp_path / "index.html").exists()


def test_check_domain_passes_on_the_plugin(plugin_installed):
    figures = check_domain(PLUGIN, episodes=20)
    assert figures["expert"][0] >= 0.9 and figures["echo"][0] <= 0.1


def test_plain_gym_register_makes_a_dialogue_env_a_dialog_gym_env(plugin_installed):
    from dialog_gym_example_env.coffee import CoffeeOrderEnv

    class MyCoffee(CoffeeOrderEnv):
        """Registered with plain gym.register."""

    gym.register(id="Mine-Coffee-v0", entry_point=MyCoffee, max_episode_steps=8)
    try:
        assert "Mine-Coffee-v0" in dialog_gym.env_ids()
        expert = make_expert("Mine-Coffee-v0")
        env = gym.make("Mine-Coffee-v0")
        obs, _ = env.reset(seed=1)
        assert isinstance(expert.act(obs), str)
    finally:
        gym.registry.pop("Mine-Coffee-v0", None)


def test_check_domain_names_the_failed_check():
    with pytest.raises(DomainCheckError, match=r"\[registered\].*authoring_envs"):
        check_domain("Nope-v0")


def test_a_fresh_process_makes_the_plugin_after_import(plugin_installed):
    """Leaderboard workers are spawned processes: import dialog_gym must register it."""
    code = ("import gymnasium as gym, dialog_gym; env = gym.make('Example-CoffeeOrder-v0'); "
            "print(env.spec.max_episode_steps)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "8"
