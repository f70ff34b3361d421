"""Model pieces shared by SFT, the reward model and RL.

- :func:`pad` builds padded batches with explicit position ids (left or right padding
  give the same positions to the same tokens, so a sequence scores identically in a
  left-padded generation batch and a right-padded training batch).
- :func:`gather_logprobs`: ``logits[:, t]`` scores token ``t + 1`` (the offset every
  causal-LM loss relies on).
- :func:`sample`: batched sampling with a KV cache and per-row stop tokens.
- :class:`ValueModel`: an LM backbone with a scalar head, the reward model and the
  critic (one value per position).
"""

from __future__ import annotations

import inspect
import json
import logging
import os
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from dialog_gym.error import ConfigError


class _NoPaddingWarning(logging.Filter):
    """Drop transformers' "pass an attention_mask" hint.

    Training batches are right-padded on purpose: causal attention never reads the
    padding that follows a sequence.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return "attention_mask" not in record.getMessage()


logging.getLogger("transformers.modeling_utils").addFilter(_NoPaddingWarning())


def pad(seqs: Sequence[Sequence[int]], pad_id: int, *, side: str = "right",
        length: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pad token lists into ``(input_ids, attention_mask, position_ids)``.

    Position ids count real tokens from 0, whichever side is padded.

    Example:
        >>> ids, mask, pos = pad([[5, 6, 7], [8]], 0, side="left")
        >>> ids.tolist(), mask.tolist(), pos.tolist()
        ([[5, 6, 7], [0, 0, 8]], [[1, 1, 1], [0, 0, 1]], [[0, 1, 2], [0, 0, 0]])
    """
    n = max((len(s) for s in seqs), default=0) if length is None else length
    ids = torch.full((len(seqs), n), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), n), dtype=torch.long)
    for i, s in enumerate(seqs):
        s = list(s)[-n:] if n else []
        if not s:
            continue
        t = torch.tensor(s, dtype=torch.long)
        if side == "left":
            ids[i, n - len(s):] = t
            mask[i, n - len(s):] = 1
        else:
            ids[i, : len(s)] = t
            mask[i, : len(s)] = 1
    pos = (mask.cumsum(1) - 1).clamp(min=0)
    return ids, mask, pos


def gather_logprobs(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Log-probability of each next token: ``out[:, t] = log p(ids[:, t+1] | ids[:, :t+1])``.

    Args:
        logits: ``[B, T, V]`` from a causal LM.
        ids: ``[B, T]`` the same sequences' token ids.

    Returns:
        ``[B, T-1]`` float32 log-probs.
    """
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    return logp.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of each position's next-token distribution, ``[B, T-1]``."""
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)


def _cache_kwarg(model: nn.Module) -> str:
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    params = inspect.signature(inner.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def lm_forward(model: nn.Module, ids: torch.Tensor, mask: torch.Tensor, pos: torch.Tensor
               ) -> torch.Tensor:
    """Logits of a causal LM (``[B, T, V]``) for a padded batch, no cache."""
    out = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False)
    return out.logits


