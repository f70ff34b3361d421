import doctest
import importlib

import pytest

MODULES = ["dialog_gym.scorers.base", "dialog_gym.scorers.task", "dialog_gym.scorers.bleu",
           "dialog_gym.scorers.rouge", "dialog_gym.scorers.token_f1",
           "dialog_gym.scorers.semantic", "dialog_gym.scorers.emotion",
           "dialog_gym.scorers.logic", "dialog_gym.scorers.repetition",
           "dialog_gym.scorers.length", "dialog_gym.text"]


@pytest.mark.parametrize("module", MODULES)
def test_doctests(module, encoder):
    mod = importlib.import_module(module)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{module} has no doctest"
    assert result.failed == 0
