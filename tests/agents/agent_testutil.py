"""Helpers shared by the agent tests (imported by name; pytest puts this folder on the path)."""

from __future__ import annotations

import sys
from pathlib import Path

ENV = "Dialog-CustomerService-v0"
ROOT = Path(__file__).resolve().parents[2]


def dialog_gym_command() -> list[str]:
    """The installed ``dialog-gym`` console script (or ``python -m dialog_gym.cli``)."""
    script = Path(sys.executable).with_name("dialog-gym")
    return [str(script)] if script.exists() else [sys.executable, "-m", "dialog_gym.cli"]


def tiny_hyperparams(algo: str) -> dict:
    """Hyper-parameters that make one SB3 update happen within a few dozen steps."""
    if algo in ("ppo", "maskable-ppo"):
        return {"n_steps": 32, "batch_size": 32, "n_epochs": 1}
    if algo == "a2c":
        return {"n_steps": 8}
    return {"learning_starts": 16, "buffer_size": 500, "batch_size": 16, "train_freq": 4,
            "target_update_interval": 32}
