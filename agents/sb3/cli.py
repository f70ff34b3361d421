"""``dialog-gym train sb3``: train a Stable-Baselines3 agent and save it.

Imported by :mod:`dialog_gym.cli` at start-up, so this module imports only argparse-level
code; SB3, torch and the envs load inside the command.

Example::

    dialog-gym train sb3 --algo ppo --env Dialog-CustomerService-v0 --steps 50000 --out runs/ppo
    dialog-gym evaluate --agent sb3-ppo --agent-kw path=runs/ppo
"""

from __future__ import annotations

import argparse
import json
from typing import Any

ALGO_CHOICES = ("ppo", "a2c", "dqn", "maskable-ppo")


def _kv(pairs: list[str]) -> dict[str, Any]:
    from dialog_gym.cli import _parse_kv

    return _parse_kv(pairs)


def cmd_train_sb3(args: argparse.Namespace) -> int:
    """Train, save, then evaluate on held-out seeds."""
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    import dialog_gym  # noqa: F401  (registers ids)
    from dialog_gym.agents.sb3.agent import train
    from dialog_gym.evaluation import evaluate

    agent = train(
        args.algo, args.env, args.steps, args.out,
        progress_bar=not args.no_progress, tensorboard=not args.no_tensorboard,
        k=args.k, observation=args.observation, n_envs=args.n_envs, seed=args.seed,
        hyperparams=_kv(args.hp), env_kwargs=_kv(args.env_kw), verbose=args.verbose,
    )
    print(f"saved {agent.name} ({agent.config['num_timesteps']} steps) to {args.out}")
    tb = agent.tensorboard_log
    print(f"TensorBoard logs: {tb}" if tb else
          "TensorBoard logs: off (pip install tensorboard to enable)")
    if args.eval_episodes > 0:
        result = evaluate(agent, args.env, episodes=args.eval_episodes, seed=args.eval_seed,
                          env_kwargs=_kv(args.env_kw))
        result.pop("records")
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            print(f"held-out evaluation ({args.eval_episodes} episodes, seeds "
                  f"{args.eval_seed}..): mean return {result['mean_return']:.3f}, success "
                  f"{result['success_rate']:.1%}")
    print(f"play it: dialog-gym evaluate --agent {agent.name} --agent-kw path={args.out}")
    return 0


def add_commands(sub: Any, train_sub: Any) -> None:
    """Add ``dialog-gym train sb3``."""
    p = train_sub.add_parser(
        "sb3", help="train a Stable-Baselines3 agent (PPO, A2C, DQN, MaskablePPO) over "
                    "candidate replies",
        description="Train an SB3 agent that chooses among k candidate replies "
                    "(CandidateActions) and save it to --out (model.zip + agent.json).")
    p.add_argument("--algo", choices=ALGO_CHOICES, default="ppo", help="algorithm")
    p.add_argument("--env", default="Dialog-CustomerService-v0", help="environment id")
    p.add_argument("--steps", type=int, required=True, help="environment steps to train")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--k", type=int, default=6, help="candidate replies per step")
    p.add_argument("--observation", choices=("tokens", "embedding"), default="tokens",
                   help="network input: hashed token ids (fast) or sentence embeddings")
    p.add_argument("--n-envs", type=int, default=4, help="parallel training envs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hp", action="append", default=[], metavar="KEY=VALUE",
                   help="algorithm hyper-parameter override (repeatable), e.g. "
                        "--hp learning_rate=0.0001")
    p.add_argument("--env-kw", action="append", default=[], metavar="KEY=VALUE",
                   help="gym.make keyword argument (repeatable)")
    p.add_argument("--eval-episodes", type=int, default=20,
                   help="held-out evaluation episodes after training (0: skip)")
    p.add_argument("--eval-seed", type=int, default=100_000,
                   help="seed of the first held-out evaluation episode")
    p.add_argument("--threads", type=int, default=0,
                   help="torch CPU threads (0: torch's default)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--no-tensorboard", action="store_true", help="no TensorBoard logs")
    p.add_argument("--json", action="store_true", help="print the evaluation as JSON")
    p.add_argument("--verbose", type=int, default=0, help="SB3 verbosity")
    p.set_defaults(fn=cmd_train_sb3)