@torch.no_grad()
def sample(model: nn.Module, prompts: Sequence[Sequence[int]], *, max_new_tokens: int,
           stop_ids: frozenset[int] | set[int], pad_id: int, temperature: float = 1.0,
           top_k: int = 0, top_p: float = 1.0, greedy: bool = False,
           generator: torch.Generator | None = None, device: str | torch.device = "cpu",
           max_length: int | None = None) -> list[list[int]]:
    """Sample a continuation of each prompt (left-padded batch, KV cache).

    A row stops at the first token in ``stop_ids`` (kept, as the last token of the
    reply) or after ``max_new_tokens``. Sampling is from ``softmax(logits /
    temperature)`` (optionally top-k / top-p filtered); ``greedy`` takes the argmax.

    Returns:
        The sampled ids of each row (at least one token each).
    """
    if not prompts:
        return []
    if max_length is not None:
        max_new_tokens = max(1, min(max_new_tokens,
                                    max_length - max(len(p) for p in prompts)))
    ids, mask, pos = pad(prompts, pad_id, side="left")
    ids, mask, pos = ids.to(device), mask.to(device), pos.to(device)
    b = ids.shape[0]
    key = _cache_kwarg(model)
    stop = torch.tensor(sorted(stop_ids), dtype=torch.long, device=device)
    out = torch.full((b, max_new_tokens), pad_id, dtype=torch.long, device=device)
    done = torch.zeros(b, dtype=torch.bool, device=device)
    lengths = torch.zeros(b, dtype=torch.long, device=device)
    cache = None
    step_ids, step_pos = ids, pos
    for t in range(max_new_tokens):
        kw = {key: cache} if cache is not None else {}
        res = model(input_ids=step_ids, attention_mask=mask, position_ids=step_pos,
                    use_cache=True, **kw)
        cache = getattr(res, "cache", None) or getattr(res, "past_key_values", None)
        logits = res.logits[:, -1].float()
        if greedy:
            nxt = logits.argmax(-1)
        else:
            logits = logits / max(temperature, 1e-6)
            if top_k and top_k > 0:
                kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[:, -1:]
                logits = logits.masked_fill(logits < kth, float("-inf"))
            if top_p < 1.0:
                sl, si = torch.sort(logits, descending=True)
                cp = torch.softmax(sl, -1).cumsum(-1)
                remove = cp - torch.softmax(sl, -1) > top_p
                sl = sl.masked_fill(remove, float("-inf"))
                logits = torch.full_like(logits, float("-inf")).scatter(-1, si, sl)
            probs = torch.softmax(logits.float(), -1)
            if generator is not None and probs.device != generator.device:
                # the seeded sampler lives on the CPU (its state goes into checkpoints, and
                # the same seed then gives the same samples on every device)
                nxt = torch.multinomial(probs.cpu(), 1, generator=generator).to(
                    probs.device).squeeze(-1)
            else:
                nxt = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
        nxt = torch.where(done, torch.full_like(nxt, pad_id), nxt)
        out[:, t] = nxt
        lengths += (~done).long()
        done |= torch.isin(nxt, stop)
        if bool(done.all()):
            break
        step_ids = nxt.unsqueeze(-1)
        step_pos = step_pos[:, -1:] + 1
        mask = torch.cat([mask, torch.ones((b, 1), dtype=mask.dtype, device=device)], 1)
    out_l = out.tolist()
    return [row[: max(1, int(n))] for row, n in zip(out_l, lengths.tolist(), strict=True)]


# ------------------------------------------------------------------ policy module
_LOGIT_TRANSFORMS = ("final_logit_softcapping", "logit_scale", "logits_scaling",
                     "output_multiplier_scale")


def split_lm(model: nn.Module) -> tuple[nn.Module, nn.Module] | None:
    """``(backbone, lm_head)`` of a causal LM, or None when the full forward is needed.

    None when the logits are not simply ``lm_head(last_hidden_state)`` (soft-capping,
    scaling) or the model does not expose its parts.
    """
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    cfg = getattr(inner, "config", None)
    for name in _LOGIT_TRANSFORMS:
        if getattr(cfg, name, None) not in (None, 1.0):
            return None
    head = inner.get_output_embeddings() if hasattr(inner, "get_output_embeddings") else None
    prefix = getattr(inner, "base_model_prefix", "")
    body = getattr(inner, prefix, None) if prefix else None
    if head is None or body is None or body is inner:
        return None
    return body, head


