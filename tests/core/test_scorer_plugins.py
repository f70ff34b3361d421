"""Third-party scorers arrive through the entry-point group ``dialog_gym.scorers``."""

import sys
import textwrap
import warnings

import pytest

from dialog_gym.error import PluginError
from dialog_gym.scorers import list_scorers, make_scorer, scorer_registry


@pytest.fixture
def plugin_dist(tmp_path, monkeypatch):
    """A minimal installed distribution (dist-info on sys.path) with two scorer entry points."""
    (tmp_path / "shouty_scorer.py").write_text(textwrap.dedent('''
        import numpy as np
        from dialog_gym.scorers import Scorer

        class Shouty(Scorer):
            name = "shouty"
            range = (0.0, 1.0)

            def _score(self, batch):
                return np.array([float(x.response.isupper()) for x in batch])
    '''))
    dist = tmp_path / "shouty_scorer-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: shouty-scorer\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[dialog_gym.scorers]\nshouty = shouty_scorer:Shouty\n"
        "broken_metric = shouty_scorer_missing_module:Nope\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    saved = (dict(scorer_registry._entries), dict(scorer_registry._origin))
    scorer_registry.discover(force=True)
    yield
    scorer_registry._entries, scorer_registry._origin = saved
    scorer_registry._broken.clear()
    sys.modules.pop("shouty_scorer", None)


def test_plugin_scorer_is_listed_and_usable(plugin_dist):
    assert "shouty" in list_scorers()
    assert make_scorer("shouty")("HELLO") == 1.0
    assert make_scorer("shouty")("hello") == 0.0


def test_broken_plugin_is_named_in_a_warning_and_raised_when_asked_for(plugin_dist):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        names = list_scorers(check=True)
    assert "broken_metric" not in names and "shouty" in names and "bleu" in names
    assert any("broken_metric" in str(w.message) for w in caught)
    with pytest.raises(PluginError, match="broken_metric"):
        make_scorer("broken_metric")


def test_plugin_scorer_in_env_reward(plugin_dist):
    import gymnasium as gym

    import dialog_gym  # noqa: F401

    env = gym.make("Dialog-CustomerService-v0", reward={"shouty": 1.0})
    env.reset(seed=0)
    _, r, _, _, info = env.step("HELLO THERE")
    assert info["scores"] == {"shouty": 1.0} and r == 1.0
