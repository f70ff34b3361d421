"""Checkpoint files, the embedded model and the prompt format."""

from __future__ import annotations

import enum
import filecmp
import os

import pytest
import torch

from dialog_gym.agents.llm.checkpoint import (
    CheckpointDir,
    atomic_write_text,
    flatten_state,
    load_state,
    rng_state,
    save_state,
    set_rng_state,
    unflatten_state,
)
from dialog_gym.agents.llm.prompt import PromptFormat, constant_lines


class Stage(enum.Enum):
    A = 1


def test_state_roundtrip_through_safetensors_and_json(tmp_path):
    from deepspeed.runtime.fp16.loss_scaler import LossScaler

    scaler = LossScaler(scale=8.0)
    state = {"step": 7, "t": torch.arange(6.0).view(2, 3), 3: [1.5, None, "x"],
             "tup": (torch.ones(2), 4), "size": torch.Size([2, 3]), "scaler": scaler,
             "rng": rng_state()}
    save_state(str(tmp_path), state)
    back = load_state(str(tmp_path))
    assert back["step"] == 7 and back[3] == [1.5, None, "x"]
    assert torch.equal(back["t"], state["t"]) and isinstance(back["tup"], tuple)
    assert back["size"] == torch.Size([2, 3])
    assert type(back["scaler"]) is LossScaler and back["scaler"].cur_scale == 8.0
    torch.manual_seed(1)
    set_rng_state(back["rng"])  # restores the state saved above
    set_rng_state(state["rng"])
    assert os.path.exists(tmp_path / "state.safetensors")


def test_untrusted_classes_are_refused():
    skel, tensors = flatten_state({"e": Stage.A})
    with pytest.raises(ValueError, match="refusing"):
        unflatten_state(skel, tensors)


def test_checkpoint_dir_latest_commit_and_prune(tmp_path):
    ck = CheckpointDir(str(tmp_path / "ck"), keep=2)
    assert ck.latest() is None
    for step in (1, 2, 3):
        tmp = ck.begin(step)
        atomic_write_text(os.path.join(tmp, "x.txt"), str(step))
        ck.commit(tmp, step)
    assert ck.latest().endswith("checkpoint-3")
    names = sorted(os.listdir(tmp_path / "ck"))
    assert names == ["checkpoint-2", "checkpoint-3", "latest"]
    torn = ck.begin(4)  # a killed run leaves a temporary folder: never "latest"
    assert ck.latest().endswith("checkpoint-3") and os.path.isdir(torn)


def test_embedded_build_is_deterministic_and_loads_like_any_hf_model(tmp_path, demos_file):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from dialog_gym.agents.llm.demos import load_demos
    from dialog_gym.agents.llm.embedded import EmbeddedSpec, build_embedded

    demos = load_demos(demos_file)
    spec = EmbeddedSpec(vocab_size=300, n_embd=32, n_layer=1, n_head=2, seed=3)
    a = build_embedded(demos, str(tmp_path / "a"), spec)
    b = build_embedded(demos, str(tmp_path / "b"), spec)
    for f in ("model.safetensors", "tokenizer.json", "config.json", "dialog_gym_llm.json"):
        assert filecmp.cmp(os.path.join(a, f), os.path.join(b, f), shallow=False), f
    tok = AutoTokenizer.from_pretrained(a)
    model = AutoModelForCausalLM.from_pretrained(a)
    assert tok.chat_template and model.config.vocab_size == len(tok)
    text = tok.apply_chat_template([{"role": "user", "content": "order A1234"}],
                                   tokenize=False, add_generation_prompt=True)
    assert text == "<|user|>order A1234<|end|><|assistant|>"
    assert tok.response_template["start_anchor"] == "<|assistant|>"
    # digits are single tokens (ids and amounts are copied digit by digit)
    assert [tok.decode([i]) for i in tok("1234", add_special_tokens=False)["input_ids"]] == \
        ["1", "2", "3", "4"]


def test_constant_lines_and_old_prompt_formats_are_rejected_clearly():
    from dialog_gym.error import ConfigError

    assert constant_lines(["x\nrule", "y\nrule"]) == ("rule",)
    # a folder written before chat messages (no version) is refused with a way out
    with pytest.raises(ConfigError, match="format version 1.*Retrain"):
        PromptFormat.from_dict({"labels": {"user": "Customer"}, "max_prompt_tokens": 64})
    fmt = PromptFormat(tools=({"type": "function", "function": {"name": "f"}},))
    assert PromptFormat.from_dict(fmt.to_dict()) == fmt


