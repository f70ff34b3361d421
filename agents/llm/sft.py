"""Step 1: supervised fine-tuning on expert demonstrations (loss on the agent's tokens).

Each demonstration episode (its chat messages, rendered by the tokenizer's chat template
with the env's tools) becomes one token sequence laid out exactly as during RL rollouts
(system turn, user turns and tool results as context; the expert's assistant messages,
content and Hermes tool calls, with their end-of-turn tokens as targets). The loss is
the mean negative log-likelihood of the target tokens only. With no model named, the
embedded tiny GPT-2 and its tokenizer are built from the same demonstrations first.

Usage::

    dialog-gym train sft --env Dialog-CustomerService-v0 --out runs/cs/sft --quick
"""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import Any

import numpy as np

from dialog_gym.agents.llm.config import SFTConfig

__all__ = ["SFTConfig", "train_sft"]


def load_or_export_demos(cfg: Any) -> list[dict[str, Any]]:
    """The demonstrations named by ``cfg.demos``, or freshly exported into ``cfg.out``."""
    from dialog_gym.agents.llm.common import rank_zero_first
    from dialog_gym.agents.llm.demos import export_demos, load_demos

    if cfg.demos:
        return load_demos(cfg.demos)
    path = os.path.join(cfg.out, "demos.jsonl")
    if not (cfg.resume and os.path.isfile(path)):
        os.makedirs(cfg.out, exist_ok=True)
        rank_zero_first(path + ".done", lambda: export_demos(
            cfg.env_id, path, episodes=cfg.demo_episodes, seed=cfg.demo_seed,
            env_kwargs=dict(getattr(cfg, "env_kwargs", None) or {}),
            noise=getattr(cfg, "demo_noise", 0.0)))
    return load_demos(path)


def prepare_model_dir(cfg: SFTConfig, demos: list[dict[str, Any]]) -> str:
    """The model to fine-tune: ``cfg.model`` or the embedded default built in OUT/init."""
    from dialog_gym.agents.llm.embedded import EmbeddedSpec, build_embedded

    if cfg.model:
        return cfg.model
    from dialog_gym.agents.llm.common import rank_zero_first

    init = os.path.join(cfg.out, "init")
    if not (cfg.resume and os.path.isfile(os.path.join(init, "config.json"))):
        rank_zero_first(init + ".done", lambda: build_embedded(demos, init, EmbeddedSpec(
            vocab_size=cfg.vocab_size, n_embd=cfg.n_embd, n_layer=cfg.n_layer,
            n_head=cfg.n_head, seed=cfg.seed, arch=cfg.arch)))
    return init


def format_for(model_dir: str, tokenizer: Any, demos: list[dict[str, Any]],
               max_positions: int | None) -> Any:
    """The prompt format of ``model_dir`` (its metadata), or one derived from the demos."""
    from dialog_gym.agents.llm.prompt import PromptFormat, constant_lines, read_meta

    meta = read_meta(model_dir) if os.path.isdir(model_dir) else {}
    if meta.get("format"):
        return PromptFormat.from_dict(meta["format"])
    limit = (max_positions or 2048) - 96
    return PromptFormat(labels=dict(demos[0].get("labels") or PromptFormat().labels),
                        drop_context_lines=constant_lines([d["context"] for d in demos]),
                        max_prompt_tokens=max(128, min(limit, 2048)),
                        tools=tuple(demos[0].get("tools", ())))


def demo_sequences(codec: Any, demos: list[dict[str, Any]], max_len: int | None
                   ) -> list[tuple[list[int], list[bool]]]:
    """``(ids, target mask)`` per demonstration, dropping ones longer than ``max_len``."""
    from dialog_gym.agents.llm.prompt import episode_from_messages

    out = []
    for d in demos:
        ep = episode_from_messages(codec, d["messages"], d.get("expert"))
        if max_len is not None and len(ep.ids) > max_len:
            continue
        out.append((ep.ids, ep.agent))
    return out


