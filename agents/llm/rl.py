"""Step 3: RL on the environment (PPO, A2C, REINFORCE), multi-turn, on one rollout buffer.

Reads top to bottom like CleanRL's ``ppo.py``: config -> rollout -> advantages -> update.

**Rollout.** ``num_envs`` copies of the env (a Gymnasium vector env, same-step autoreset)
each play ``turns_per_rollout`` agent turns per iteration. Each sub-env's episode is one
growing token sequence (:class:`~dialog_gym.agents.llm.prompt.EpisodeTokens`): the
prompt (``obs["messages"]`` through the chat template, with the env's tools), the
sampled reply tokens kept verbatim (agent tokens; the env receives the reply as an
assistant message with ``tool_calls``), the template's continuation for the new
messages only, tool results and the customer's answer (never trained on), the next
reply... An episode that ends becomes a *segment* of
the buffer; one still running at the end of the iteration is cut (its value bootstraps
the return) and carries on in the next iteration with everything so far as context.

**Rewards.** Each turn's env reward lands on the last token of that reply; every agent
token also gets the KL penalty ``-beta * (log pi_old - log pi_ref)`` to the frozen
reference (the SFT model). ``beta`` is fixed or adapted to a KL target (Ziegler et al.).

**Advantages.** GAE over the agent tokens of a segment, across its turns: user tokens
are masked out, so the value of a reply's last token bootstraps from the value of the
first token of the next reply (the state after the customer answered). Advantages are
whitened over the batch.

**Update.** ``ppo``: several epochs of minibatches, clipped ratio, clipped value loss.
``a2c``: one pass, ``-A * log pi``, plain value regression (actor-critic, GAE lambda).
``reinforce``: one pass, Monte-Carlo returns (lambda = 1) with the critic as baseline.
Optional entropy bonus, EMA of the actor, and an SFT loss on demonstrations mixed in.
Dropout is off everywhere, so the first PPO minibatch has a ratio of exactly 1.

Actor and critic are each a :mod:`~dialog_gym.agents.llm.engine` (DeepSpeed or plain
PyTorch); the reference is a frozen copy of the starting policy.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from dialog_gym.agents.llm.config import ALGOS, RLConfig

__all__ = ["RLConfig", "RLTrainer", "masked_gae", "train_rl"]


# ====================================================================== core maths
def masked_gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor,
               last_value: torch.Tensor, gamma: float, lam: float,
               turn_end: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over the masked positions of each row.

    Positions where ``mask`` is False (user tokens, padding) are skipped: the value
    that bootstraps an agent token is the value of the next *agent* token of the row,
    or ``last_value`` after the last one (0 for a finished episode).

    With ``turn_end`` (True at the last token of each reply), ``lam`` decays the trace
    once per turn instead of once per token: inside a reply the trace is carried whole
    (lambda 1), so how far a turn's reward reaches back does not depend on how many
    tokens the replies took (a JSON tool call costs more tokens than a word).

    Args:
        rewards: ``[B, T]`` per-position reward.
        values: ``[B, T]`` per-position value estimate.
        mask: ``[B, T]`` bool, True on agent tokens.
        last_value: ``[B]`` value after the row's last agent token.
        gamma: Discount per agent token.
        lam: GAE lambda (1: Monte-Carlo returns minus the baseline).
        turn_end: ``[B, T]`` bool, True where a reply ends (None: lambda per token).

    Returns:
        ``(advantages, returns)``, ``[B, T]``, zero where ``mask`` is False.
    """
    b, t = rewards.shape
    adv = torch.zeros_like(rewards)
    next_value = last_value.to(rewards.dtype).clone()
    last_gae = torch.zeros(b, dtype=rewards.dtype)
    m = mask.bool()
    if turn_end is None:
        lams = torch.full((b, t), float(lam), dtype=rewards.dtype)
    else:
        lams = torch.where(turn_end.bool(), torch.tensor(float(lam), dtype=rewards.dtype),
                           torch.tensor(1.0, dtype=rewards.dtype))
    for j in range(t - 1, -1, -1):
        delta = rewards[:, j] + gamma * next_value - values[:, j]
        g = delta + gamma * lams[:, j] * last_gae
        adv[:, j] = torch.where(m[:, j], g, torch.zeros_like(g))
        last_gae = torch.where(m[:, j], g, last_gae)
        next_value = torch.where(m[:, j], values[:, j], next_value)
    returns = torch.where(m, adv + values, torch.zeros_like(adv))
    return adv, returns


def kl_penalty_rewards(logp: torch.Tensor, ref_logp: torch.Tensor, beta: float,
                       mask: torch.Tensor) -> torch.Tensor:
    """Per-token reward ``-beta * (log pi - log pi_ref)`` on agent tokens (0 elsewhere).

    Tokens the policy made more likely than the reference are penalised.
    """
    return torch.where(mask.bool(), -beta * (logp - ref_logp), torch.zeros_like(logp))


