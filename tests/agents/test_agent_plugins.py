import json
import subprocess
import sys

import pytest
from agent_testutil import ENV, dialog_gym_command

from dialog_gym.error import PluginError


def test_installed_example_plugin_is_listed_made_and_checked(with_plugins):
    from dialog_gym.agents import list_agents, make_agent
    from dialog_gym.testing import check_agent

    with pytest.warns(UserWarning, match="broken-plugin"):
        names = list_agents(check=True)
    assert "example-checklist" in names and "broken-plugin" not in names
    assert "expert" in names and "sb3-ppo" in names
    assert with_plugins.origin("example-checklist").startswith("plugin ")
    agent = make_agent("example-checklist", env_id=ENV)  # env_id dropped: not declared
    assert type(agent).__name__ == "ChecklistAgent"
    report = check_agent(agent, ENV, episodes=2)
    assert report["episodes"] == 2 and report["turns"] >= 2


def test_broken_plugin_is_listed_without_check_and_reraised_with_context(with_plugins):
    from dialog_gym.agents import list_agents, make_agent

    assert "broken-plugin" in list_agents()  # unchecked listing does not import
    with pytest.raises(PluginError, match=r"broken-plugin.*RuntimeError.*broken on purpose") \
            as info:
        make_agent("broken-plugin")
    assert isinstance(info.value.__cause__, RuntimeError)
    assert "broken-plugin" in with_plugins.broken
    assert make_agent("expert", env_id=ENV) is not None  # others unaffected


def test_cli_agents_lists_plugin_and_names_the_broken_one(plugin_env):
    proc = subprocess.run([*dialog_gym_command(), "agents"], capture_output=True, text=True,
                          env=plugin_env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "example-checklist" in proc.stdout
    assert "broken-plugin" not in proc.stdout
    assert "broken-plugin" in proc.stderr and "broken on purpose" in proc.stderr


def test_cli_evaluates_the_plugin_with_a_broken_plugin_installed(plugin_env):
    proc = subprocess.run(
        [*dialog_gym_command(), "evaluate", "--agent", "example-checklist", "--env", ENV,
         "--episodes", "2", "--json", "--agent-kw", 'greeting="Hello there!"'],
        capture_output=True, text=True, env=plugin_env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["agent"] == "example-checklist" and result["episodes"] == 2
    assert result["mean_turns"] >= 1


def test_cli_asking_for_the_broken_plugin_is_a_clear_error(plugin_env):
    proc = subprocess.run(
        [sys.executable, "-m", "dialog_gym.cli", "evaluate", "--agent", "broken-plugin",
         "--episodes", "1"], capture_output=True, text=True, env=plugin_env, timeout=300)
    assert proc.returncode == 2
    assert "broken-plugin" in proc.stderr and "failed to load" in proc.stderr


def test_plugin_that_crashes_at_construction_is_a_plugin_error(with_plugins):
    from dialog_gym.agents import make_agent

    def exploding_factory():
        raise ValueError("no GPU here")

    with_plugins.register("exploding", exploding_factory, origin="plugin tests:exploding")
    with pytest.raises(PluginError, match="exploding.*failed to start.*no GPU here"):
        make_agent("exploding")