def batch_tensors(seqs: list[tuple[list[int], list[bool]]], pad_id: int,
                  context_weight: float = 0.0) -> tuple[Any, Any] | tuple[Any, Any, Any]:
    """Right-padded ``input_ids`` and the ``[B, T-1]`` selection of scored positions.

    With ``context_weight > 0`` every real position is scored and a third tensor holds
    the per-position loss weights (1 on agent tokens, ``context_weight`` elsewhere).
    """
    import torch

    from dialog_gym.agents.llm.modeling import pad

    ids, mask, _ = pad([s[0] for s in seqs], pad_id, side="right")
    sel, _, _ = pad([[int(a) for a in s[1]] for s in seqs], 0, side="right")
    agent = sel[:, 1:].bool()
    if context_weight <= 0:
        return ids, agent
    real = mask[:, 1:].bool()
    weights = torch.where(agent, 1.0, float(context_weight))[real]
    return ids, real, weights


def sft_loss(module: Any, ids: Any, sel: Any, weights: Any = None) -> tuple[Any, Any]:
    """Mean NLL of the selected tokens (weighted), and the accuracy on agent tokens."""
    logp, logits = module(ids, sel)
    hit = (logits.argmax(-1) == ids[:, 1:][sel]).float()
    if weights is None:
        return -logp.mean(), hit.mean()
    agent = weights >= 1.0
    acc = hit[agent].mean() if bool(agent.any()) else hit.mean()
    return -(logp * weights).sum() / weights.sum(), acc


