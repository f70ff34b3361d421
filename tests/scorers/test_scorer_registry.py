import math

import pytest

from dialog_gym.scorers import Scorer, list_scorers, make_scorer, scorer_registry

BUILTINS = ["bleu", "emotion_consistency", "length", "logic_consistency", "repetition", "rouge",
            "rule_compliance", "semantic", "task_success", "token_f1"]


def test_every_family_is_registered():
    names = list_scorers()
    for n in BUILTINS:
        assert n in names
        assert scorer_registry.origin(n) == "builtin"


@pytest.mark.parametrize("name", BUILTINS)
def test_class_documents_range_cost_citation(name):
    cls = scorer_registry.resolve(name)
    assert issubclass(cls, Scorer)
    assert cls.name == name
    lo, hi = cls.range
    assert lo < hi and math.isfinite(lo) and math.isfinite(hi)
    assert cls.cost in ("cheap", "moderate", "neural")
    assert len(cls.citation) > 10
    doc = cls.__doc__ or ""
    assert "Range:" in doc and "Cost:" in doc and ">>>" in doc


def test_importing_scorer_modules_is_light():
    import subprocess
    import sys

    code = ("import sys, dialog_gym.scorers as s\n"
            "before = set(sys.modules)\n"
            f"for n in {BUILTINS!r}: s.scorer_registry.resolve(n)\n"
            "new = set(sys.modules) - before\n"
            "heavy = [m for m in ('torch', 'sentence_transformers', 'transformers', "
            "'rouge_score', 'vaderSentiment', 'nltk') if m in new]\n"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "", f"heavy modules imported when resolving scorer classes: {out}"


def test_cli_table_lists_every_scorer(capsys):
    from dialog_gym.cli import main

    assert main(["scorers"]) == 0
    table = capsys.readouterr().out
    for n in BUILTINS:
        assert n in table
    assert "[0, 1]" in table and "neural" in table


def test_unknown_scorer_suggests_a_name():
    from dialog_gym.error import RegistryError

    with pytest.raises(RegistryError, match="Did you mean 'rouge'"):
        make_scorer("rogue")


def test_signatures_name_settings():
    assert "rougeL" in make_scorer("rouge").signature()
    assert "rouge2" in make_scorer("rouge", variant="rouge2").signature()
    assert "precision" in make_scorer("token_f1", measure="precision").signature()
    assert "5-60 tokens" in make_scorer("length").signature()
    assert "all-MiniLM-L6-v2" in make_scorer("semantic").signature()
