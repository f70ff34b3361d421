"""A learned reward model as a scorer (the model of ``dialog-gym train rm``)."""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from dialog_gym.error import ConfigError
from dialog_gym.scorers.base import ScoreInput, Scorer


class RewardModel(Scorer):
    """Score a reply with a reward model trained on pairwise comparisons.

    The model (an LM backbone with a scalar head, written by ``dialog-gym train rm``)
    reads the context, the conversation and the reply exactly as the LLM policy sees
    them and returns the head's value at the reply's last token. Higher means closer to
    the expert replies it was trained to prefer; the scale is arbitrary (differences
    are log-odds of preference), so weigh it against task-level terms.

    Range: unbounded. Cost: neural (one forward pass of the reward model per batch).
    Citation: Ouyang et al. (2022), InstructGPT; Yao et al. (2023), DeepSpeed-Chat.

    Args:
        model: Reward-model folder (``DIR/rm`` from ``dialog-gym train pipeline``). When
            omitted, the ``DIALOG_GYM_REWARD_MODEL`` environment variable names it.
        batch_size: Sequences per forward pass.
        device: Torch device.

    Example:
        >>> RewardModel(model="/nonexistent")  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        dialog_gym.error.ConfigError: reward model folder '/nonexistent' does not exist
    """

    name = "reward_model"
    range = (-math.inf, math.inf)
    cost = "neural"
    citation = ("pairwise reward model: Ouyang et al. (2022) InstructGPT; "
                "DeepSpeed-Chat (Yao et al., 2023)")

    def __init__(self, model: str | None = None, *, batch_size: int = 16,
                 device: str = "cpu") -> None:
        path = model or os.environ.get("DIALOG_GYM_REWARD_MODEL")
        if not path:
            raise ConfigError(
                "the reward_model scorer needs a model folder: make_scorer('reward_model', "
                "model='DIR/rm') (train one with `dialog-gym train rm`), or set "
                "DIALOG_GYM_REWARD_MODEL")
        if not os.path.isdir(path):
            raise ConfigError(f"reward model folder {path!r} does not exist; train one with "
                              "`dialog-gym train rm --out DIR`")
        self.path = str(path)
        self.batch_size = int(batch_size)
        self.device = device
        self._model: Any = None
        self._codec: Any = None

    def _load(self) -> None:
        from transformers import AutoTokenizer

        from dialog_gym.agents.llm.modeling import ValueModel, disable_dropout
        from dialog_gym.agents.llm.prompt import ChatCodec, PromptFormat, read_meta

        meta = read_meta(self.path)
        if meta.get("kind") != "reward_model":
            raise ConfigError(f"{self.path!r} is not a reward-model folder (its "
                              f"dialog_gym_llm.json says kind={meta.get('kind')!r})")
        tok = AutoTokenizer.from_pretrained(self.path)
        self._codec = ChatCodec(tok, PromptFormat.from_dict(meta["format"]))
        model = ValueModel.from_pretrained(self.path).to(self.device).eval()
        disable_dropout(model)
        self._model = model

    def _ids(self, x: ScoreInput) -> list[int]:
        from dialog_gym.agents.llm.prompt import (
            EntityTable,
            observation_messages,
            prepare_messages,
        )

        fmt = self._codec.fmt
        table = EntityTable()
        if x.messages:
            # what the policy saw and said, as the reward model was trained on it
            msgs = observation_messages({"messages": list(x.messages)}, fmt, table)
            reply = prepare_messages([x.reply], fmt, table)[0] if x.reply is not None \
                else (table.delex(x.response) if fmt.delexicalize else x.response)
        else:  # an input built by hand: the context and the transcript as text
            labels = fmt.labels
            history = "\n".join(f"{labels.get(t.speaker, t.speaker)}: {t.text}"
                                for t in x.history)
            msgs = observation_messages({"context": x.context, "history": history}, fmt,
                                        table)
            reply = table.delex(x.response) if fmt.delexicalize else x.response
        return self._codec.prompt_ids(msgs) + self._codec.reply_ids(reply)

    def _score(self, batch: list[ScoreInput]) -> np.ndarray:
        import torch

        from dialog_gym.agents.llm.modeling import pad

        if self._model is None:
            self._load()
        out = np.empty(len(batch))
        seqs = [self._ids(x) for x in batch]
        limit = getattr(self._model.config, "n_positions", None) or getattr(
            self._model.config, "max_position_embeddings", None)
        if limit:
            seqs = [s[-limit:] for s in seqs]
        with torch.no_grad():
            for i in range(0, len(seqs), self.batch_size):
                part = seqs[i:i + self.batch_size]
                ids, _, _ = pad(part, 0, side="right")
                v = self._model(ids.to(self.device))
                last = torch.tensor([len(s) - 1 for s in part], device=v.device)
                out[i:i + len(part)] = v.gather(1, last.unsqueeze(1)).squeeze(1).cpu().numpy()
        return out

    def signature(self) -> str:
        """Name and model folder."""
        return f"reward_model[{os.path.basename(os.path.normpath(self.path))}]"

    def __repr__(self) -> str:
        return f"RewardModel(model={self.path!r})"


#: the name used by the RL trainer
RewardModelScorer = RewardModel