def train_sft(cfg: SFTConfig) -> dict[str, Any]:
    """Run SFT; write the model folder, ``metrics.json`` and logs into ``cfg.out``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from dialog_gym.agents.llm.checkpoint import (
        CheckpointDir,
        atomic_write_json,
        load_state,
        rng_state,
        save_state,
        set_rng_state,
    )
    from dialog_gym.agents.llm.common import (
        Timer,
        apply_lora,
        finish_model_folder,
        length_batches,
        seed_everything,
        set_threads,
    )
    from dialog_gym.agents.llm.engine import OptimSettings, barrier, make_engine, world
    from dialog_gym.agents.llm.metrics import MetricsLogger
    from dialog_gym.agents.llm.modeling import PolicyModule, disable_dropout, load_backbone
    from dialog_gym.agents.llm.prompt import ChatCodec
    from dialog_gym.error import ConfigError

    if cfg.batch_size % cfg.micro_batch:
        raise ConfigError(f"batch_size ({cfg.batch_size}) must be a multiple of micro_batch "
                          f"({cfg.micro_batch})")
    timer = Timer(cfg.max_time)
    set_threads(cfg.threads)
    seed_everything(cfg.seed)
    os.makedirs(cfg.out, exist_ok=True)
    rank, ws = world()
    demos = load_or_export_demos(cfg)
    model_dir = prepare_model_dir(cfg, demos)
    ckpts = CheckpointDir(os.path.join(cfg.out, "checkpoints"))
    resume_from = ckpts.latest() if cfg.resume else None

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    weights_dir = os.path.join(resume_from, "model") if resume_from else model_dir
    model = load_backbone(weights_dir, AutoModelForCausalLM)
    disable_dropout(model)
    max_len = getattr(model.config, "n_positions", None) or getattr(
        model.config, "max_position_embeddings", None)
    fmt = format_for(model_dir, tokenizer, demos, max_len)
    codec = ChatCodec(tokenizer, fmt)
    if cfg.lora_r:
        model = apply_lora(model, cfg.lora_r, cfg.lora_alpha)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (
        tokenizer.eos_token_id or 0)

    rng = np.random.default_rng(cfg.seed)
    order = rng.permutation(len(demos))
    n_held = max(1, int(round(cfg.heldout_fraction * len(demos)))) if len(demos) > 1 else 0
    held = [demos[i] for i in order[:n_held]]
    train = [demos[i] for i in order[n_held:]] or held
    train_seqs = demo_sequences(codec, train, max_len)
    held_seqs = demo_sequences(codec, held, max_len)
    if not train_seqs:
        raise ConfigError("no demonstration fits the model's context length")
    steps_per_epoch = max(1, len(train_seqs) // (cfg.batch_size * ws))
    total = cfg.max_steps or max(1, int(round(cfg.epochs * steps_per_epoch)))
    accum = cfg.batch_size // cfg.micro_batch
    opt = OptimSettings(lr=cfg.lr, weight_decay=cfg.weight_decay, warmup_steps=cfg.warmup_steps,
                        total_steps=total, schedule="linear", grad_clip=cfg.grad_clip,
                        micro_batch=cfg.micro_batch, grad_accum=accum)
    engine = make_engine(PolicyModule(model), opt, use_deepspeed=not cfg.no_deepspeed,
                         config=cfg.deepspeed)
    engine.train()

    step = 0
    if resume_from:
        state = load_state(resume_from)
        engine.load_optimizer_state(state["optimizer"])
        set_rng_state(state["rng"])
        step = int(state["step"])
    log = MetricsLogger(cfg.out, enabled=rank == 0, resume_step=step if resume_from else None)
    lengths = [len(s[0]) for s in train_seqs]

    def evaluate_heldout() -> dict[str, float]:
        engine.eval()
        losses, accs, ns = [], [], []
        with torch.no_grad():
            for i in range(0, len(held_seqs), cfg.micro_batch):
                part = held_seqs[i:i + cfg.micro_batch]
                ids, sel = batch_tensors(part, pad_id)
                loss, acc = sft_loss(engine, ids.to(engine.device), sel.to(engine.device))
                n = int(sel.sum())
                losses.append(float(loss) * n)
                accs.append(float(acc) * n)
                ns.append(n)
        engine.train()
        n = max(1, sum(ns))
        return {"eval/heldout_loss": sum(losses) / n, "eval/heldout_token_acc": sum(accs) / n}

    def save_checkpoint() -> None:
        tmp = ckpts.begin(step) if rank == 0 else os.path.join(cfg.out, ".unused")
        engine.save_model(os.path.join(tmp, "model"))
        if rank == 0:
            save_state(tmp, {"step": step, "optimizer": engine.optimizer_state(),
                             "rng": rng_state(), "config": asdict(cfg)})
            ckpts.commit(tmp, step)

    running: list[float] = []
    tokens_seen = 0
    while step < total and not timer.expired:
        epoch = step // steps_per_epoch
        batches = length_batches(lengths, cfg.batch_size, np.random.default_rng(
            [cfg.seed, epoch]))[rank::ws][:steps_per_epoch]
        for b in batches[step % steps_per_epoch:]:
            part = [train_seqs[i] for i in b]
            loss_sum, acc_sum = 0.0, 0.0
            for j in range(0, len(part), cfg.micro_batch):
                tensors = tuple(t.to(engine.device) for t in batch_tensors(
                    part[j:j + cfg.micro_batch], pad_id, cfg.context_weight))
                loss, acc = sft_loss(engine, *tensors)
                engine.backward(loss)
                engine.step()
                loss_sum += loss.item()
                acc_sum += acc.item()
                tokens_seen += int(tensors[0].numel())
            step += 1
            running.append(loss_sum / accum)
            if step % cfg.log_every == 0 or step == total:
                log.log(step, {"losses/sft_loss": float(np.mean(running)),
                               "losses/token_acc": acc_sum / accum, "charts/lr": engine.lr,
                               "charts/epoch": step / steps_per_epoch,
                               "charts/tokens_per_s": tokens_seen / max(timer.elapsed, 1e-9)})
                running = []
            if cfg.save_every and step % cfg.save_every == 0 and step < total:
                save_checkpoint()
            if step >= total or timer.expired:
                break

    final = evaluate_heldout() if held_seqs else {}
    log.log(step, final)
    meta = {"kind": "policy", "stage": "sft", "env_id": cfg.env_id, "format": fmt.to_dict(),
            "generation": {"max_new_tokens": _max_reply_tokens(train_seqs)},
            "base_model": cfg.model or "embedded"}
    engine.save_model(cfg.out)
    if rank == 0:
        finish_model_folder(cfg.out, tokenizer, meta)
    save_checkpoint()
    metrics = {"stage": "sft", "env_id": cfg.env_id, "steps": step, "total_steps": total,
               "epochs": step / steps_per_epoch, "train_episodes": len(train_seqs),
               "heldout_episodes": len(held_seqs), "wall_time_s": timer.elapsed,
               "deepspeed": not cfg.no_deepspeed, "model": model_dir,
               "params": sum(p.numel() for p in engine.module.parameters()), **final,
               "config": asdict(cfg)}
    if rank == 0:
        atomic_write_json(os.path.join(cfg.out, "metrics.json"), metrics)
    log.close()
    barrier()
    return metrics


def _max_reply_tokens(seqs: list[tuple[list[int], list[bool]]]) -> int:
    """Longest target reply in tokens, with a margin (the policy's ``max_new_tokens``)."""
    n, run = 0, 0
    for _, agent in seqs:
        for a in [*agent, False]:
            run = run + 1 if a else 0
            n = max(n, run)
    n = n or 48
    return int(min(256, n + max(8, n // 4)))
