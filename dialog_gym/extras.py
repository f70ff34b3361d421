"""Optional features and the pip extras that install them.

The core (``gym.make``, the environments with their default rewards and simulated users,
``dialog-gym envs / evaluate / play``) needs only the core dependencies. Training stacks,
peers and integrations are extras; a feature used without its extra raises
:class:`~dialog_gym.error.DependencyNotInstalled` naming the extra:

| extra | installs | for |
|---|---|---|
| ``sb3`` | stable-baselines3, sb3-contrib | the ``sb3-*`` agents, ``dialog-gym train sb3`` |
| ``llm`` | transformers, deepspeed, peft | the LLM agent (SFT, reward model, RL), LoRA |
| ``nltk`` | nltk | the ``bleu`` scorer's ``backend="nltk"`` |
| ``multiagent`` | pettingzoo | ``dialog_gym.multiagent`` |
| ``ray`` | ray | ``dialog-gym leaderboard --backend ray`` |
| ``plots`` | matplotlib | leaderboard and benchmark plots |
| ``trl`` | trl, transformers, datasets | ``dialog_gym.integrations.trl`` |
| ``openenv`` | openenv-core | ``dialog_gym.integrations.openenv`` |
| ``verifiers`` | verifiers | ``dialog_gym.integrations.verifiers`` |
| ``bench`` | textarena, trl | the speed benchmarks' peers |
| ``dev`` | pytest, ruff, hypothesis and every extra above | the test suite |
| ``all`` | everything | |
"""

from __future__ import annotations

import importlib
from types import ModuleType

from dialog_gym.error import DependencyNotInstalled

#: import name -> (pip extra, distribution) of the optional dependencies
OPTIONAL = {
    "stable_baselines3": ("sb3", "stable-baselines3"),
    "sb3_contrib": ("sb3", "sb3-contrib"),
    "deepspeed": ("llm", "deepspeed"),
    "transformers": ("llm", "transformers"),
    "peft": ("llm", "peft"),
    "pettingzoo": ("multiagent", "pettingzoo"),
    "ray": ("ray", "ray"),
    "matplotlib": ("plots", "matplotlib"),
    "textarena": ("bench", "textarena"),
    "trl": ("trl", "trl"),
    "datasets": ("trl", "datasets"),
    "openenv": ("openenv", "openenv-core"),
    "verifiers": ("verifiers", "verifiers"),
}


def require(module: str, feature: str) -> ModuleType:
    """Import ``module`` for ``feature``, or raise an error naming the extra to install.

    Example:
        >>> require("json", "reading JSON").__name__
        'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError as e:
        extra, dist = OPTIONAL.get(module.split(".")[0], (None, module.split(".")[0]))
        how = (f"pip install 'dialog-gym[{extra}]'" if extra else f"pip install {dist}")
        raise DependencyNotInstalled(f"{dist} is not installed, and {feature} uses it: {how}"
                                     ) from e


__all__ = ["OPTIONAL", "require"]
