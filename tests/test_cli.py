import json
import subprocess
import sys

import pytest

from dialog_gym.cli import main
from dialog_gym.registration import env_ids


def test_envs_lists_customer_service(capsys):
    assert main(["envs"]) == 0
    assert "Dialog-CustomerService-v0" in capsys.readouterr().out


def test_evaluate_json_has_the_documented_fields(capsys):
    assert main(["evaluate", "--agent", "expert", "--env", "Dialog-CustomerService-v0",
                 "--episodes", "5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ["mean_return", "ci95", "success_rate", "mean_turns", "episodes", "scores"]:
        assert key in out
    assert out["episodes"] == 5 and out["success_rate"] >= 0.8
    assert set(out["scores"]) == {"task_success", "rule_compliance", "bleu"}


def test_evaluate_agent_kw_reaches_the_constructor(capsys):
    assert main(["evaluate", "--agent", "repeat", "--agent-kw", "text=Hi there",
                 "--episodes", "1", "--json", "--records"]) == 0
    assert json.loads(capsys.readouterr().out)["records"][0]["violations"] >= 1


def test_unknown_agent_is_a_clear_error(capsys):
    assert main(["evaluate", "--agent", "expret", "--episodes", "1"]) == 2
    assert "Did you mean 'expert'" in capsys.readouterr().err


def test_console_script_play_reads_stdin():
    proc = subprocess.run(
        [sys.executable, "-m", "dialog_gym.cli", "play", "Dialog-CustomerService-v0",
         "--seed", "1"],
        input="Hello! Could you give me your order number?\n/quit\n", capture_output=True,
        text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Customer:" in proc.stdout and "[reward" in proc.stdout


@pytest.mark.parametrize("env_id", env_ids())
def test_play_every_env_in_process(env_id, monkeypatch, capsys):
    """`dialog-gym play` on every registered env: context, user turns, per-turn scores,
    the /context and /reset commands, and /quit."""
    lines = iter(["Hello, how can I help you today?", "/context",
                  "Could you tell me a bit more about that?", "/reset",
                  "Hi there, what do you need?", "/quit"])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(lines))
    assert main(["play", env_id, "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Playing {env_id}.")
    # a new episode after /reset, and after every episode that ended by itself
    assert out.count("[scenario ") == 2 + out.count("== episode over:")
    assert out.count("[reward ") == 3  # one per reply, none for the commands
    assert next(lines, None) is None  # every line was consumed


@pytest.mark.parametrize("argv,hint", [
    (["play", "dialog-qa-v0"], "Did you mean 'Dialog-QA-v0'?"),
    (["evaluate", "--agent", "expert", "--env", "Dialog-QA", "--episodes", "1"],
     "Did you mean 'Dialog-QA-v0'?"),
    (["leaderboard", "--envs", "Dialog-QA", "--seeds", "1"], "Did you mean 'Dialog-QA-v0'?"),
    (["leaderboard", "--agents", "expertt", "--seeds", "1"], "Did you mean 'expert'?"),
])
def test_misspelt_names_are_one_line_errors_with_a_suggestion(argv, hint, capsys, tmp_path):
    if argv[0] == "leaderboard":
        argv = [*argv, "--out", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert hint in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())  # nothing written for a bad request
