"""The LLM policy and the ``llm`` agent.

:class:`Policy` pairs a causal LM with its tokenizer and prompt format and samples
replies for a batch of token prompts. :class:`LLMAgent` is the :class:`Agent` used by
``evaluate`` and the leaderboard::

    from dialog_gym.agents import make_agent
    agent = make_agent("llm", model="runs/cs/ppo")      # a folder written by training
    reply = agent.act(observation)

The prompt is ``obs["messages"]`` rendered by the tokenizer's chat template with the
env's tools (stored with the model); a reply is Hermes text (content, then
``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` blocks), which
``env.step`` parses into the assistant message's ``tool_calls``. Any
Hugging Face causal LM folder (or a cached Hub id) works: a tokenizer without a chat
template gets the embedded model's template.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from dialog_gym.agents.base import Agent
from dialog_gym.agents.llm.prompt import (
    ChatCodec,
    EntityTable,
    PromptFormat,
    observation_messages,
    read_meta,
)
from dialog_gym.error import ConfigError


class Policy:
    """A causal LM that writes replies.

    Args:
        model: A Hugging Face causal LM (or a DeepSpeed engine's module).
        tokenizer: Its tokenizer.
        fmt: Prompt format (from the model folder's metadata when loaded).
        max_new_tokens: Longest reply, in tokens.
        temperature: Sampling temperature (1.0 samples the policy's distribution).
        top_k: Keep the k most likely tokens (0: all).
        top_p: Nucleus sampling mass (1.0: all).
        seed: Seed of the sampling generator.
        device: Torch device.
    """

    def __init__(self, model: Any, tokenizer: Any, fmt: PromptFormat | None = None, *,
                 max_new_tokens: int = 64, temperature: float = 1.0, top_k: int = 0,
                 top_p: float = 1.0, seed: int = 0, device: str = "cpu") -> None:
        import torch

        self.model = model
        self.tokenizer = tokenizer
        self.fmt = fmt or PromptFormat()
        self.codec = ChatCodec(tokenizer, self.fmt)
        self.max_new_tokens = int(max_new_tokens)
        self.temperature = float(temperature)
        self.top_k = int(top_k)
        self.top_p = float(top_p)
        self.device = device
        self.generator = torch.Generator(device="cpu").manual_seed(int(seed))
        pad_id = tokenizer.pad_token_id
        if pad_id is None:
            pad_id = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
        self.pad_id = int(pad_id)
        cfg = getattr(model, "config", None)
        self.max_length = int(getattr(cfg, "n_positions", 0) or
                              getattr(cfg, "max_position_embeddings", 0) or 0) or None

    @classmethod
    def from_pretrained(cls, path: str, *, device: str = "cpu", dtype: Any = None,
                        **kwargs: Any) -> Policy:
        """Load a model folder (or cached Hub id) with its tokenizer and prompt format."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from dialog_gym.agents.llm.modeling import disable_dropout, load_backbone

        meta = read_meta(path) if os.path.isdir(path) else {}
        fmt = PromptFormat.from_dict(meta.get("format", {})) if meta else PromptFormat()
        try:
            tok = AutoTokenizer.from_pretrained(path)
        except (OSError, ValueError) as e:
            raise ConfigError(f"could not load a tokenizer from {path!r}: {e}") from e
        tok.padding_side = "left"
        model = load_backbone(path, AutoModelForCausalLM, dtype=dtype).to(device).eval()
        disable_dropout(model)
        gen = dict(meta.get("generation", {}))
        gen.update(kwargs)
        return cls(model, tok, fmt, device=device, **gen)

    def generate(self, prompts: Sequence[Sequence[int]], *, greedy: bool = False
                 ) -> list[list[int]]:
        """Sample one reply per prompt; each ends with its stop token unless cut by length."""
        from dialog_gym.agents.llm.modeling import sample

        was_training = self.model.training
        self.model.eval()
        try:
            return sample(self.model, prompts, max_new_tokens=self.max_new_tokens,
                          stop_ids=self.codec.stop_ids, pad_id=self.pad_id,
                          temperature=self.temperature, top_k=self.top_k, top_p=self.top_p,
                          greedy=greedy, generator=self.generator, device=self.device,
                          max_length=self.max_length)
        finally:
            if was_training:
                self.model.train()

    def prompt(self, observation: Mapping[str, Any], table: EntityTable | None = None
               ) -> list[int]:
        """Token ids of the prompt for an observation (fills ``table`` when delexicalising)."""
        return self.codec.prompt_ids(observation_messages(observation, self.fmt, table))

    def reply(self, observations: Sequence[Mapping[str, Any]], *, greedy: bool = False
              ) -> list[str]:
        """Replies to a batch of observations (values put back in place)."""
        tables = [EntityTable() for _ in observations]
        prompts = [self.prompt(o, t) for o, t in zip(observations, tables, strict=True)]
        gens = self.generate(prompts, greedy=greedy)
        return [self.codec.reply_text(g, t)[0] for g, t in zip(gens, tables, strict=True)]


class LLMAgent(Agent):
    """A trained (or any Hugging Face) causal LM playing a dialog-gym env.

    Args:
        model: Model folder (e.g. ``DIR/ppo`` from ``dialog-gym train pipeline``) or a
            Hugging Face id available offline.
        env_id: Accepted for a uniform ``make_agent(..., env_id=...)``; unused.
        greedy: Take the most likely token instead of sampling.
        temperature: Sampling temperature (ignored when greedy).
        top_k: Top-k filter (0: off).
        top_p: Nucleus filter (1.0: off).
        max_new_tokens: Longest reply in tokens (default: the model's saved setting).
        seed: Seed of the sampler.
        device: Torch device (``"cpu"``, ``"cuda"``).
    """

    name = "llm"

    def __init__(self, model: str | None = None, env_id: str | None = None, *,
                 greedy: bool = False, temperature: float = 1.0, top_k: int = 0,
                 top_p: float = 1.0, max_new_tokens: int | None = None, seed: int = 0,
                 device: str = "cpu") -> None:
        if model is None:
            raise ConfigError(
                "the llm agent needs a model: make_agent('llm', model='DIR/ppo') with a folder "
                "written by `dialog-gym train pipeline --out DIR` (or any local Hugging Face "
                "causal LM)")
        kw: dict[str, Any] = {"temperature": temperature, "top_k": top_k, "top_p": top_p,
                              "seed": seed}
        if max_new_tokens is not None:
            kw["max_new_tokens"] = max_new_tokens
        self.model_path = str(model)
        self.greedy = bool(greedy)
        self.policy = Policy.from_pretrained(self.model_path, device=device, **kw)

    #: optimizer steps of SFT in the leaderboard's quick preset (:meth:`quick_train`): fewer
    #: than the pipeline's quick SFT (500), since chat prompts with the tools' schemas made
    #: each step longer and the quick leaderboard must fit in 10 minutes on 2 CPU cores
    leaderboard_sft_steps = 400

    @classmethod
    def quick_train(cls, env_id: str, out_dir: str | os.PathLike[str], *,
                    seed: int = 0, env_kwargs: Mapping[str, Any] | None = None
                    ) -> dict[str, Any]:
        """The leaderboard's quick preset: SFT of the embedded model, a fixed number of steps.

        The full pipeline (SFT -> reward model -> RL, ``dialog-gym train pipeline
        --quick``) takes about 15 minutes on a 2-core CPU, more than the whole quick
        leaderboard may; here only SFT runs, for :attr:`leaderboard_sft_steps` steps
        (about 6 minutes on that CPU). The budget is counted in steps,
        not seconds, so that the same seed gives the same model on any machine and under
        any load (a time cap made the row depend on the machine's speed). ``env_kwargs``
        go to the demonstration env's ``gym.make`` (e.g. a corpus split). Pass a trained
        policy instead with ``--agent-kw llm:model=DIR/ppo`` or ``--checkpoints``.
        """
        from dialog_gym.agents.llm.config import QUICK, SFTConfig
        from dialog_gym.agents.llm.sft import train_sft

        out = os.path.join(str(out_dir), "sft")
        preset = {**QUICK["sft"], "max_steps": cls.leaderboard_sft_steps, "max_time": 0.0}
        train_sft(SFTConfig(env_id=env_id, out=out, seed=seed,
                            env_kwargs=dict(env_kwargs or {}), **preset))
        return {"model": out}

    def act(self, observation: Mapping[str, Any]) -> str:
        """The reply to one observation, as Hermes text (``<tool_call>`` blocks).

        ``env.step`` parses the blocks into tool calls (malformed ones become error
        tool results) and records them as the assistant message's ``tool_calls``.
        """
        return self.policy.reply([observation], greedy=self.greedy)[0]

    def act_batch(self, observations: Sequence[Mapping[str, Any]]) -> list[str]:
        """Replies to several observations in one batched generation."""
        return self.policy.reply(list(observations), greedy=self.greedy)

    def __repr__(self) -> str:
        return f"LLMAgent(model={self.model_path!r}, greedy={self.greedy})"