class PolicyModule(nn.Module):
    """A causal LM whose forward returns logits only where asked (the trained tokens).

    Training batches are right-padded and need no attention mask (causal attention
    never looks at the padding that follows a sequence), and the vocabulary projection
    runs only at the positions whose next token is scored: on dialogue episodes that is
    a small share of the tokens.

    Args:
        model: A Hugging Face causal LM (or a peft model around one).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self._split = split_lm(model)

    @property
    def config(self) -> Any:
        """The LM's config."""
        return self.model.config

    def forward(self, input_ids: torch.Tensor, select: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Next-token log-probs and logits at the selected positions.

        Args:
            input_ids: ``[B, T]`` right-padded ids.
            select: ``[B, T-1]`` bool; position ``t`` selected scores ``input_ids[:, t+1]``
                (None: every position).

        Returns:
            ``(logprobs [N], logits [N, V])`` for the ``N`` selected positions, in
            row-major order.
        """
        if select is None:
            select = torch.ones(input_ids.shape[0], input_ids.shape[1] - 1, dtype=torch.bool,
                                device=input_ids.device)
        targets = input_ids[:, 1:][select]
        if self._split is not None:
            body, head = self._split
            h = body(input_ids=input_ids, use_cache=False).last_hidden_state
            logits = head(h[:, :-1][select])
        else:
            logits = self.model(input_ids=input_ids, use_cache=False).logits[:, :-1][select]
        logits = logits.float()
        logp = torch.log_softmax(logits, -1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        return logp, logits


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of each row's softmax."""
    logp = torch.log_softmax(logits.float(), -1)
    return -(logp.exp() * logp).sum(-1)


# ------------------------------------------------------------------ value model
VALUE_HEAD_FILE = "value_head.safetensors"


class ValueModel(nn.Module):
    """A transformer backbone with a scalar head: one value per position.

    The reward model reads the value at the last real token of a sequence; the critic
    reads it at every position (the value of the state before the next token).

    Args:
        backbone: A Hugging Face base model (``AutoModel``) returning hidden states.
    """

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        hidden = int(getattr(backbone.config, "hidden_size", 0) or backbone.config.n_embd)
        self.v_head = nn.Linear(hidden, 1)
        nn.init.zeros_(self.v_head.weight)
        nn.init.zeros_(self.v_head.bias)

    @property
    def config(self) -> Any:
        """The backbone's config."""
        return self.backbone.config

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None) -> torch.Tensor:
        """Values ``[B, T]`` (float32)."""
        out = self.backbone(input_ids=input_ids, attention_mask=attention_mask,
                            position_ids=position_ids, use_cache=False)
        h = out.last_hidden_state
        return self.v_head(h.to(self.v_head.weight.dtype)).squeeze(-1).float()

    def score_last(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                   position_ids: torch.Tensor) -> torch.Tensor:
        """The value at each row's last real token (right padding), ``[B]``."""
        v = self.forward(input_ids, attention_mask, position_ids)
        last = attention_mask.sum(1) - 1
        return v.gather(1, last.clamp(min=0).unsqueeze(1)).squeeze(1)

    def save_pretrained(self, path: str) -> None:
        """Backbone with ``save_pretrained`` + the head in ``value_head.safetensors``."""
        from safetensors.torch import save_file

        os.makedirs(path, exist_ok=True)
        state = {k: v.detach().float().cpu() if v.is_floating_point() else v.detach().cpu()
                 for k, v in self.backbone.state_dict().items()}
        self.backbone.save_pretrained(path, state_dict=state)
        save_file({k: v.detach().float().contiguous().cpu()
                   for k, v in self.v_head.state_dict().items()},
                  os.path.join(path, VALUE_HEAD_FILE))

    @classmethod
    def from_pretrained(cls, path: str, *, dtype: torch.dtype | None = None) -> ValueModel:
        """Load a value model, or start one (zero head) from any causal-LM folder."""
        from safetensors.torch import load_file
        from transformers import AutoModel

        backbone = load_backbone(path, AutoModel, dtype=dtype)
        model = cls(backbone)
        head = os.path.join(path, VALUE_HEAD_FILE)
        if os.path.isfile(head):
            model.v_head.load_state_dict(load_file(head))
        if dtype is not None:
            model.v_head.to(dtype)
        return model


def load_backbone(path: str, auto_cls: Any, *, dtype: torch.dtype | None = None) -> nn.Module:
    """``auto_cls.from_pretrained(path)`` offline, with a clear error when it is missing."""
    kw: dict[str, Any] = {}
    if dtype is not None:
        kw["dtype"] = dtype
    try:
        return auto_cls.from_pretrained(path, **kw)
    except (OSError, ValueError) as e:
        raise ConfigError(
            f"could not load a model from {path!r}: {e}. Expected a local model folder "
            "(e.g. DIR/sft written by `dialog-gym train sft`) or a Hugging Face id already "
            "in the local cache (downloads are off)") from e


def disable_dropout(model: nn.Module) -> None:
    """Set every dropout probability to 0 (RL needs identical forward passes)."""
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.0
    cfg = getattr(model, "config", None)
    for name in ("resid_pdrop", "embd_pdrop", "attn_pdrop", "attention_dropout",
                 "hidden_dropout", "dropout", "hidden_dropout_prob",
                 "attention_probs_dropout_prob"):
        if cfg is not None and isinstance(getattr(cfg, name, None), float):
            setattr(cfg, name, 0.0)


def count_params(model: nn.Module) -> int:
    """Number of parameters."""
    return sum(p.numel() for p in model.parameters())


def dump_json(path: str, obj: Any) -> None:
    """Small helper: write JSON (not atomic; for files inside a temporary folder)."""
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2, sort_keys=True)