def whiten(x: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True) -> torch.Tensor:
    """Normalise the masked entries to zero mean and unit variance."""
    m = mask.bool()
    vals = x[m]
    if vals.numel() < 2:
        return x
    mean, var = vals.mean(), vals.var(unbiased=False)
    out = (x - mean) * torch.rsqrt(var + 1e-8)
    if not shift_mean:
        out = out + mean
    return torch.where(m, out, torch.zeros_like(out))


def ppo_policy_loss(logp: torch.Tensor, old_logp: torch.Tensor, adv: torch.Tensor,
                    clip: float) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Clipped surrogate (to minimise) and diagnostics: approx-KL (k3), clip fraction."""
    log_ratio = logp - old_logp
    ratio = torch.exp(log_ratio)
    pg1 = -adv * ratio
    pg2 = -adv * torch.clamp(ratio, 1.0 - clip, 1.0 + clip)
    loss = torch.max(pg1, pg2).mean()
    with torch.no_grad():
        approx_kl = ((ratio - 1) - log_ratio).mean()
        clipfrac = ((ratio - 1.0).abs() > clip).float().mean()
    return loss, {"approx_kl": approx_kl, "clipfrac": clipfrac, "ratio": ratio.detach()}


def value_loss(v: torch.Tensor, old_v: torch.Tensor, ret: torch.Tensor,
               clip: float | None) -> torch.Tensor:
    """``0.5 * (v - R)^2``, clipped around the rollout's values when ``clip`` is set."""
    unclipped = (v - ret) ** 2
    if clip is None:
        return 0.5 * unclipped.mean()
    v_clip = old_v + torch.clamp(v - old_v, -clip, clip)
    return 0.5 * torch.max(unclipped, (v_clip - ret) ** 2).mean()


def advantage_diagnostics(adv: torch.Tensor, ret: torch.Tensor, values: torch.Tensor,
                          mask: torch.Tensor) -> dict[str, float]:
    """Raw (pre-whitening) advantage and return statistics, and explained variance.

    The critic's explained variance is ``1 - Var(R - V) / Var(R)`` over the agent tokens
    of the batch.
    """
    m = mask.bool()
    if int(m.sum()) < 2:
        return {}
    a, r, v = adv[m], ret[m], values[m]
    var_r = r.var(unbiased=False)
    ev = 1.0 - (r - v).var(unbiased=False) / var_r if var_r > 1e-12 else torch.tensor(0.0)
    return {"adv/mean": float(a.mean()), "adv/std": float(a.std(unbiased=False)),
            "adv/abs_max": float(a.abs().max()), "rollout/return_target_std":
            float(r.std(unbiased=False)), "losses/explained_variance": float(ev)}


class FixedKLController:
    """A constant KL coefficient."""

    def __init__(self, value: float) -> None:
        self.value = float(value)

    def update(self, current: float, n_steps: int) -> None:
        """Nothing to adapt."""

    def state_dict(self) -> dict[str, float]:
        """JSON state."""
        return {"value": self.value}

    def load_state_dict(self, d: Mapping[str, float]) -> None:
        """Restore."""
        self.value = float(d["value"])


class AdaptiveKLController(FixedKLController):
    """Proportional controller of Ziegler et al. (2019): beta follows a KL target."""

    def __init__(self, value: float, target: float, horizon: int) -> None:
        super().__init__(value)
        self.target = float(target)
        self.horizon = int(horizon)

    def update(self, current: float, n_steps: int) -> None:
        """``beta *= 1 + clip(KL / target - 1, -0.2, 0.2) * n_steps / horizon``."""
        err = float(np.clip(current / self.target - 1.0, -0.2, 0.2))
        self.value *= 1.0 + err * n_steps / self.horizon


# ====================================================================== buffer
@dataclass
class Segment:
    """An episode (or the part of one played in this rollout) as trained on."""

    ids: list[int]
    agent: list[bool]
    reward_at: list[int]
    rewards: list[float]
    bootstrap: bool
    env_index: int
    # filled by the scoring pass (length len(ids) - 1, position t scores token t + 1)
    old_logp: torch.Tensor | None = None
    ref_logp: torch.Tensor | None = None
    values: torch.Tensor | None = None
    last_value: float = 0.0
    adv: torch.Tensor | None = None
    ret: torch.Tensor | None = None

    @property
    def action_mask(self) -> torch.Tensor:
        """``[len-1]`` bool: position t is an action when token t+1 was sampled."""
        return torch.tensor(self.agent[1:], dtype=torch.bool)

    def turn_end_row(self) -> torch.Tensor:
        """``[len-1]`` bool, True at each reply's last sampled token."""
        r = torch.zeros(len(self.ids) - 1, dtype=torch.bool)
        for i in self.reward_at:
            r[i - 1] = True
        return r

    def env_reward_row(self) -> torch.Tensor:
        """``[len-1]`` with each turn's reward at its reply's last token."""
        r = torch.zeros(len(self.ids) - 1)
        for i, v in zip(self.reward_at, self.rewards, strict=True):
            r[i - 1] += v
        return r


