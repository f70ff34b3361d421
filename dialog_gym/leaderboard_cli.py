"""``dialog-gym leaderboard``: the CLI front of :mod:`dialog_gym.leaderboard`."""

from __future__ import annotations

import argparse
from typing import Any

#: The quick preset: small enough for <= 10 minutes on a 2-core CPU.
QUICK = {"seeds": 10, "k": 2, "train_envs": ["Dialog-CustomerService-v0"]}
FULL = {"seeds": 50, "k": 4}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The leaderboard's options (shared with ``benchmarks/leaderboard.py``)."""
    p.add_argument("--quick", action="store_true",
                   help=f"quick preset ({QUICK['seeds']} scenarios x {QUICK['k']} episodes, "
                        "quick training presets)")
    p.add_argument("--agents", nargs="+", default=None,
                   help="agent names (default: every registered agent, plugins included)")
    p.add_argument("--exclude", nargs="+", default=[], help="agents to leave out")
    p.add_argument("--envs", nargs="+", default=None, help="env ids (default: all)")
    p.add_argument("--seeds", type=int, default=None,
                   help=f"held-out scenarios per cell (default {FULL['seeds']}, quick "
                        f"{QUICK['seeds']})")
    p.add_argument("--episodes", type=int, default=None, metavar="K",
                   help="episodes per scenario, each with different user wording; pass^K "
                        f"is reported (default {FULL['k']}, quick {QUICK['k']})")
    p.add_argument("--workers", type=int, default=2, help="parallel processes")
    p.add_argument("--out", default="results/leaderboard", help="output folder")
    p.add_argument("--checkpoints", default=None,
                   help="folder of trained agents (<agent>/<env>/agent.json) to load "
                        "instead of training")
    p.add_argument("--backend", choices=["process", "ray"], default="process")
    p.add_argument("--train-envs", nargs="+", default=None,
                   help="envs on which trainable agents (SB3, LLM) are trained and evaluated "
                        f"(default: all; with --quick: {' '.join(QUICK['train_envs'])})")
    p.add_argument("--agent-kw", action="append", default=[], metavar="AGENT:KEY=VALUE",
                   help="constructor argument of one agent (repeatable)")
    p.add_argument("--save-trajectories", action="store_true",
                   help="also write every episode as chat messages with tools and per-turn "
                        "rewards, to OUT/trajectories/AGENT__ENV.jsonl")


def config_from_args(args: argparse.Namespace) -> Any:
    """A :class:`~dialog_gym.leaderboard.LeaderboardConfig` from parsed options."""
    import json

    from dialog_gym.error import ConfigError
    from dialog_gym.leaderboard import LeaderboardConfig

    preset = QUICK if args.quick else FULL
    agent_kwargs: dict[str, dict[str, Any]] = {}
    for item in args.agent_kw:
        if ":" not in item or "=" not in item:
            raise ConfigError(f"--agent-kw expects AGENT:KEY=VALUE, got {item!r}")
        name, kv = item.split(":", 1)
        key, value = kv.split("=", 1)
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        agent_kwargs.setdefault(name, {})[key] = parsed
    return LeaderboardConfig(
        agents=args.agents, envs=args.envs,
        seeds=args.seeds if args.seeds is not None else preset["seeds"],
        k=args.episodes if args.episodes is not None else preset["k"],
        workers=args.workers, out=args.out, checkpoints=args.checkpoints, quick=args.quick,
        backend=args.backend, agent_kwargs=agent_kwargs, exclude=list(args.exclude),
        train_envs=args.train_envs if args.train_envs is not None
        else (QUICK["train_envs"] if args.quick else None),
        save_trajectories=args.save_trajectories)


def cmd_leaderboard(args: argparse.Namespace) -> int:
    """Run the leaderboard and print the Markdown table."""
    import os
    import sys

    from dialog_gym.leaderboard import run_leaderboard
    from dialog_gym.report import markdown

    try:
        report = run_leaderboard(config_from_args(args))
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished cells are kept in {args.out}/; run the same command "
              "again to resume", file=sys.stderr)
        return 130
    print(markdown(report))
    print(f"wrote {os.path.join(args.out, 'leaderboard.md')}, leaderboard.csv, "
          "leaderboard.json, index.html and plots/ there")
    return 0


def add_commands(sub: Any, train_sub: Any) -> None:
    """Register ``dialog-gym leaderboard``."""
    p = sub.add_parser("leaderboard", help="run agents x envs x seeds and write reports")
    add_arguments(p)
    p.set_defaults(fn=cmd_leaderboard)
