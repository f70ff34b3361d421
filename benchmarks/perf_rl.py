"""RL throughput: dialog-gym's PPO vs TRL's GRPOTrainer, same model, batch and length.

Both trainers run in this process, one after the other, on the same tiny GPT-2 (the
embedded default, built from a few env demonstrations), the same prompts (first
observations of Dialog-CustomerService-v0 rendered with the chat template), the same
number of completions per step (``--batch``), the same completion length
(``--length`` tokens; an untrained model almost never samples an end token, and both
are capped at ``--length``), the same reward function (reply length in words, cheap on
purpose: this measures the RL machinery, not a scorer), and the same torch threads.

- **dialog-gym PPO**: per step, sample ``batch`` completions (KV cache), score them with
  actor, frozen reference and critic, KL-penalised GAE, one PPO epoch (actor and critic
  updates) through the DeepSpeed engine (ZeRO-0, the default path; ``--no-deepspeed``
  for plain PyTorch).
- **TRL GRPO**: ``GRPOTrainer`` with ``per_device_train_batch_size=batch``,
  ``num_generations=group`` (``batch / group`` prompts per step), ``beta`` > 0 (so it
  also runs a reference model), ``use_cpu=True``.

Throughput = completions per second over the timed steps (the first ``--warmup`` steps
of each are excluded). Writes ``perf_rl.json`` with both numbers and their ratio.

Usage::

    python benchmarks/perf_rl.py                   # batch 16, length 32, 8 timed steps
    python benchmarks/perf_rl.py --batch 8 --length 16 --steps 4
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ENV = "Dialog-CustomerService-v0"


def reward_words(completions: list[str], **_: Any) -> list[float]:
    """Cheap shared reward: number of words, scaled."""
    return [len(str(c).split()) / 10.0 for c in completions]


def build_model(folder: str, seed: int) -> tuple[str, list[str]]:
    """Embedded tiny GPT-2 + tokenizer in ``folder``; the prompts (chat-templated text)."""
    from transformers import AutoTokenizer

    from dialog_gym.agents.llm.demos import export_demos, load_demos
    from dialog_gym.agents.llm.embedded import EmbeddedSpec, build_embedded
    from dialog_gym.agents.llm.prompt import ChatCodec, PromptFormat, read_meta

    demos_path = os.path.join(folder, "demos.jsonl")
    export_demos(ENV, demos_path, episodes=200, seed=seed)
    demos = load_demos(demos_path)
    model_dir = build_embedded(demos, os.path.join(folder, "model"), EmbeddedSpec(seed=seed))
    from dialog_gym.agents.llm.prompt import write_meta

    meta = read_meta(model_dir)
    meta["generation"] = {"max_new_tokens": 32}
    write_meta(model_dir, meta)
    tok = AutoTokenizer.from_pretrained(model_dir)
    codec = ChatCodec(tok, PromptFormat.from_dict(meta["format"]))
    from dialog_gym.agents.llm.prompt import observation_messages

    prompts = []
    for d in demos:  # the first prompt of each episode: system turn and first user turn
        msgs = observation_messages({"messages": d["messages"][:2]}, codec.fmt)
        prompts.append(codec.render(msgs, add_generation_prompt=True))
    return model_dir, prompts


def bench_ppo(model_dir: str, prompts: list[str], args: argparse.Namespace,
              out_dir: str) -> dict[str, Any]:
    """dialog-gym PPO steps on single-turn prompts (same machinery as the env trainer)."""
    import numpy as np
    import torch

    from dialog_gym.agents.llm.rl import RLConfig, RLTrainer, Segment, length_partition

    cfg = RLConfig(model=model_dir, out=out_dir, num_envs=2, iterations=1,
                   minibatch_size=args.batch, micro_batch=args.batch, update_epochs=1,
                   max_new_tokens=args.length, no_deepspeed=args.no_deepspeed,
                   threads=args.threads, seed=args.seed, warmup_steps=1, save_every=0)
    trainer = RLTrainer(cfg)
    trainer.setup()
    trainer.envs.close()
    codec = trainer.codec
    rng = np.random.default_rng(args.seed)
    times: list[float] = []
    lengths: list[float] = []
    for step in range(args.warmup + args.steps):
        idx = rng.choice(len(prompts), size=args.batch, replace=True)
        t0 = time.perf_counter()
        prompt_ids = [codec.encode_text(prompts[i]) for i in idx]
        gen = trainer.policy.generate(prompt_ids)
        texts = [codec.reply_text(g)[0] for g in gen]
        rewards = reward_words(texts)
        segs = []
        for p, g, r in zip(prompt_ids, gen, rewards, strict=True):
            segs.append(Segment(ids=p + g, agent=[False] * len(p) + [True] * len(g),
                                reward_at=[len(p) + len(g) - 1], rewards=[r], bootstrap=False,
                                env_index=0))
        part = length_partition([len(s.ids) for s in segs], cfg.micro_batch, trainer.np_rng)
        trainer.score(segs, part)
        trainer.advantages(segs)
        trainer.update(segs, part)
        dt = time.perf_counter() - t0
        if step >= args.warmup:
            times.append(dt)
            lengths.append(float(np.mean([len(g) for g in gen])))
    del torch
    return {"samples_per_s": args.batch * len(times) / sum(times),
            "step_s": float(np.mean(times)), "mean_completion_tokens": float(np.mean(lengths)),
            "deepspeed": not args.no_deepspeed}


def bench_trl(model_dir: str, prompts: list[str], args: argparse.Namespace,
              out_dir: str) -> dict[str, Any]:
    """TRL GRPOTrainer steps, timed by a callback."""
    import numpy as np
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    tok = AutoTokenizer.from_pretrained(model_dir)
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    rng = np.random.default_rng(args.seed)
    n_prompts = (args.warmup + args.steps) * args.batch // args.group
    ds = Dataset.from_list([{"prompt": prompts[int(i)]}
                            for i in rng.choice(len(prompts), size=n_prompts)])
    stamps: list[float] = []
    lengths: list[float] = []

    class Timer(TrainerCallback):
        def on_step_end(self, a, state, control, **kw):  # noqa: D102
            stamps.append(time.perf_counter())

        def on_log(self, a, state, control, logs=None, **kw):  # noqa: D102
            if logs and "completions/mean_length" in logs:
                lengths.append(float(logs["completions/mean_length"]))

    config = GRPOConfig(
        output_dir=out_dir, per_device_train_batch_size=args.batch,
        num_generations=args.group, max_completion_length=args.length,
        max_steps=args.warmup + args.steps, learning_rate=1e-4, beta=0.04,
        use_cpu=True, report_to=[], logging_steps=1, save_strategy="no",
        disable_dropout=True, seed=args.seed, temperature=1.0, top_k=0,
        dataloader_num_workers=0)
    trainer = GRPOTrainer(model=model, processing_class=tok, reward_funcs=reward_words,
                          args=config, train_dataset=ds, callbacks=[Timer()])
    t0 = time.perf_counter()
    trainer.train()
    marks = [t0, *stamps]
    durations = np.diff(marks)[args.warmup:]
    return {"samples_per_s": args.batch * len(durations) / float(np.sum(durations)),
            "step_s": float(np.mean(durations)),
            "mean_completion_tokens": float(np.mean(lengths[args.warmup:])) if lengths else None,
            "num_generations": args.group, "beta": 0.04}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=16, help="completions per step")
    p.add_argument("--group", type=int, default=8, help="TRL num_generations per prompt")
    p.add_argument("--length", type=int, default=32, help="completion tokens")
    p.add_argument("--steps", type=int, default=8, help="timed steps per trainer")
    p.add_argument("--warmup", type=int, default=2, help="untimed first steps")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-deepspeed", action="store_true", help="plain PyTorch for ours")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="perf_rl_") as tmp:
        model_dir, prompts = build_model(tmp, args.seed)
        ours = bench_ppo(model_dir, prompts, args, os.path.join(tmp, "ppo"))
        print(f"dialog-gym PPO: {ours['samples_per_s']:.2f} samples/s", flush=True)
        trl = bench_trl(model_dir, prompts, args, os.path.join(tmp, "trl"))
        print(f"TRL GRPO:       {trl['samples_per_s']:.2f} samples/s", flush=True)
        import transformers
        import trl as trl_mod
        from transformers import AutoModelForCausalLM

        from dialog_gym.agents.llm.modeling import count_params

        params = count_params(AutoModelForCausalLM.from_pretrained(model_dir))
    result = {
        "task": "single-turn completions of env prompts, reward = words/10",
        "batch": args.batch, "completion_length": args.length, "steps": args.steps,
        "warmup": args.warmup, "model_params": params,
        "dialog_gym_ppo": ours, "trl_grpo": trl,
        "ratio_ppo_over_trl": ours["samples_per_s"] / trl["samples_per_s"],
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "trl": trl_mod.__version__},
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "torch_threads": torch.get_num_threads()},
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "perf_rl.json").write_text(json.dumps(result, indent=2))
    print(json.dumps({k: result[k] for k in ("batch", "completion_length",
                                              "ratio_ppo_over_trl")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