def test_tokenizer_without_chat_template_gets_the_embedded_one_ending_turns_with_eos(
        sft_dir):
    from transformers import AutoTokenizer

    from dialog_gym.agents.llm.prompt import ChatCodec

    tok = AutoTokenizer.from_pretrained(sft_dir)
    tok.chat_template = None
    codec = ChatCodec(tok, PromptFormat())
    text = codec.render([{"role": "system", "content": "ctx"},
                         {"role": "user", "content": "hi"}], add_generation_prompt=True)
    assert text == "<|system|>ctx<|endoftext|><|user|>hi<|endoftext|><|assistant|>"
    assert codec.end_id == tok.eos_token_id
    ids = codec.reply_ids({"role": "assistant", "content": "ok"})
    assert ids[-1] == tok.eos_token_id and codec.reply_text(ids) == ("ok", "<|endoftext|>")


@pytest.mark.parametrize("module", [
    "dialog_gym.agents.llm.prompt", "dialog_gym.agents.llm.checkpoint",
    "dialog_gym.agents.llm.modeling", "dialog_gym.agents.llm.common",
    "dialog_gym.agents.llm.engine", "dialog_gym.agents.llm.rm",
    "dialog_gym.agents.llm.config", "dialog_gym.scorers.reward_model"])
def test_doctests(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0


def test_cli_module_is_light():
    import subprocess
    import sys

    code = ("import sys, dialog_gym.cli as c; c.build_parser(); "
            "print(','.join(m for m in ('torch', 'transformers', 'deepspeed') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == ""


def test_leaderboard_budget_is_counted_in_steps_not_seconds(tmp_path, monkeypatch):
    """A time cap made the leaderboard's LLM row depend on machine speed and load."""
    from dialog_gym.agents.llm import sft
    from dialog_gym.agents.llm.config import QUICK
    from dialog_gym.agents.llm.policy import LLMAgent

    seen = {}
    monkeypatch.setattr(sft, "train_sft", lambda cfg: seen.setdefault("cfg", cfg))
    kw = LLMAgent.quick_train("Dialog-CustomerService-v0", str(tmp_path), seed=3)
    cfg = seen["cfg"]
    assert kw == {"model": os.path.join(str(tmp_path), "sft")}
    assert cfg.max_steps == LLMAgent.leaderboard_sft_steps < QUICK["sft"]["max_steps"]
    assert cfg.batch_size == QUICK["sft"]["batch_size"]
    assert cfg.max_time == 0.0 and cfg.seed == 3 and cfg.env_kwargs == {}
    seen.clear()
    LLMAgent.quick_train("Dialog-Corpus-v0", str(tmp_path), env_kwargs={"split": "train"})
    assert seen["cfg"].env_kwargs == {"split": "train"}


def test_sft_demonstrations_come_from_the_configured_env(tmp_path, monkeypatch):
    from dialog_gym.agents.llm import demos, sft
    from dialog_gym.agents.llm.config import SFTConfig

    calls = []

    def fake_export(env_id, path, **kw):
        calls.append((env_id, kw["env_kwargs"]))
        open(path, "w").close()

    monkeypatch.setattr(demos, "export_demos", fake_export)
    monkeypatch.setattr(demos, "load_demos", lambda path: [])
    cfg = SFTConfig(env_id="Dialog-Corpus-v0", out=str(tmp_path / "sft"),
                    env_kwargs={"split": "train"})
    sft.load_or_export_demos(cfg)
    assert calls == [("Dialog-Corpus-v0", {"split": "train"})]


def _learning_module():
    import importlib.util
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("learning_llm",
                                                  root / "benchmarks" / "learning_llm.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_learning_benchmark_trains_every_algorithm_standalone_from_a_run(tmp_path, monkeypatch):
    """``learning_llm.py --train-from``: equal budgets, the base run's SFT and RM reused."""
    mod = _learning_module()
    base = tmp_path / "base"
    for stage in ("sft", "rm"):
        (base / stage).mkdir(parents=True)
        (base / stage / "marker").write_text(stage)
    cmds = []
    monkeypatch.setattr(mod, "run", lambda cmd, log: cmds.append(cmd) or 1.0)
    times = mod.train_from(base, tmp_path / "equal", ["ppo", "a2c"], 0)
    assert times == {"ppo": 1.0, "a2c": 1.0}
    assert (tmp_path / "equal" / "sft" / "marker").read_text() == "sft"
    assert [c[c.index("train") + 1] for c in cmds] == ["ppo", "a2c"]
    assert all("--quick" in c and str(tmp_path / "equal" / "rm") in c for c in cmds)
    with pytest.raises(SystemExit):
        mod.main(["--train", "--train-from", str(base), "--run", str(tmp_path / "x")])


def test_learning_benchmark_trains_extra_rl_seeds_once(tmp_path, monkeypatch):
    """``--rl-seeds``: each algorithm again with each seed, into ALGO-seedS, logged apart;
    a seed whose model is saved is not trained again."""
    mod = _learning_module()
    run_dir = tmp_path / "run"
    (run_dir / "a2c-seed2").mkdir(parents=True)
    (run_dir / "a2c-seed2" / "model.safetensors").write_bytes(b"x")
    cmds, logs = [], []
    monkeypatch.setattr(mod, "run", lambda cmd, log: cmds.append(cmd) or logs.append(log) or 2.0)
    times = mod.train_rl_all(run_dir, ["ppo", "a2c"], 0, 1, seeds=(1, 2))
    assert sorted(times) == ["a2c-seed1", "ppo-seed1", "ppo-seed2"]
    by_out = {c[c.index("--out") + 1]: c for c in cmds}
    c = by_out[str(run_dir / "ppo-seed2")]
    assert c[c.index("train") + 1] == "ppo" and c[c.index("--seed") + 1] == "2"
    assert str(run_dir / "sft") in c and str(run_dir / "rm") in c
    assert sorted(p.name for p in logs) == ["run.a2c-seed1.log", "run.ppo-seed1.log",
                                            "run.ppo-seed2.log"]
    with pytest.raises(SystemExit):  # seed 0 is the preset's own run
        mod.main(["--run", str(run_dir), "--rl-seeds", "0"])


def test_seed_summary_reports_spread_and_wins_over_sft():
    mod = _learning_module()

    def ev(mean, lo, hi, success=0.5):
        return {"sample": {"mean_return": mean, "ci95": [lo, hi], "success_rate": success}}

    results = {"sft": ev(1.0, 0.9, 1.1), "ppo": ev(1.4, 1.3, 1.5),
               "ppo-seed1": ev(1.2, 1.05, 1.35), "ppo-seed2": ev(1.0, 0.9, 1.1),
               "a2c": ev(1.3, 1.2, 1.4)}
    out = mod.seed_summary(results, ["ppo", "a2c", "reinforce"], [1, 2])
    ppo = out["ppo"]
    assert [r["seed"] for r in ppo["seeds"]] == [0, 1, 2]
    assert [r["beats_sft"] for r in ppo["seeds"]] == [True, False, False]
    assert ppo["seeds_beating_sft"] == 1 and ppo["seeds_above_sft_mean"] == 2
    assert abs(ppo["mean_of_means"] - 1.2) < 1e-12
    assert abs(ppo["std_across_seeds"] - 0.2) < 1e-12
    assert out["a2c"]["std_across_seeds"] == 0.0 and len(out["a2c"]["seeds"]) == 1
    assert "reinforce" not in out  # nothing evaluated, nothing invented


def test_learning_curves_start_when_every_first_episode_can_have_ended():
    """Rollout returns of the first iterations count only short episodes (biased up)."""
    mod = _learning_module()
    assert mod.curve_start([{"turns_per_rollout": 4, "max_episode_turns": 0}]) == 6  # 20/4+1
    assert mod.curve_start([{}, {"turns_per_rollout": 3, "max_episode_turns": 10}]) == 5
    assert mod.smooth([1.0, None, 3.0, 5.0], window=2) == [1.0, 1.0, 2.0, 4.0]


def test_learning_benchmark_pipeline_seed_reaches_every_stage(tmp_path, monkeypatch):
    mod = _learning_module()
    cmds = []
    monkeypatch.setattr(mod, "run", lambda cmd, log: cmds.append(cmd) or 1.0)
    mod.train(tmp_path / "run", ["ppo"], 0, seed=3)
    [pipeline] = cmds
    assert pipeline[pipeline.index("train") + 1] == "pipeline"
    assert pipeline[pipeline.index("--seed") + 1] == "3"
    cmds.clear()
    mod.train(tmp_path / "run0", ["ppo"], 0)
    assert "--seed" not in cmds[0]  # the preset's own seed
    with pytest.raises(SystemExit):  # a pipeline seed without training is an error
        mod.main(["--run", str(tmp_path / "run"), "--pipeline-seed", "2"])


def test_extra_rl_seeds_must_differ_from_the_runs_own(tmp_path):
    """A run trained with --pipeline-seed 1 has its RL seed 1 in ALGO: asking for seed 1
    again would train the same model (it did: byte-identical) and count it twice."""
    import json

    mod = _learning_module()
    run_dir = tmp_path / "run"
    (run_dir / "ppo").mkdir(parents=True)
    (run_dir / "ppo" / "metrics.json").write_text(json.dumps({"config": {"seed": 1}}))
    assert mod.base_seed(run_dir, "ppo") == 1 and mod.base_seed(run_dir, "a2c") == 0
    with pytest.raises(SystemExit):
        mod.main(["--run", str(run_dir), "--algos", "ppo", "--rl-seeds", "1"])
    with pytest.raises(SystemExit):  # refused before the pipeline trains
        mod.main(["--train", "--pipeline-seed", "4", "--rl-seeds", "4", "--run",
                  str(tmp_path / "new")])
    assert not (tmp_path / "new").exists()

    def ev(mean):
        return {"sample": {"mean_return": mean, "ci95": [mean - 0.1, mean + 0.1],
                           "success_rate": 0.5}}

    out = mod.seed_summary({"sft": ev(1.0), "ppo": ev(1.2), "ppo-seed2": ev(1.3)}, ["ppo"],
                           [2], {"ppo": 1})
    assert [r["seed"] for r in out["ppo"]["seeds"]] == [1, 2]
