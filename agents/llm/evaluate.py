"""Batched evaluation of an agent with ``act_batch`` (many episodes side by side).

Episode ``i`` uses env seed ``seed + i`` exactly as :func:`dialog_gym.evaluation.evaluate`
does; the difference is that up to ``batch`` episodes run at once and their replies are
generated in one batch; records keep ``obs["messages"]`` along with the transcript. The
summary has the same keys (``mean_return``, ``ci95``, ``success_rate``, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np


def evaluate_batched(agent: Any, env_id: str, *, episodes: int = 200, seed: int = 0,
                     batch: int = 32, env_kwargs: Mapping[str, Any] | None = None,
                     keep_transcripts: int = 0) -> dict[str, Any]:
    """Play ``episodes`` episodes (seeds ``seed..seed+episodes-1``) and aggregate."""
    import gymnasium as gym

    import dialog_gym  # noqa: F401
    from dialog_gym.evaluation import bootstrap_ci

    records: list[dict[str, Any]] = []
    todo = list(range(episodes))
    envs = [gym.make(env_id, **dict(env_kwargs or {})) for _ in range(min(batch, episodes))]
    slots: list[dict[str, Any] | None] = [None] * len(envs)

    def start(k: int) -> None:
        if not todo:
            slots[k] = None
            return
        i = todo.pop(0)
        obs, info = envs[k].reset(seed=seed + i)
        slots[k] = {"i": i, "obs": obs, "ret": 0.0, "turns": 0, "viol": 0, "scores": {},
                    "success": False, "info": info, "context": obs["context"]}

    for k in range(len(envs)):
        start(k)
    try:
        while any(s is not None for s in slots):
            active = [k for k, s in enumerate(slots) if s is not None]
            batch_obs = [slots[k]["obs"] for k in active]  # type: ignore[index]
            replies = agent.act_batch(batch_obs)
            for k, reply in zip(active, replies, strict=True):
                s = slots[k]
                assert s is not None
                obs, r, term, trunc, info = envs[k].step(reply)
                s["obs"] = obs
                s["ret"] += float(r)
                s["turns"] += 1
                s["viol"] += len(info.get("violations", ()))
                s["success"] = bool(info.get("success", False))
                for name, v in info.get("scores", {}).items():
                    s["scores"][name] = s["scores"].get(name, 0.0) + float(v)
                if term or trunc:
                    rec = {"seed": seed + s["i"], "scenario_id": info.get("scenario_id"),
                           "return": s["ret"], "turns": s["turns"], "success": s["success"],
                           "terminated": bool(term), "truncated": bool(trunc),
                           "violations": s["viol"], "scores": s["scores"]}
                    if len(records) < keep_transcripts:
                        rec["transcript"] = obs["history"]
                        rec["context"] = s["context"]
                        rec["messages"] = obs["messages"]
                    records.append(rec)
                    start(k)
    finally:
        for e in envs:
            e.close()
    records.sort(key=lambda r: r["seed"])
    returns = [r["return"] for r in records]
    names = sorted({k for r in records for k in r["scores"]})
    return {
        "env_id": env_id, "episodes": len(records), "seed": seed,
        "mean_return": float(np.mean(returns)), "ci95": list(bootstrap_ci(returns)),
        "std_return": float(np.std(returns)),
        "success_rate": float(np.mean([r["success"] for r in records])),
        "mean_turns": float(np.mean([r["turns"] for r in records])),
        "mean_violations": float(np.mean([r["violations"] for r in records])),
        "scores": {k: float(np.mean([r["scores"].get(k, 0.0) for r in records]))
                   for k in names},
        "records": records,
    }


def transcript_kl(policy_dir: str, ref_dir: str, records: list[dict[str, Any]], *,
                  batch: int = 16) -> dict[str, float]:
    """KL(policy || reference) on the policy's own episodes.

    The Monte-Carlo estimate ``E_pi[log pi(y) - log pi_ref(y)]`` over the agent tokens
    of each transcript (``records`` from :func:`evaluate_batched` with transcripts kept,
    played by ``policy_dir``), summed per episode. Replies are re-tokenized canonically
    from the episodes' chat messages.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from dialog_gym.agents.llm.modeling import PolicyModule, disable_dropout
    from dialog_gym.agents.llm.prompt import (
        ChatCodec,
        PromptFormat,
        episode_from_messages,
        read_meta,
    )
    from dialog_gym.agents.llm.sft import batch_tensors

    tok = AutoTokenizer.from_pretrained(policy_dir)
    codec = ChatCodec(tok, PromptFormat.from_dict(read_meta(policy_dir)["format"]))
    mods = []
    for d in (policy_dir, ref_dir):
        m = AutoModelForCausalLM.from_pretrained(d).eval()
        disable_dropout(m)
        mods.append(PolicyModule(m))
    limit = getattr(mods[0].config, "n_positions", None) or getattr(
        mods[0].config, "max_position_embeddings", 4096)
    seqs = []
    for r in records:
        if "messages" not in r:
            continue
        ep = episode_from_messages(codec, r["messages"])
        if len(ep.ids) <= limit:
            seqs.append((ep.ids, ep.agent))
    per_episode: list[float] = []
    tokens = 0
    with torch.no_grad():
        for i in range(0, len(seqs), batch):
            part = seqs[i:i + batch]
            ids, sel = batch_tensors(part, tok.pad_token_id or 0)
            lp, _ = mods[0](ids, sel)
            lr, _ = mods[1](ids, sel)
            diff = torch.split(lp - lr, sel.sum(1).tolist())
            per_episode.extend(float(d.sum()) for d in diff)
            tokens += int(sel.sum())
    return {"kl_per_episode": float(np.mean(per_episode)) if per_episode else float("nan"),
            "kl_per_token": float(np.sum(per_episode) / max(1, tokens)),
            "episodes": len(per_episode)}
