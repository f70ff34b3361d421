"""Configurations of the LLM trainers and the ``--quick`` presets.

Kept free of heavy imports: the CLI builds its options (and ``--help``, from the
docstring under each field) from these dataclasses without importing torch.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
from dataclasses import dataclass, field
from typing import Any

DEFAULT_ENV = "Dialog-CustomerService-v0"
ALGOS = ("ppo", "a2c", "reinforce")


@dataclass
class SFTConfig:
    """Settings of ``dialog-gym train sft``."""

    env_id: str = DEFAULT_ENV
    """environment whose expert provides the demonstrations"""
    out: str = "runs/sft"
    """output folder (becomes a model folder)"""
    model: str | None = None
    """causal LM folder or Hugging Face id; None builds the embedded tiny GPT-2"""
    demos: str | None = None
    """demonstrations JSONL (`dialog-gym export-demos`); None exports them into OUT"""
    demo_episodes: int = 2000
    """episodes to export when no demos file is given"""
    demo_seed: int = 0
    """first env seed of the exported demonstrations"""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """extra gym.make keyword arguments of the demonstration env (e.g. a corpus split)"""
    demo_noise: float = 0.0
    """share of exported replies replaced by degraded ones (recovery states; not targets)"""
    heldout_fraction: float = 0.05
    """share of demonstrations kept out of training for the held-out loss"""
    context_weight: float = 0.0
    """loss weight of non-agent tokens (0: loss on the agent's tokens only; a small weight
    teaches a model trained from scratch the domain's language, ids included, faster)"""
    epochs: float = 3.0
    """passes over the training demonstrations"""
    max_steps: int = 0
    """stop after this many optimizer steps (0: from epochs)"""
    batch_size: int = 16
    """episodes per optimizer step"""
    micro_batch: int = 16
    """episodes per forward/backward (batch_size must be a multiple)"""
    lr: float = 2e-3
    """peak learning rate"""
    weight_decay: float = 0.01
    """AdamW weight decay"""
    warmup_steps: int = 20
    """linear warmup steps"""
    grad_clip: float = 1.0
    """max gradient norm"""
    deepspeed: str | None = None
    """DeepSpeed JSON config (None: ZeRO-0 fp32 default)"""
    no_deepspeed: bool = False
    """train with plain PyTorch instead of DeepSpeed"""
    lora_r: int = 0
    """LoRA rank (0: full fine-tuning)"""
    lora_alpha: float = 16.0
    """LoRA scaling"""
    vocab_size: int = 2048
    """embedded tokenizer vocabulary"""
    n_embd: int = 128
    """embedded model width"""
    n_layer: int = 4
    """embedded model depth"""
    n_head: int = 4
    """embedded model heads"""
    arch: str = "gpt2"
    """embedded architecture: gpt2 (learned positions) or llama (rotary positions)"""
    seed: int = 0
    """seed of initialisation and data order"""
    threads: int = 0
    """torch CPU threads (0: default)"""
    save_every: int = 100
    """checkpoint every N optimizer steps (0: only at the end)"""
    log_every: int = 10
    """log every N optimizer steps"""
    resume: bool = False
    """continue from OUT/checkpoints/latest"""
    max_time: float = 0.0
    """stop after this many seconds (0: no limit)"""
    extra: dict[str, Any] = field(default_factory=dict)
    """free-form notes stored in metrics.json"""


@dataclass
class RMConfig:
    """Settings of ``dialog-gym train rm``."""

    env_id: str = DEFAULT_ENV
    """environment of the demonstrations"""
    model: str = "runs/sft"
    """backbone: the SFT model folder (or any causal LM with a dialog-gym format)"""
    out: str = "runs/rm"
    """output folder (becomes the reward-model folder)"""
    demos: str | None = None
    """demonstrations JSONL (default: the SFT folder's demos.jsonl, else exported)"""
    demo_episodes: int = 1000
    """episodes to export when no demonstrations file exists"""
    demo_seed: int = 50_000
    """first env seed of exported demonstrations"""
    max_pairs: int = 3000
    """pairs built (before the held-out split)"""
    policy_sample_fraction: float = 0.25
    """share of rejected replies sampled from the policy (the rest degraded)"""
    heldout_fraction: float = 0.1
    """share of episodes whose pairs are held out for accuracy"""
    epochs: float = 1.0
    """passes over the training pairs"""
    max_steps: int = 0
    """stop after N optimizer steps (0: from epochs)"""
    batch_size: int = 16
    """pairs per optimizer step"""
    micro_batch: int = 16
    """pairs per forward/backward"""
    lr: float = 1e-3
    """peak learning rate"""
    weight_decay: float = 0.01
    """AdamW weight decay"""
    warmup_steps: int = 10
    """linear warmup steps"""
    grad_clip: float = 1.0
    """max gradient norm"""
    deepspeed: str | None = None
    """DeepSpeed JSON config (None: ZeRO-0 fp32)"""
    no_deepspeed: bool = False
    """plain PyTorch instead of DeepSpeed"""
    seed: int = 0
    """seed of pair construction and data order"""
    threads: int = 0
    """torch CPU threads (0: default)"""
    log_every: int = 10
    """log every N steps"""
    save_every: int = 0
    """checkpoint every N steps (0: only at the end)"""
    resume: bool = False
    """continue from OUT/checkpoints/latest"""
    max_time: float = 0.0
    """stop after this many seconds (0: no limit)"""


@dataclass
class RLConfig:
    """Settings of ``dialog-gym train ppo|a2c|reinforce``."""

    algo: str = "ppo"
    """ppo, a2c or reinforce"""
    env_id: str = DEFAULT_ENV
    """environment id"""
    model: str = "runs/sft"
    """starting policy (SFT model folder); also the frozen reference"""
    reward_model: str | None = None
    """reward-model folder: initialises the critic (critic_init=rm) and/or adds a reward"""
    critic_init: str = "auto"
    """rm (reward model), policy (SFT backbone + zero head) or auto (rm when given)"""
    rm_reward_weight: float = 0.0
    """weight of the reward model as an extra env reward term (0: env reward only)"""
    out: str = "runs/ppo"
    """output folder (becomes the trained policy's model folder)"""
    seed: int = 0
    """seed of envs, sampling and minibatch order"""
    iterations: int = 40
    """rollout + update iterations"""
    num_envs: int = 16
    """parallel sub-envs (episodes played side by side)"""
    turns_per_rollout: int = 4
    """agent turns per sub-env per iteration"""
    vectorization: str = "sync"
    """Gymnasium vector env mode: sync or async"""
    max_episode_turns: int = 0
    """turn limit while training (0: the env's own)"""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """extra gym.make keyword arguments"""
    max_new_tokens: int = 0
    """longest reply in tokens (0: the model's saved setting)"""
    temperature: float = 1.0
    """sampling temperature of rollouts"""
    update_epochs: int = 2
    """PPO epochs over each rollout (a2c/reinforce: always 1)"""
    minibatch_size: int = 16
    """segments per optimizer step"""
    micro_batch: int = 16
    """segments per forward/backward"""
    clip_range: float = 0.2
    """PPO ratio clip epsilon"""
    clip_range_value: float = 0.2
    """PPO value clip (around the rollout's values; 0: plain regression)"""
    gamma: float = 1.0
    """discount per agent token"""
    gae_lambda: float = 0.95
    """GAE lambda (reinforce: 1)"""
    gae_unit: str = "token"
    """what gae_lambda decays per: token, or turn (once per reply, whatever its length;
    on the quick CustomerService preset it trained worse: last-quarter training return
    0.47 against 0.86 per token, one seed each)"""
    whiten_advantages: bool = True
    """normalise advantages to zero mean, unit variance"""
    kl_coef: float = 0.02
    """initial KL penalty coefficient beta"""
    adaptive_kl: bool = False
    """adapt beta towards kl_target"""
    kl_target: float = 1.0
    """target KL (nats per episode segment) of the adaptive controller"""
    kl_horizon: int = 10000
    """horizon of the adaptive controller (in agent tokens)"""
    target_kl: float = 0.0
    """stop the PPO epochs early when approx-KL exceeds it (0: never)"""
    entropy_coef: float = 0.0
    """entropy bonus coefficient"""
    ema_decay: float = 0.0
    """keep an EMA of the actor (saved to OUT/ema) when > 0"""
    sft_coef: float = 0.0
    """weight of an SFT loss on demonstrations mixed into the actor loss"""
    demos: str | None = None
    """demonstrations JSONL for sft_coef (default: the one next to the SFT model)"""
    actor_lr: float = 2e-4
    """actor learning rate"""
    critic_lr: float = 5e-4
    """critic learning rate"""
    weight_decay: float = 0.0
    """AdamW weight decay"""
    warmup_steps: int = 5
    """linear LR warmup (optimizer steps)"""
    grad_clip: float = 1.0
    """max gradient norm"""
    critic_warmup_iters: int = 0
    """iterations that train only the critic first"""
    deepspeed: str | None = None
    """DeepSpeed JSON config for actor and critic (None: ZeRO-0 fp32)"""
    no_deepspeed: bool = False
    """plain PyTorch instead of DeepSpeed"""
    lora_r: int = 0
    """LoRA rank of the actor (0: full fine-tuning)"""
    lora_alpha: float = 16.0
    """LoRA scaling"""
    threads: int = 0
    """torch CPU threads (0: default)"""
    save_every: int = 10
    """checkpoint every N iterations (0: only at the end)"""
    log_samples_every: int = 10
    """write a sample transcript every N iterations (0: never)"""
    resume: bool = False
    """continue from OUT/checkpoints/latest"""
    max_time: float = 0.0
    """stop after this many seconds (0: no limit)"""


@dataclass
class PipelineConfig:
    """Settings of ``dialog-gym train pipeline`` (SFT -> reward model -> RL)."""

    env_id: str = DEFAULT_ENV
    """environment id"""
    out: str = "runs/pipeline"
    """output folder: DIR/sft, DIR/rm and DIR/<algo> model folders, DIR/metrics.json"""
    model: str | None = None
    """base causal LM for SFT (None: the embedded tiny GPT-2)"""
    algo: str = "ppo"
    """RL algorithm: ppo, a2c or reinforce"""
    deepspeed: str | None = None
    """DeepSpeed JSON config used by every step (None: ZeRO-0 fp32)"""
    no_deepspeed: bool = False
    """plain PyTorch in every step"""
    seed: int = 0
    """seed of every step"""
    threads: int = 0
    """torch CPU threads (0: default)"""
    resume: bool = False
    """skip finished steps and resume the interrupted one"""
    sft: dict[str, Any] = field(default_factory=dict)
    """SFTConfig overrides (JSON)"""
    rm: dict[str, Any] = field(default_factory=dict)
    """RMConfig overrides (JSON)"""
    rl: dict[str, Any] = field(default_factory=dict)
    """RLConfig overrides (JSON)"""


#: ``--quick`` presets: the whole pipeline in about 15 minutes on a 2-core CPU. One torch
#: thread: the models are tiny (small ops), and on a shared 2-core machine a second
#: thread mostly waits for the other processes. ``ppo`` / ``a2c`` / ``reinforce`` add
#: algorithm-specific settings to ``rl``. Every budget is counted in steps (SFT steps,
#: reward-model pairs, RL iterations), never in seconds, so that the same seed gives the
#: same models on any machine and under any load, and the three RL algorithms get the
#: same number of rollouts (a time cap made PPO's iteration count vary from 78 to 145
#: between runs of the same command on this machine).
QUICK: dict[str, dict[str, Any]] = {
    "sft": {"demo_episodes": 2000, "demo_noise": 0.1, "context_weight": 1.0,
            "max_steps": 500, "batch_size": 16, "micro_batch": 16, "lr": 3e-3,
            "warmup_steps": 20, "save_every": 100, "threads": 1},
    "rm": {"max_pairs": 1600, "epochs": 1.0, "batch_size": 16, "micro_batch": 16,
           "lr": 1e-3, "policy_sample_fraction": 0.2, "threads": 1},
    "rl": {"iterations": 120, "num_envs": 16, "turns_per_rollout": 4, "update_epochs": 2,
           "minibatch_size": 16, "micro_batch": 16, "critic_init": "policy",
           "critic_warmup_iters": 4, "critic_lr": 1e-3, "actor_lr": 5e-5, "kl_coef": 0.05,
           "target_kl": 0.05, "save_every": 10, "threads": 1},
    # One PPO epoch per rollout (DeepSpeed-Chat's default ppo_epochs=1) and an unclipped
    # value loss (value clipping did not help in Andrychowicz et al. 2021, "What matters
    # in on-policy RL"). Chosen on validation episodes (env seeds 200000..), not on the
    # benchmark's held-out seeds (100000..), from the same SFT and reward model: 300
    # episodes each, SFT 1.13 [0.99, 1.27]; 2 epochs + value clip 0.2 (the generic
    # defaults) 1.17 [1.03, 1.31]; 1 epoch + clip 0.2: 1.23 [1.09, 1.37]; 1 epoch, no
    # value clip: 1.35 [1.22, 1.48]. (Those runs had a 400 s budget, in which a second
    # epoch also cost rollouts: about 100 iterations with one epoch, 75 with two.)
    "ppo": {"update_epochs": 1, "clip_range_value": 0.0},
}
# actor_lr 5e-5 (2e-4 before round 17): with chat prompts and JSON tool calls, PPO at 2e-4
# from the round-16 SFT policy drifted into broken replies (fragments of tool results and
# of the customer's lines, unclosed JSON) and scored below SFT on held-out episodes; its
# training return fell to 0.86 in the last quarter, KL to the reference 4 nats per
# segment. A 4x larger kl_coef held the KL near 2.3 but its training return over
# iterations 30-55 averaged 0.86 (stopped there), per-turn GAE lambda did not help (last
# quarter 0.47), lambda 1 neither (0.76); at 5e-5 the KL stayed under 1.8 (two seeds),
# the return over iterations 30-55 averaged 1.10 and 1.15 and the last quarter 1.23 and
# 1.29, and both seeds beat SFT on held-out episodes (docs/benchmarks.md, round 17).


def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of a dataclass (CleanRL / tyro style).

    Example:
        >>> field_docs(PipelineConfig)["algo"]
        'RL algorithm: ppo, a2c or reinforce'
    """
    src = textwrap.dedent(inspect.getsource(cls))
    body = ast.parse(src).body[0]
    docs: dict[str, str] = {}
    assert isinstance(body, ast.ClassDef)
    stmts = body.body
    for a, b in zip(stmts, stmts[1:], strict=False):
        if isinstance(a, ast.AnnAssign) and isinstance(a.target, ast.Name) and isinstance(
                b, ast.Expr) and isinstance(getattr(b, "value", None), ast.Constant) \
                and isinstance(b.value.value, str):
            docs[a.target.id] = b.value.value.strip()
    return docs
