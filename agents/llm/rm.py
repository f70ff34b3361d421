"""Step 2: reward model: the LM backbone with a scalar head, trained on pairwise comparisons.

For each state of the demonstrations (the chat messages before one expert reply, rendered
by the chat template), the **chosen** reply is the expert's assistant message as the
template writes it (content and Hermes ``<tool_call>`` blocks); the **rejected** one is
either a degraded copy of it (:func:`degrade`: a wrong digit in an id or amount, tool
calls dropped, the reply cut short, words shuffled, an earlier reply repeated, the
customer echoed, a reply from another conversation) or a sample of the SFT policy that
differs from the expert's reply. The loss is ``-log sigmoid(r(chosen) - r(rejected))``;
accuracy is measured on pairs from held-out episodes. The score of a reply is the head's
output at its last token.

The model folder loads with :class:`~dialog_gym.agents.llm.modeling.ValueModel` and serves
as the ``reward_model`` scorer and as the critic's initialisation.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from dialog_gym.agents.llm.config import RMConfig

_CALL = re.compile(r"\s*(?:\[[a-z_]+(?: [^\]]*)?\]|<tool_call>.*?</tool_call>)", re.S)
_DIGIT = re.compile(r"\d")
DEGRADATIONS = ("digit", "drop_calls", "truncate", "shuffle", "repeat", "echo", "other")


def degrade(reply: str, kind: str, rng: np.random.Generator, *, previous: Sequence[str] = (),
            user: str = "", other: str = "") -> str | None:
    """A worse version of ``reply`` (None when ``kind`` does not apply to it).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> degrade("Refunded. [refund order=A1234 amount=5.00]", "drop_calls", rng)
        'Refunded.'
        >>> degrade('Done.<tool_call>{"name": "refund"}</tool_call>', "drop_calls", rng)
        'Done.'
        >>> degrade("no digits here", "digit", rng) is None
        True
    """
    if kind == "digit":
        spots = [m.start() for m in _DIGIT.finditer(reply)]
        if not spots:
            return None
        i = spots[int(rng.integers(len(spots)))]
        d = str((int(reply[i]) + int(rng.integers(1, 10))) % 10)
        return reply[:i] + d + reply[i + 1:]
    if kind == "drop_calls":
        out = _CALL.sub("", reply).strip()
        return out if out != reply.strip() else None
    if kind == "truncate":
        words = reply.split()
        return " ".join(words[: max(1, len(words) // 3)]) if len(words) > 3 else None
    if kind == "shuffle":
        words = reply.split()
        if len(words) < 4:
            return None
        perm = rng.permutation(len(words))
        out = " ".join(words[i] for i in perm)
        return out if out != reply else None
    if kind == "repeat":
        return previous[-1] if previous and previous[-1] != reply else None
    if kind == "echo":
        line = user.strip().split("\n")[-1]
        text = line.split(": ", 1)[1] if ": " in line else line
        return text if text and text != reply else None
    if kind == "other":
        return other if other and other != reply else None
    raise ValueError(f"unknown degradation {kind!r}; expected one of {DEGRADATIONS}")


@dataclass
class Pair:
    """One comparison: a shared prompt, a better and a worse reply."""

    prompt: list[int]
    chosen: list[int]
    rejected: list[int]
    kind: str
    episode: int


def build_pairs(codec: Any, demos: Sequence[dict[str, Any]], cfg: RMConfig,
                policy: Any | None, rng: np.random.Generator) -> list[Pair]:
    """Comparison pairs from the demonstrations' states (see the module docstring)."""
    from dialog_gym.agents.llm.prompt import prepare_messages

    # (episode, prepared messages before the reply, the reply's text, earlier replies)
    states: list[tuple[int, list[dict[str, Any]], str, list[str]]] = []
    for e, d in enumerate(demos):
        msgs = prepare_messages(d["messages"], codec.fmt)
        previous: list[str] = []
        flags = d.get("expert") or []
        for k, m in enumerate(msgs):
            if m["role"] == "assistant":
                piece = codec.reply_piece(m)
                if len(previous) >= len(flags) or flags[len(previous)]:
                    states.append((e, msgs[:k], piece, list(previous)))
                previous.append(piece)
    order = rng.permutation(len(states))[: cfg.max_pairs]
    chosen_states = [states[i] for i in order]
    all_replies = [s[2] for s in states]
    n_policy = int(round(cfg.policy_sample_fraction * len(chosen_states))) if policy else 0
    sampled: dict[int, str] = {}
    if n_policy:
        idx = list(range(n_policy))
        prompts = [codec.prompt_ids(chosen_states[i][1]) for i in idx]
        for j in range(0, len(idx), 32):
            gens = policy.generate(prompts[j:j + 32])
            for i, g in zip(idx[j:j + 32], gens, strict=True):
                sampled[i] = codec.reply_text(g)[0]
    pairs: list[Pair] = []
    for i, (ep, msgs, reply, previous) in enumerate(chosen_states):
        rejected: str | None = None
        kind = ""
        if i in sampled and _norm(sampled[i]) != _norm(reply):
            rejected, kind = sampled[i], "policy"
        else:
            user = msgs[-1]["content"] if msgs and msgs[-1]["role"] == "user" else ""
            for k in rng.permutation(len(DEGRADATIONS)):
                kind = DEGRADATIONS[int(k)]
                other = all_replies[int(rng.integers(len(all_replies)))]
                rejected = degrade(reply, kind, rng, previous=previous, user=user, other=other)
                if rejected is not None and _norm(rejected) != _norm(reply):
                    break
                rejected = None
        if rejected is None:
            continue
        prompt = codec.prompt_ids(msgs)
        pairs.append(Pair(prompt, codec.piece_ids(reply), codec.piece_ids(rejected), kind, ep))
    return pairs


