"""Fixtures of the agent tests: an installed example plugin, a broken plugin, fast torch."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "plugin_agent"

BROKEN_MODULE = '''raise RuntimeError("this plugin is broken on purpose")
'''
BROKEN_METADATA = """Metadata-Version: 2.1
Name: dialog-gym-broken-plugin
Version: 0.0.1
"""
BROKEN_ENTRY_POINTS = """[dialog_gym.agents]
broken-plugin = dialog_gym_broken_plugin:BrokenAgent
"""


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """The machine is small and shared: one thread is faster than two fighting ones."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory) -> Path:
    """A site directory holding the example plugin, installed by pip from a copy of its
    source (so no build files land in the repository), and a plugin that raises on
    import, installed by hand as an installed distribution looks (a ``.dist-info``)."""
    site = tmp_path_factory.mktemp("plugin_site")
    src = tmp_path_factory.mktemp("plugin_src") / "plugin_agent"
    shutil.copytree(EXAMPLE, src, ignore=shutil.ignore_patterns("build", "*.egg-info",
                                                                "__pycache__"))
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
         "--no-index", "--quiet", "--target", str(site), str(src)],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (site / "dialog_gym_broken_plugin.py").write_text(BROKEN_MODULE)
    info = site / "dialog_gym_broken_plugin-0.0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(BROKEN_METADATA)
    (info / "entry_points.txt").write_text(BROKEN_ENTRY_POINTS)
    return site


@pytest.fixture
def clean_registry():
    """The agent registry, restored to its state before the test."""
    from dialog_gym.agents import agent_registry

    saved = (dict(agent_registry._entries), dict(agent_registry._origin),
             dict(agent_registry._broken), agent_registry._discovered)
    yield agent_registry
    (agent_registry._entries, agent_registry._origin, agent_registry._broken,
     agent_registry._discovered) = saved


@pytest.fixture
def with_plugins(plugin_site, monkeypatch, clean_registry):
    """Both plugins importable in this process; the agent registry is restored after."""
    monkeypatch.syspath_prepend(str(plugin_site))
    clean_registry.discover(force=True)
    yield clean_registry
    for mod in [m for m in sys.modules if m.startswith(("dialog_gym_example_agent",
                                                         "dialog_gym_broken_plugin"))]:
        del sys.modules[mod]


@pytest.fixture
def plugin_env(plugin_site) -> dict[str, str]:
    """Environment variables of a subprocess that sees both plugins."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(plugin_site), env.get("PYTHONPATH", "")])
    return env