def right_pad_rows(rows: Sequence[torch.Tensor], length: int, value: float = 0.0
                   ) -> torch.Tensor:
    """Stack 1-D tensors into ``[B, length]``."""
    out = torch.full((len(rows), length), value, dtype=rows[0].dtype if rows else torch.float)
    for i, r in enumerate(rows):
        out[i, : r.numel()] = r[:length]
    return out


def micro_tensors(segs: Sequence[Segment], pad_id: int, device: torch.device
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids ``[B, L]`` and action selection ``[B, L-1]`` of some segments."""
    from dialog_gym.agents.llm.modeling import pad

    ids, _, _ = pad([s.ids for s in segs], pad_id, side="right")
    length = ids.shape[1]
    sel = right_pad_rows([s.action_mask for s in segs], length - 1, False).bool()
    return ids.to(device), sel.to(device)


def gather_rows(segs: Sequence[Segment], name: str, sel: torch.Tensor) -> torch.Tensor:
    """A per-position field of the segments, at the selected positions (row-major)."""
    rows = [getattr(s, name) for s in segs]
    return right_pad_rows(rows, sel.shape[1])[sel.cpu()].to(sel.device)


# ====================================================================== trainer
class RLTrainer:
    """PPO / A2C / REINFORCE on a dialog-gym env; see the module docstring.

    Args:
        cfg: The configuration.
    """

    def __init__(self, cfg: RLConfig) -> None:
        from dialog_gym.error import ConfigError

        if cfg.algo not in ALGOS:
            raise ConfigError(f"algo must be one of {ALGOS}, got {cfg.algo!r}")
        if cfg.minibatch_size % cfg.micro_batch:
            raise ConfigError(f"minibatch_size ({cfg.minibatch_size}) must be a multiple of "
                              f"micro_batch ({cfg.micro_batch})")
        if cfg.gae_unit not in ("turn", "token"):
            raise ConfigError(f"gae_unit must be turn or token, got {cfg.gae_unit!r}")
        if cfg.critic_init not in ("auto", "rm", "policy"):
            raise ConfigError(f"critic_init must be auto, rm or policy, got {cfg.critic_init!r}")
        self.cfg = cfg

    # ------------------------------------------------------------------ setup
    def setup(self) -> None:
        """Load models, engines, envs; restore a checkpoint when resuming."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from dialog_gym.agents.llm.checkpoint import CheckpointDir, load_state, set_rng_state
        from dialog_gym.agents.llm.common import apply_lora, seed_everything, set_threads
        from dialog_gym.agents.llm.engine import (
            OptimSettings,
            config_dtype,
            device_for_rank,
            make_engine,
            world,
        )
        from dialog_gym.agents.llm.metrics import MetricsLogger
        from dialog_gym.agents.llm.modeling import (
            PolicyModule,
            ValueModel,
            disable_dropout,
            load_backbone,
        )
        from dialog_gym.agents.llm.policy import Policy
        from dialog_gym.agents.llm.prompt import PromptFormat, read_meta
        from dialog_gym.error import ConfigError

        cfg = self.cfg
        set_threads(cfg.threads)
        self.rank, self.world_size = world()
        seed_everything(cfg.seed + 1000 * self.rank)
        os.makedirs(cfg.out, exist_ok=True)
        self.device = device_for_rank()
        self.ckpts = CheckpointDir(os.path.join(cfg.out, "checkpoints"))
        resume_from = self.ckpts.latest() if cfg.resume else None
        self.meta = read_meta(cfg.model)
        if not self.meta.get("format"):
            raise ConfigError(
                f"{cfg.model!r} has no dialog-gym prompt format ({'dialog_gym_llm.json'}); "
                "start RL from a model written by `dialog-gym train sft`")
        fmt = PromptFormat.from_dict(self.meta["format"])
        self.tokenizer = AutoTokenizer.from_pretrained(cfg.model)
        self.tokenizer.padding_side = "left"
        dtype = config_dtype(cfg.deepspeed, not cfg.no_deepspeed)

        actor_dir = os.path.join(resume_from, "actor") if resume_from else cfg.model
        actor = load_backbone(actor_dir, AutoModelForCausalLM)
        disable_dropout(actor)
        if cfg.lora_r:
            actor = apply_lora(actor, cfg.lora_r, cfg.lora_alpha)
        ref = load_backbone(cfg.model, AutoModelForCausalLM, dtype=dtype)
        disable_dropout(ref)
        ref.requires_grad_(False)
        self.ref = PolicyModule(ref).to(self.device).eval()

        critic_src = self._critic_source()
        critic_dir = os.path.join(resume_from, "critic") if resume_from else critic_src
        critic = ValueModel.from_pretrained(critic_dir)
        disable_dropout(critic)

        iters_opt = cfg.iterations * cfg.update_epochs * max(
            1, cfg.num_envs * cfg.turns_per_rollout // cfg.minibatch_size)
        common = dict(weight_decay=cfg.weight_decay, warmup_steps=cfg.warmup_steps,
                      total_steps=iters_opt, schedule="constant", grad_clip=cfg.grad_clip,
                      micro_batch=cfg.micro_batch,
                      grad_accum=cfg.minibatch_size // cfg.micro_batch)
        use_ds = not cfg.no_deepspeed
        self.actor = make_engine(PolicyModule(actor), OptimSettings(lr=cfg.actor_lr, **common),
                                 use_deepspeed=use_ds, config=cfg.deepspeed)
        self.critic = make_engine(critic, OptimSettings(lr=cfg.critic_lr, **common),
                                  use_deepspeed=use_ds, config=cfg.deepspeed)
        self.actor.eval()  # dropout is off anyway; eval keeps any other train-only path off
        self.critic.eval()

        gen = dict(self.meta.get("generation", {}))
        max_new = cfg.max_new_tokens or int(gen.get("max_new_tokens", 64))
        self.policy = Policy(self.actor.module.model, self.tokenizer, fmt,
                             max_new_tokens=max_new, temperature=cfg.temperature,
                             seed=cfg.seed + 7919 * self.rank, device=str(self.device))
        self.codec = self.policy.codec
        self.pad_id = self.policy.pad_id
        self.max_len = self.policy.max_length or 4096

        self.kl_ctl = (AdaptiveKLController(cfg.kl_coef, cfg.kl_target, cfg.kl_horizon)
                       if cfg.adaptive_kl else FixedKLController(cfg.kl_coef))
        self.np_rng = np.random.default_rng([cfg.seed, self.rank])
        self.iteration = 0
        self.episodes_done = 0
        self.turns_done = 0
        self.ema: dict[str, torch.Tensor] | None = None
        if cfg.ema_decay > 0:
            self.ema = self.actor.state_dict()
        self.demo_seqs: list[tuple[list[int], list[bool]]] = []
        if cfg.sft_coef > 0:
            self.demo_seqs = self._load_demo_seqs()

        if resume_from:
            state = load_state(resume_from)
            self.actor.load_optimizer_state(state["actor_optimizer"])
            self.critic.load_optimizer_state(state["critic_optimizer"])
            self.kl_ctl.load_state_dict(state["kl_controller"])
            set_rng_state(state["rng"], self.np_rng)
            self.policy.generator.set_state(state["sampler_rng"])
            self.iteration = int(state["iteration"])
            self.episodes_done = int(state["episodes"])
            self.turns_done = int(state["turns"])
            if self.ema is not None and "ema" in state:
                self.ema = dict(state["ema"])
        self.log = MetricsLogger(cfg.out, enabled=self.rank == 0,
                                 resume_step=self.iteration if resume_from else None)
        self._make_envs()

    def _critic_source(self) -> str:
        cfg = self.cfg
        mode = cfg.critic_init
        if mode == "auto":
            mode = "rm" if cfg.reward_model else "policy"
        if mode == "rm":
            from dialog_gym.error import ConfigError

            if not cfg.reward_model:
                raise ConfigError("critic_init='rm' needs --reward-model DIR")
            return cfg.reward_model
        return cfg.model

    def _load_demo_seqs(self) -> list[tuple[list[int], list[bool]]]:
        from dialog_gym.agents.llm.demos import load_demos
        from dialog_gym.agents.llm.sft import demo_sequences
        from dialog_gym.error import ConfigError

        path = self.cfg.demos or os.path.join(self.cfg.model, "demos.jsonl")
        if not os.path.isfile(path):
            raise ConfigError(f"sft_coef > 0 needs demonstrations; {path!r} does not exist "
                              "(pass --demos FILE)")
        return demo_sequences(self.codec, load_demos(path), self.max_len)

    def _make_envs(self) -> None:
        import gymnasium as gym
        from gymnasium.vector import AutoresetMode

        import dialog_gym  # noqa: F401

        cfg = self.cfg
        kw = dict(cfg.env_kwargs)
        if cfg.max_episode_turns:
            kw["max_episode_steps"] = cfg.max_episode_turns
        if cfg.reward_model and cfg.rm_reward_weight:
            from dialog_gym.scorers.reward_model import RewardModelScorer

            probe = gym.make(cfg.env_id)
            mix = dict(probe.unwrapped.domain.default_reward)
            probe.close()
            kw["reward"] = {**mix, RewardModelScorer(cfg.reward_model): cfg.rm_reward_weight}
        self.envs = gym.make_vec(cfg.env_id, num_envs=cfg.num_envs,
                                 vectorization_mode=cfg.vectorization,
                                 vector_kwargs={"autoreset_mode": AutoresetMode.SAME_STEP}, **kw)
        base = cfg.seed * 100_003 + self.rank * 10_007 + self.iteration * 101
        obs, _ = self.envs.reset(seed=[base + i for i in range(cfg.num_envs)])
        from dialog_gym.agents.llm.prompt import EpisodeTokens

        self.obs = self._split_obs(obs)
        self.seqs = [EpisodeTokens.start(self.codec, o) for o in self.obs]
        self.ep_return = [0.0] * cfg.num_envs
        self.ep_turns = [0] * cfg.num_envs

    def _split_obs(self, obs: Mapping[str, Any]) -> list[dict[str, Any]]:
        n = self.cfg.num_envs
        return [{k: obs[k][i] for k in obs} for i in range(n)]

    # ------------------------------------------------------------------ rollout
    @torch.no_grad()
    def rollout(self) -> tuple[list[Segment], dict[str, Any]]:
        """Play ``turns_per_rollout`` turns in every sub-env; return segments and stats."""
        from dialog_gym.agents.llm.prompt import EpisodeTokens

        cfg = self.cfg
        segments: list[Segment] = []
        finished: list[dict[str, Any]] = []
        lengths: list[int] = []
        stopped = 0
        transcripts: list[str] = []
        for _ in range(cfg.turns_per_rollout):
            gen = self.policy.generate([s.ids for s in self.seqs])
            replies = [self.codec.reply_text(g, s.table)
                       for g, s in zip(gen, self.seqs, strict=True)]
            # the replies' Hermes text: the env parses the <tool_call> blocks (malformed
            # ones become error tool results) into the assistant messages' tool_calls
            obs, rewards, terminated, truncated, info = self.envs.step(
                [r for r, _ in replies])
            obs_list = self._split_obs(obs)
            final_obs = info.get("final_obs")
            final_info = info.get("final_info", {})
            for i in range(cfg.num_envs):
                _, stop = replies[i]
                seq = self.seqs[i]
                seq.add_reply(gen[i], stop, float(rewards[i]))
                lengths.append(len(gen[i]))
                stopped += bool(stop)
                self.ep_return[i] += float(rewards[i])
                self.ep_turns[i] += 1
                self.turns_done += 1
                if terminated[i] or truncated[i]:
                    fo = final_obs[i] if final_obs is not None else None
                    success = bool(_info_at(final_info, "success", i, False))
                    finished.append({"return": self.ep_return[i], "turns": self.ep_turns[i],
                                     "success": success, "truncated": bool(truncated[i])})
                    if fo is not None and len(transcripts) < 1:
                        transcripts.append(str(fo["history"]))
                    boot = bool(truncated[i] and not terminated[i])
                    if boot and fo is not None:
                        seq.add_observation(self.codec, fo)
                    segments.append(self._segment(seq, i, bootstrap=boot))
                    self.ep_return[i], self.ep_turns[i] = 0.0, 0
                    self.episodes_done += 1
                    self.seqs[i] = EpisodeTokens.start(self.codec, obs_list[i])
                else:
                    seq.add_observation(self.codec, obs_list[i])
                    if len(seq.ids) + self.policy.max_new_tokens > self.max_len:
                        # too long to continue as one sequence: cut and restart trimmed
                        segments.append(self._segment(seq, i, bootstrap=True))
                        fresh = EpisodeTokens.start(self.codec, obs_list[i])
                        fresh.context_len = len(fresh.ids)
                        self.seqs[i] = fresh
            self.obs = obs_list
        for i, seq in enumerate(self.seqs):
            if seq.n_agent_tokens:
                segments.append(self._segment(seq, i, bootstrap=True))
                self.seqs[i] = seq.carry_over()
        stats = {
            "rollout/episodes": len(finished),
            "rollout/response_length": float(np.mean(lengths)) if lengths else 0.0,
            "rollout/stopped_fraction": stopped / max(1, len(lengths)),
            "rollout/segments": len(segments),
        }
        if finished:
            stats.update({
                "rollout/return": float(np.mean([f["return"] for f in finished])),
                "rollout/success_rate": float(np.mean([f["success"] for f in finished])),
                "rollout/episode_turns": float(np.mean([f["turns"] for f in finished])),
                "rollout/truncated_fraction": float(np.mean([f["truncated"] for f in finished])),
            })
        if not transcripts and self.obs:
            transcripts.append("(episode in progress)\n" + str(self.obs[0]["history"]))
        stats["_transcripts"] = transcripts
        return segments, stats

    def _segment(self, seq: Any, env_index: int, bootstrap: bool) -> Segment:
        """The buffer entry of a sequence, cut to the model's length.

        The messages appended after the last reply (tool results, the user's answer)
        only feed the bootstrap value; when they take the sequence past the model's
        positions, the tail is cut (the sampled tokens always fit: a reply is sampled
        only when the sequence leaves room for ``max_new_tokens``).
        """
        ids, agent = list(seq.ids), list(seq.agent)
        for j in range(min(seq.context_len, len(agent))):
            agent[j] = False
        if len(ids) > self.max_len:
            last = max((j for j, a in enumerate(agent) if a), default=-1)
            keep = max(self.max_len, last + 1)
            ids, agent = ids[:keep], agent[:keep]
        return Segment(ids=ids, agent=agent, reward_at=list(seq.reward_at),
                       rewards=list(seq.rewards), bootstrap=bootstrap, env_index=env_index)

    # ------------------------------------------------------------------ scoring
    @torch.no_grad()
    def score(self, segments: list[Segment], partition: list[list[int]]) -> None:
        """Old log-probs, reference log-probs and values of every segment.

        Computed micro-batch by micro-batch in ``partition``, the layout the first
        update epoch uses, so the first minibatch reproduces them bit for bit.
        """
        for part in partition:
            segs = [segments[i] for i in part]
            ids, sel = micro_tensors(segs, self.pad_id, self.device)
            logp, _ = self.actor(ids, sel)
            ref_logp, _ = self.ref(ids, sel)
            values = self.critic(ids)
            counts = sel.sum(1).tolist()
            lp_rows = torch.split(logp.float().cpu(), counts)
            ref_rows = torch.split(ref_logp.float().cpu(), counts)
            for k, s in enumerate(segs):
                n = len(s.ids) - 1
                m = s.action_mask
                full_lp = torch.zeros(n)
                full_ref = torch.zeros(n)
                full_lp[m] = lp_rows[k]
                full_ref[m] = ref_rows[k]
                s.old_logp, s.ref_logp = full_lp, full_ref
                v = values[k, : len(s.ids)].float().cpu()
                s.values = v[:-1].clone()
                s.last_value = float(v[-1]) if s.bootstrap else 0.0

    def advantages(self, segments: list[Segment]) -> dict[str, float]:
        """KL-penalised rewards, GAE (or MC returns), whitening; fills ``adv``/``ret``."""
        cfg = self.cfg
        length = max(len(s.ids) - 1 for s in segments)
        mask = right_pad_rows([s.action_mask for s in segments], length, False).bool()
        logp = right_pad_rows([s.old_logp for s in segments], length)
        ref = right_pad_rows([s.ref_logp for s in segments], length)
        values = right_pad_rows([s.values for s in segments], length)
        env_r = right_pad_rows([s.env_reward_row() for s in segments], length)
        last = torch.tensor([s.last_value for s in segments])
        kl_r = kl_penalty_rewards(logp, ref, self.kl_ctl.value, mask)
        rewards = env_r + kl_r
        lam = 1.0 if cfg.algo == "reinforce" else cfg.gae_lambda
        turn_end = right_pad_rows([s.turn_end_row() for s in segments], length, False).bool() \
            if cfg.gae_unit == "turn" else None
        adv, ret = masked_gae(rewards, values, mask, last, cfg.gamma, lam, turn_end)
        diag = advantage_diagnostics(adv, ret, values, mask)
        if cfg.whiten_advantages:
            adv = whiten(adv, mask)
        for i, s in enumerate(segments):
            n = len(s.ids) - 1
            s.adv, s.ret = adv[i, :n].clone(), ret[i, :n].clone()
        kl_tok = torch.where(mask, logp - ref, torch.zeros_like(logp))
        n_tok = mask.sum(1).clamp(min=1)
        seg_kl = kl_tok.sum(1)
        return {"kl/ref": float(seg_kl.mean()),
                "kl/ref_per_token": float(kl_tok.sum() / mask.sum().clamp(min=1)),
                "kl/beta": self.kl_ctl.value,
                "rollout/env_reward_per_segment": float(env_r.sum(1).mean()),
                "rollout/agent_tokens": float(mask.sum()),
                "rollout/value_mean": float(values[mask].mean()) if mask.any() else 0.0,
                "rollout/return_target_mean": float(ret[mask].mean()) if mask.any() else 0.0,
                **diag,
                "_seg_kl": float((seg_kl / n_tok).mean())}

    # ------------------------------------------------------------------ update
    def update(self, segments: list[Segment], partition: list[list[int]],
               train_actor: bool = True) -> dict[str, float]:
        """Optimise actor and critic on the buffer; return loss statistics."""
        from dialog_gym.agents.llm.modeling import entropy

        cfg = self.cfg
        epochs = cfg.update_epochs if cfg.algo == "ppo" else 1
        accum = cfg.minibatch_size // cfg.micro_batch
        stats: dict[str, list[float]] = {k: [] for k in (
            "policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac", "sft_loss")}
        first: dict[str, float] = {}
        stop_early = False
        for epoch in range(epochs):
            parts = partition if epoch == 0 else length_partition(
                [len(s.ids) for s in segments], cfg.micro_batch, self.np_rng)
            for k, part in enumerate(parts):
                segs = [segments[i] for i in part]
                ids, sel = micro_tensors(segs, self.pad_id, self.device)
                adv = gather_rows(segs, "adv", sel)
                ret = gather_rows(segs, "ret", sel)
                old_lp = gather_rows(segs, "old_logp", sel)
                old_v = gather_rows(segs, "values", sel)
                if train_actor:
                    logp, logits = self.actor(ids, sel)
                    if cfg.algo == "ppo":
                        pg, info = ppo_policy_loss(logp, old_lp, adv, cfg.clip_range)
                    else:  # a2c / reinforce: one on-policy pass, no clipping
                        pg = -(adv * logp).mean()
                        _, info = ppo_policy_loss(logp.detach(), old_lp, adv, cfg.clip_range)
                    loss = pg
                    if epoch == 0 and k == 0:
                        ratio = info["ratio"]
                        first = {"losses/first_minibatch_ratio_dev":
                                 float((ratio - 1).abs().max()) if ratio.numel() else 0.0,
                                 "losses/first_minibatch_approx_kl": float(info["approx_kl"])}
                    if cfg.entropy_coef:
                        ent = entropy(logits).mean()
                        loss = loss - cfg.entropy_coef * ent
                    else:  # logged only (logits exist at the sampled positions only)
                        with torch.no_grad():
                            ent = entropy(logits.detach()).mean()
                    if cfg.sft_coef and self.demo_seqs:
                        sft = self._sft_loss()
                        loss = loss + cfg.sft_coef * sft
                        stats["sft_loss"].append(sft.item())
                    self.actor.backward(loss)
                    stepped = self.actor.step()
                    if stepped and self.ema is not None:
                        self._update_ema()
                    stats["policy_loss"].append(pg.item())
                    stats["approx_kl"].append(info["approx_kl"].item())
                    stats["clipfrac"].append(info["clipfrac"].item())
                    stats["entropy"].append(ent.item())
                values = self.critic(ids)[:, :-1][sel]
                vl = value_loss(values, old_v, ret, (cfg.clip_range_value or None)
                                if cfg.algo == "ppo" else None)
                self.critic.backward(vl)
                self.critic.step()
                stats["value_loss"].append(vl.item())
                if (cfg.target_kl and cfg.algo == "ppo" and (k + 1) % accum == 0
                        and stats["approx_kl"]
                        and np.mean(stats["approx_kl"][-accum:]) > cfg.target_kl):
                    stop_early = True
                    break
            if stop_early:
                break
        out = {f"losses/{k}": float(np.mean(v)) for k, v in stats.items() if v}
        out.update(first)
        out["losses/early_stop"] = float(stop_early)
        out["charts/actor_lr"] = self.actor.lr
        out["charts/critic_lr"] = self.critic.lr
        return out

    def _sft_loss(self) -> torch.Tensor:
        from dialog_gym.agents.llm.sft import batch_tensors

        idx = self.np_rng.choice(len(self.demo_seqs), size=min(self.cfg.micro_batch,
                                 len(self.demo_seqs)), replace=False)
        ids, sel = batch_tensors([self.demo_seqs[i] for i in idx], self.pad_id)
        logp, _ = self.actor(ids.to(self.device), sel.to(self.device))
        return -logp.mean()

    @torch.no_grad()
    def _update_ema(self) -> None:
        assert self.ema is not None
        d = self.cfg.ema_decay
        for k, v in self.actor.state_dict().items():
            if v.is_floating_point():
                self.ema[k].mul_(d).add_(v.float().to(self.ema[k].dtype), alpha=1 - d)

    # ------------------------------------------------------------------ checkpoints
    def save_checkpoint(self) -> None:
        """Actor, critic (safetensors) + optimizer/RNG/KL state, atomically."""
        from dialog_gym.agents.llm.checkpoint import rng_state, save_state

        tmp = self.ckpts.begin(self.iteration) if self.rank == 0 else os.path.join(
            self.cfg.out, ".unused")
        self.actor.save_model(os.path.join(tmp, "actor"))
        self.critic.save_model(os.path.join(tmp, "critic"))
        if self.rank == 0:
            state = {"iteration": self.iteration, "episodes": self.episodes_done,
                     "turns": self.turns_done,
                     "actor_optimizer": self.actor.optimizer_state(),
                     "critic_optimizer": self.critic.optimizer_state(),
                     "kl_controller": self.kl_ctl.state_dict(),
                     "rng": rng_state(self.np_rng),
                     "sampler_rng": self.policy.generator.get_state(),
                     "config": asdict(self.cfg)}
            if self.ema is not None:
                state["ema"] = self.ema
            save_state(tmp, state)
            self.ckpts.commit(tmp, self.iteration)

    def save_final(self) -> None:
        """The trained policy as a model folder in ``out`` (and ``out/ema``, ``out/critic``)."""
        from dialog_gym.agents.llm.common import finish_model_folder

        cfg = self.cfg
        meta = dict(self.meta)
        meta.update({"kind": "policy", "stage": cfg.algo, "env_id": cfg.env_id,
                     "reference": cfg.model})
        self.actor.save_model(cfg.out)
        self.critic.save_model(os.path.join(cfg.out, "critic"))
        if self.rank == 0:
            finish_model_folder(cfg.out, self.tokenizer, meta)
            finish_model_folder(os.path.join(cfg.out, "critic"), self.tokenizer,
                                {**meta, "kind": "critic"})
            if self.ema is not None:
                from transformers import AutoModelForCausalLM

                ema_dir = os.path.join(cfg.out, "ema")
                model = AutoModelForCausalLM.from_pretrained(cfg.out)
                sd = {k[len("model."):] if k.startswith("model.") else k: v
                      for k, v in self.ema.items()}
                model.load_state_dict(sd, strict=False)
                model.save_pretrained(ema_dir)
                finish_model_folder(ema_dir, self.tokenizer, {**meta, "stage": "ema"})

    # ------------------------------------------------------------------ main loop
    def train(self) -> dict[str, Any]:
        """Iterate rollout -> advantages -> update; write the model and ``metrics.json``."""
        from dialog_gym.agents.llm.checkpoint import atomic_write_json
        from dialog_gym.agents.llm.common import Timer

        cfg = self.cfg
        timer = Timer(cfg.max_time)
        self.setup()
        history: list[dict[str, float]] = []
        returns_window: list[float] = []
        while self.iteration < cfg.iterations and not timer.expired:
            t_roll = Timer()
            segments, rstats = self.rollout()
            transcripts = rstats.pop("_transcripts")
            roll_s = t_roll.elapsed
            partition = length_partition([len(s.ids) for s in segments], cfg.micro_batch,
                                         self.np_rng)
            t_upd = Timer()
            self.score(segments, partition)
            astats = self.advantages(segments)
            seg_kl = astats.pop("_seg_kl")
            train_actor = self.iteration >= cfg.critic_warmup_iters
            ustats = self.update(segments, partition, train_actor=train_actor)
            self.kl_ctl.update(astats["kl/ref"], int(astats["rollout/agent_tokens"]))
            self.iteration += 1
            samples = cfg.num_envs * cfg.turns_per_rollout
            row = {**rstats, **astats, **ustats,
                   "charts/iteration": self.iteration, "charts/episodes": self.episodes_done,
                   "charts/turns": self.turns_done,
                   "perf/rollout_s": roll_s, "perf/update_s": t_upd.elapsed,
                   "perf/samples_per_s": samples / max(1e-9, roll_s + t_upd.elapsed),
                   "perf/tokens_per_s": rstats["rollout/response_length"] * samples / max(
                       1e-9, roll_s + t_upd.elapsed),
                   "kl/ref_token_mean_per_segment": seg_kl}
            self.log.log(self.iteration, row)
            history.append(row)
            if "rollout/return" in rstats:
                returns_window.append(rstats["rollout/return"])
            if cfg.log_samples_every and transcripts and (
                    self.iteration % cfg.log_samples_every == 1 or cfg.log_samples_every == 1):
                self.log.text(self.iteration, "samples/transcript", transcripts[0])
            if cfg.save_every and self.iteration % cfg.save_every == 0 \
                    and self.iteration < cfg.iterations:
                self.save_checkpoint()
        self.save_final()
        self.save_checkpoint()
        self.envs.close()
        tail = history[-max(1, len(history) // 4):] if history else []
        metrics = {
            "stage": cfg.algo, "env_id": cfg.env_id, "iterations": self.iteration,
            "episodes": self.episodes_done, "turns": self.turns_done,
            "wall_time_s": timer.elapsed, "deepspeed": not cfg.no_deepspeed,
            "final_kl_beta": self.kl_ctl.value,
            "train_return_last_quarter": _mean_key(tail, "rollout/return"),
            "train_success_last_quarter": _mean_key(tail, "rollout/success_rate"),
            "kl_ref_last_quarter": _mean_key(tail, "kl/ref"),
            "kl_ref_max": max((h.get("kl/ref", 0.0) for h in history), default=0.0),
            "samples_per_s": _mean_key(history, "perf/samples_per_s"),
            "config": asdict(cfg),
        }
        if self.rank == 0:
            atomic_write_json(os.path.join(cfg.out, "metrics.json"), metrics)
        self.log.close()
        from dialog_gym.agents.llm.engine import barrier

        barrier()
        return metrics


def length_partition(lengths: Sequence[int], micro_batch: int, rng: np.random.Generator
                     ) -> list[list[int]]:
    """Micro-batches of similar-length segments, in random order."""
    from dialog_gym.agents.llm.common import length_batches

    return length_batches(lengths, micro_batch, rng, bucket=4)


def _info_at(info: Mapping[str, Any], key: str, i: int, default: Any) -> Any:
    if key not in info:
        return default
    present = info.get(f"_{key}")
    if present is not None and not bool(present[i]):
        return default
    return info[key][i]


def _mean_key(rows: Sequence[Mapping[str, Any]], key: str) -> float:
    vals = [r[key] for r in rows if key in r and r[key] is not None]
    return float(np.mean(vals)) if vals else math.nan


def train_rl(cfg: RLConfig) -> dict[str, Any]:
    """Build a :class:`RLTrainer` and train."""
    return RLTrainer(cfg).train()