def _norm(text: str) -> str:
    return " ".join(text.split())


def pair_tensors(pairs: Sequence[Pair], pad_id: int) -> tuple[Any, Any]:
    """Chosen rows then rejected rows, right-padded, and each row's last index."""
    import torch

    from dialog_gym.agents.llm.modeling import pad

    seqs = [p.prompt + p.chosen for p in pairs] + [p.prompt + p.rejected for p in pairs]
    ids, _, _ = pad(seqs, pad_id, side="right")
    last = torch.tensor([len(s) - 1 for s in seqs])
    return ids, last


def pairwise_loss(scores_chosen: Any, scores_rejected: Any) -> tuple[Any, Any]:
    """``-log sigmoid(r_c - r_r)`` (mean) and the share of pairs ranked right."""
    import torch.nn.functional as F

    diff = scores_chosen - scores_rejected
    return -F.logsigmoid(diff).mean(), (diff > 0).float().mean()


def score_pairs(engine: Any, pairs: Sequence[Pair], pad_id: int) -> tuple[Any, Any]:
    """Reward of every chosen and rejected reply of ``pairs``."""
    ids, last = pair_tensors(pairs, pad_id)
    device = getattr(engine, "device", ids.device)
    ids, last = ids.to(device), last.to(device)
    values = engine(ids)
    r = values.gather(1, last.unsqueeze(1)).squeeze(1)
    n = len(pairs)
    return r[:n], r[n:]


