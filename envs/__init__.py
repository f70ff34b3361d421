"""The environment suite: one module per domain (installed as ``dialog_gym.envs``).

Modules here are imported lazily by Gymnasium's registry when an id is made; importing
this package imports nothing heavy.
"""

from __future__ import annotations

__all__: list[str] = []
