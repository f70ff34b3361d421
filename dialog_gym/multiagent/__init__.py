"""Multi-party dialogue as PettingZoo AEC environments.

Two learning agents talking to each other (negotiation, self-play) do not fit the
single-agent Gymnasium API; they are PettingZoo AEC envs, importable in PettingZoo's
convention::

    from dialog_gym.multiagent import negotiation_v0
    env = negotiation_v0.env()
"""

from __future__ import annotations

from dialog_gym.extras import require

require("pettingzoo", "the multi-agent environments (dialog_gym.multiagent)")
from dialog_gym.multiagent import negotiation_v0  # noqa: E402

__all__ = ["negotiation_v0"]