def train_rm(cfg: RMConfig) -> dict[str, Any]:
    """Train the reward model; write its folder, ``metrics.json`` and logs into ``cfg.out``."""
    import torch
    from transformers import AutoTokenizer

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
        finish_model_folder,
        seed_everything,
        set_threads,
    )
    from dialog_gym.agents.llm.demos import export_demos, load_demos
    from dialog_gym.agents.llm.engine import (
        OptimSettings,
        barrier,
        device_for_rank,
        make_engine,
        world,
    )
    from dialog_gym.agents.llm.metrics import MetricsLogger
    from dialog_gym.agents.llm.modeling import ValueModel, disable_dropout
    from dialog_gym.agents.llm.policy import Policy
    from dialog_gym.agents.llm.prompt import ChatCodec, PromptFormat, read_meta
    from dialog_gym.error import ConfigError

    timer = Timer(cfg.max_time)
    set_threads(cfg.threads)
    seed_everything(cfg.seed)
    os.makedirs(cfg.out, exist_ok=True)
    rank, ws = world()
    meta = read_meta(cfg.model)
    if not meta.get("format"):
        raise ConfigError(f"{cfg.model!r} has no dialog-gym prompt format; train the reward "
                          "model from a folder written by `dialog-gym train sft`")
    demos_path = cfg.demos or os.path.join(cfg.model, "demos.jsonl")
    if not os.path.isfile(demos_path):
        demos_path = os.path.join(cfg.out, "demos.jsonl")
        if not (cfg.resume and os.path.isfile(demos_path)):
            from dialog_gym.agents.llm.common import rank_zero_first

            rank_zero_first(demos_path + ".done", lambda: export_demos(
                cfg.env_id, demos_path, episodes=cfg.demo_episodes, seed=cfg.demo_seed))
    demos = load_demos(demos_path)
    tokenizer = AutoTokenizer.from_pretrained(cfg.model)
    fmt = PromptFormat.from_dict(meta["format"])
    codec = ChatCodec(tokenizer, fmt)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    rng = np.random.default_rng(cfg.seed)
    policy = None
    if cfg.policy_sample_fraction > 0:
        policy = Policy.from_pretrained(cfg.model, seed=cfg.seed,
                                        device=str(device_for_rank()))
    pairs = build_pairs(codec, demos, cfg, policy, rng)
    del policy
    episodes = sorted({p.episode for p in pairs})
    held_eps = set(rng.permutation(episodes)[: max(1, int(round(
        cfg.heldout_fraction * len(episodes))))].tolist())
    held = [p for p in pairs if p.episode in held_eps]
    train = [p for p in pairs if p.episode not in held_eps]
    if not train or not held:
        raise ConfigError(f"too few pairs ({len(pairs)}) for a train/held-out split; "
                          "use more demonstrations")

    ckpts = CheckpointDir(os.path.join(cfg.out, "checkpoints"))
    resume_from = ckpts.latest() if cfg.resume else None
    model = ValueModel.from_pretrained(os.path.join(resume_from, "model") if resume_from
                                       else cfg.model)
    disable_dropout(model)
    steps_per_epoch = max(1, len(train) // (cfg.batch_size * ws))
    total = cfg.max_steps or max(1, int(round(cfg.epochs * steps_per_epoch)))
    accum = max(1, cfg.batch_size // cfg.micro_batch)
    engine = make_engine(model, OptimSettings(
        lr=cfg.lr, weight_decay=cfg.weight_decay, warmup_steps=cfg.warmup_steps,
        total_steps=total, schedule="linear", grad_clip=cfg.grad_clip,
        micro_batch=cfg.micro_batch, grad_accum=accum),
        use_deepspeed=not cfg.no_deepspeed, config=cfg.deepspeed)
    engine.train()
    step = 0
    if resume_from:
        state = load_state(resume_from)
        engine.load_optimizer_state(state["optimizer"])
        set_rng_state(state["rng"])
        step = int(state["step"])
    log = MetricsLogger(cfg.out, enabled=rank == 0, resume_step=step if resume_from else None)

    def evaluate(ps: Sequence[Pair]) -> dict[str, float]:
        engine.eval()
        correct: list[float] = []
        kinds: dict[str, list[float]] = {}
        margins: list[float] = []
        with torch.no_grad():
            for i in range(0, len(ps), cfg.micro_batch):
                part = ps[i:i + cfg.micro_batch]
                rc, rr = score_pairs(engine, part, pad_id)
                ok = (rc > rr).float().tolist()
                margins.extend((rc - rr).tolist())
                correct.extend(ok)
                for p, o in zip(part, ok, strict=True):
                    kinds.setdefault(p.kind, []).append(o)
        engine.train()
        out = {"eval/heldout_accuracy": float(np.mean(correct)),
               "eval/heldout_margin": float(np.mean(margins)),
               "eval/heldout_pairs": float(len(ps))}
        out.update({f"eval/accuracy_{k}": float(np.mean(v)) for k, v in sorted(kinds.items())})
        return out

    def save_checkpoint() -> None:
        tmp = ckpts.begin(step) if rank == 0 else os.path.join(cfg.out, ".unused")
        engine.save_model(os.path.join(tmp, "model"))
        if rank == 0:
            save_state(tmp, {"step": step, "optimizer": engine.optimizer_state(),
                             "rng": rng_state(), "config": asdict(cfg)})
            ckpts.commit(tmp, step)

    lengths = [len(p.prompt) + max(len(p.chosen), len(p.rejected)) for p in train]
    from dialog_gym.agents.llm.common import length_batches

    accs: list[float] = []
    losses: list[float] = []
    while step < total and not timer.expired:
        epoch = step // steps_per_epoch
        batches = length_batches(lengths, cfg.batch_size, np.random.default_rng(
            [cfg.seed, epoch]))[rank::ws][:steps_per_epoch]
        for b in batches[step % steps_per_epoch:]:
            part = [train[i] for i in b]
            for j in range(0, len(part), cfg.micro_batch):
                rc, rr = score_pairs(engine, part[j:j + cfg.micro_batch], pad_id)
                loss, acc = pairwise_loss(rc, rr)
                engine.backward(loss)
                engine.step()
                losses.append(loss.item())
                accs.append(acc.item())
            step += 1
            if step % cfg.log_every == 0 or step == total:
                log.log(step, {"losses/pairwise_loss": float(np.mean(losses)),
                               "losses/train_accuracy": float(np.mean(accs)),
                               "charts/lr": engine.lr})
                losses, accs = [], []
            if cfg.save_every and step % cfg.save_every == 0 and step < total:
                save_checkpoint()
            if step >= total or timer.expired:
                break
    final = evaluate(held)
    log.log(step, final)
    engine.save_model(cfg.out)
    if rank == 0:
        finish_model_folder(cfg.out, tokenizer, {
            "kind": "reward_model", "stage": "rm", "env_id": cfg.env_id,
            "format": fmt.to_dict(), "base_model": cfg.model})
    save_checkpoint()
    kinds: dict[str, int] = {}
    for p in pairs:
        kinds[p.kind] = kinds.get(p.kind, 0) + 1
    metrics = {"stage": "rm", "env_id": cfg.env_id, "steps": step, "total_steps": total,
               "train_pairs": len(train), "heldout_pairs": len(held), "pair_kinds": kinds,
               "wall_time_s": timer.elapsed, "deepspeed": not cfg.no_deepspeed, **final,
               "config": asdict(cfg)}
    if rank == 0:
        atomic_write_json(os.path.join(cfg.out, "metrics.json"), metrics)
    log.close()
    barrier()
    return metrics
