"""The LLM agent: a Hugging Face causal LM trained SFT -> reward model -> PPO/A2C/REINFORCE.

Submodules (imported lazily; torch is not imported here):

- :mod:`~dialog_gym.agents.llm.policy`: :class:`Policy` and the ``llm`` agent.
- :mod:`~dialog_gym.agents.llm.prompt`: ``obs["messages"]`` -> chat template (with the
  env's tools) -> token ids, grown turn by turn; generated tool calls -> actions.
- :mod:`~dialog_gym.agents.llm.embedded`: the tiny GPT-2 + BPE built from env demos.
- :mod:`~dialog_gym.agents.llm.sft`, :mod:`~dialog_gym.agents.llm.rm`,
  :mod:`~dialog_gym.agents.llm.rl`: the three training steps;
  :mod:`~dialog_gym.agents.llm.pipeline` runs them in order.
- :mod:`~dialog_gym.agents.llm.engine`: DeepSpeed / plain PyTorch engines.
- :mod:`~dialog_gym.agents.llm.checkpoint`: safetensors + JSON checkpoints, atomic.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LLMAgent", "Policy"]


def __getattr__(name: str) -> Any:
    if name in ("LLMAgent", "Policy"):
        from dialog_gym.agents.llm import policy

        return getattr(policy, name)
    raise AttributeError(f"module 'dialog_gym.agents.llm' has no attribute {name!r}")
