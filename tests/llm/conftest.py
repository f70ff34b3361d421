"""Fixtures of the LLM-agent tests: a tiny SFT model trained once per session."""

from __future__ import annotations

import os

import pytest

ENV = "Dialog-CustomerService-v0"
TINY = {"vocab_size": 768, "n_embd": 32, "n_layer": 2, "n_head": 2}


@pytest.fixture(scope="session")
def demos_file(tmp_path_factory):
    from dialog_gym.agents.llm.demos import export_demos

    path = tmp_path_factory.mktemp("demos") / "demos.jsonl"
    export_demos(ENV, path, episodes=24, seed=0, noise=0.2)
    return str(path)


@pytest.fixture(scope="session")
def sft_dir(tmp_path_factory, demos_file):
    """A tiny embedded model after a few SFT steps (plain PyTorch, fast)."""
    import shutil

    from dialog_gym.agents.llm.sft import SFTConfig, train_sft

    out = tmp_path_factory.mktemp("sft") / "sft"
    train_sft(SFTConfig(out=str(out), demos=demos_file, max_steps=3, batch_size=4,
                        micro_batch=4, no_deepspeed=True, log_every=1, save_every=0,
                        warmup_steps=1, threads=1, **TINY))
    shutil.copy(demos_file, os.path.join(out, "demos.jsonl"))
    return str(out)


def tiny_rl_kwargs(**kw):
    base = dict(iterations=2, num_envs=2, turns_per_rollout=2, minibatch_size=2,
                micro_batch=1, max_new_tokens=8, threads=1, save_every=1,
                log_samples_every=1, warmup_steps=1, max_episode_turns=3)
    base.update(kw)
    return base
