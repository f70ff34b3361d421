"""``dialog-gym train pipeline``: SFT -> reward model -> RL, as DeepSpeed-Chat does.

Leaves three model folders, ``DIR/sft``, ``DIR/rm`` and ``DIR/<algo>`` (``ppo`` by
default), and ``DIR/metrics.json`` with each step's summary and wall time. A step whose
``metrics.json`` exists is skipped on ``--resume``; the interrupted one resumes from its
last checkpoint.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

from dialog_gym.agents.llm.config import (
    QUICK,
    PipelineConfig,
    RLConfig,
    RMConfig,
    SFTConfig,
)


def _step_config(cls: type, base: dict[str, Any], quick: bool, preset: str,
                 overrides: dict[str, Any]) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    values = dict(QUICK[preset]) if quick else {}
    if quick and preset == "rl":
        values.update(QUICK.get(base.get("algo", ""), {}))
    values.update(base)
    values.update(overrides)
    return cls(**{k: v for k, v in values.items() if k in names})


def run_pipeline(cfg: PipelineConfig, *, quick: bool = False) -> dict[str, Any]:
    """Run the three steps; return (and write) the pipeline summary."""
    from dialog_gym.agents.llm.checkpoint import atomic_write_json
    from dialog_gym.agents.llm.rl import train_rl
    from dialog_gym.agents.llm.rm import train_rm
    from dialog_gym.agents.llm.sft import train_sft
    from dialog_gym.error import ConfigError

    if cfg.algo not in ("ppo", "a2c", "reinforce"):
        raise ConfigError(f"algo must be ppo, a2c or reinforce, got {cfg.algo!r}")
    os.makedirs(cfg.out, exist_ok=True)
    common = {"env_id": cfg.env_id, "deepspeed": cfg.deepspeed,
              "no_deepspeed": cfg.no_deepspeed, "seed": cfg.seed, "resume": cfg.resume}
    if cfg.threads:  # else each step's own setting (the quick presets use 1 thread)
        common["threads"] = cfg.threads
    sft_dir = os.path.join(cfg.out, "sft")
    rm_dir = os.path.join(cfg.out, "rm")
    rl_dir = os.path.join(cfg.out, cfg.algo)
    steps: list[tuple[str, str, Any, Any]] = [
        ("sft", sft_dir, train_sft, _step_config(
            SFTConfig, {**common, "out": sft_dir, "model": cfg.model}, quick, "sft", cfg.sft)),
        ("rm", rm_dir, train_rm, _step_config(
            RMConfig, {**common, "out": rm_dir, "model": sft_dir}, quick, "rm", cfg.rm)),
        (cfg.algo, rl_dir, train_rl, _step_config(
            RLConfig, {**common, "out": rl_dir, "model": sft_dir, "reward_model": rm_dir,
                       "algo": cfg.algo}, quick, "rl", cfg.rl)),
    ]
    summary: dict[str, Any] = {"env_id": cfg.env_id, "out": cfg.out, "quick": quick,
                               "algo": cfg.algo, "steps": {}}
    t0 = time.time()
    for name, folder, fn, step_cfg in steps:
        done = os.path.join(folder, "metrics.json")
        if cfg.resume and os.path.isfile(done):
            import json

            with open(done, encoding="utf-8") as fh:
                metrics = json.load(fh)
        else:
            metrics = fn(step_cfg)
        summary["steps"][name] = {k: v for k, v in metrics.items() if k != "config"}
        summary["steps"][name]["folder"] = folder
    summary["wall_time_s"] = time.time() - t0
    summary["rm_heldout_accuracy"] = summary["steps"]["rm"].get("eval/heldout_accuracy")
    atomic_write_json(os.path.join(cfg.out, "metrics.json"), summary)
    return summary
