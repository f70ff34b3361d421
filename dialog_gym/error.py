"""The dialog-gym error hierarchy.

Every error raised on bad user input derives from :class:`Error`, so callers can catch
the whole family at once. Messages say what was received, what was expected, and how to
fix it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class Error(Exception):
    """Base class of every dialog-gym error."""


class RegistryError(Error, KeyError):
    """An unknown name was asked of a registry (scorer, agent, environment, sampler)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class PluginError(Error, ImportError):
    """A plugin (entry point) failed to load."""


class InvalidAction(Error, ValueError):
    """An action could not be interpreted by the environment."""


class ResetNeeded(Error, RuntimeError):
    """``step`` was called before ``reset`` or after the episode ended."""


class ScenarioError(Error, ValueError):
    """A scenario id, option or file could not be understood."""


class DependencyNotInstalled(Error, ImportError):
    """An optional dependency is missing; the message names the pip extra."""


class ConfigError(Error, ValueError):
    """A configuration value is out of range or of the wrong type."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return a ``" Did you mean 'x'?"`` hint, or an empty string when nothing is close."""
    choices = list(choices)
    folded = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(name.lower(), list(folded), n=1, cutoff=0.6)
    return f" Did you mean {folded[close[0]]!r}?" if close else ""
