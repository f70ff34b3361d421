import re
import string
from collections import Counter

import pytest

from dialog_gym.error import ConfigError
from dialog_gym.scorers.token_f1 import TokenF1, squad_tokens

# (reply, reference, precision, recall, f1), computed by hand after SQuAD normalisation
TABLE = [
    ("the order shipped today", "your order has shipped", 2 / 3, 2 / 4, 4 / 7),
    ("Order shipped.", "Your order has shipped!", 1.0, 0.5, 2 / 3),
    ("The cat", "a cat", 1.0, 1.0, 1.0),                # articles dropped
    ("order order order", "order", 1 / 3, 1.0, 0.5),    # multiset overlap
    ("refund of $31.72", "refund 3172", 2 / 3, 1.0, 0.8),  # "$31.72" -> "3172"
    ("nothing in common", "your order has shipped", 0.0, 0.0, 0.0),
    ("", "your order has shipped", 0.0, 0.0, 0.0),
    ("", "", 1.0, 1.0, 1.0),                            # SQuAD: both empty -> 1
    ("the", "a", 1.0, 1.0, 1.0),                        # both normalise to empty
    ("订单已发货", "订单发货", 4 / 5, 1.0, 8 / 9),        # one token per CJK character
    ("Café «déjà» vu", "cafe deja vu", 1 / 3, 1 / 3, 1 / 3),  # accents kept, guillemets dropped
]


@pytest.mark.parametrize("reply,ref,p,r,f1", TABLE)
def test_hand_computed_table(reply, ref, p, r, f1):
    assert TokenF1("precision")(reply, references=[ref]) == pytest.approx(p)
    assert TokenF1("recall")(reply, references=[ref]) == pytest.approx(r)
    assert TokenF1()(reply, references=[ref]) == pytest.approx(f1)


def _official_normalize(s):  # SQuAD v1.1 evaluate-v1.1.py
    def remove_articles(text):
        return re.sub(r"\b(a|an|the)\b", " ", text)

    def remove_punc(text):
        return "".join(ch for ch in text if ch not in set(string.punctuation))

    return " ".join(remove_articles(remove_punc(s.lower())).split())


def _official_f1(pred, gold):
    p, g = _official_normalize(pred).split(), _official_normalize(gold).split()
    common = Counter(p) & Counter(g)
    same = sum(common.values())
    if same == 0:
        return 0.0
    pr, rc = same / len(p), same / len(g)
    return 2 * pr * rc / (pr + rc)


@pytest.mark.parametrize("pred,gold", [
    ("The Denver Broncos", "Denver Broncos"), ("an apple, a pear", "the pear and apple"),
    ("It's 3:30 p.m. (EST)", "3:30 pm EST"), ("A-B-C", "abc"), ("x  y\tz", "z y x"),
])
def test_matches_the_official_squad_script_on_ascii(pred, gold):
    assert TokenF1()(pred, references=[gold]) == pytest.approx(_official_f1(pred, gold))
    assert " ".join(squad_tokens(pred)) == _official_normalize(pred)


def test_best_reference_counts():
    s = TokenF1()
    assert s("order shipped", references=["nothing", "order shipped"]) == 1.0
    assert s("order shipped") == 0.0  # no references


def test_bad_measure():
    with pytest.raises(ConfigError, match="unknown measure='accuracy'"):
        TokenF1("accuracy")
