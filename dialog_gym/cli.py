"""The ``dialog-gym`` command line.

dialog-gym: Gymnasium environments, reward scorers and agents for reinforcement learning
on multi-turn dialogue. Start with `dialog-gym envs`, `dialog-gym play ENV`,
`dialog-gym evaluate --agent expert` or `dialog-gym leaderboard --quick`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from dialog_gym.error import ConfigError, Error


def _parse_kv(pairs: Sequence[str]) -> dict[str, Any]:
    """``["a=1", "b=x"]`` -> ``{"a": 1, "b": "x"}`` (values parsed as JSON when possible)."""
    out: dict[str, Any] = {}
    for p in pairs:
        if "=" not in p:
            raise ConfigError(f"expected KEY=VALUE, got {p!r} (e.g. --agent-kw seed=3)")
        k, v = p.split("=", 1)
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def cmd_envs(args: argparse.Namespace) -> int:
    """Print the registered environments."""
    import gymnasium as gym

    from dialog_gym.registration import ENVS, env_ids

    builtin = {e.id: e for e in ENVS}
    rows = []
    for env_id in env_ids():
        if env_id in builtin:
            e = builtin[env_id]
            rows.append([env_id, str(e.max_episode_steps), e.summary])
            continue
        spec = gym.spec(env_id)
        entry = spec.entry_point
        doc = (getattr(entry, "__doc__", None) if not isinstance(entry, str) else None) or ""
        if isinstance(entry, str):
            from dialog_gym.registry import load_attr

            doc = getattr(load_attr(entry), "__doc__", "") or ""
        first = doc.strip().splitlines()[0] if doc.strip() else ""
        rows.append([env_id, str(spec.max_episode_steps), f"(plugin) {first}"])
    print(_table(rows, ["id", "max turns", "description"]))
    return 0


def cmd_agents(args: argparse.Namespace) -> int:
    """Print the registered agents (plugins included; broken plugins are warned about)."""
    import warnings

    from dialog_gym.agents import agent_registry

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        names = agent_registry.names(check=True)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    rows = [[n, agent_registry.origin(n)] for n in names]
    print(_table(rows, ["agent", "from"]))
    return 0


def cmd_scorers(args: argparse.Namespace) -> int:
    """Print the registered scorers with range, cost and citation."""
    import warnings

    from dialog_gym.scorers import scorer_registry

    rows = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        names = scorer_registry.names(check=True)
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    for n in names:
        cls = scorer_registry.resolve(n)
        lo, hi = getattr(cls, "range", ("?", "?"))
        rows.append([n, f"[{lo:g}, {hi:g}]", getattr(cls, "cost", "?"),
                     getattr(cls, "citation", "")])
    print(_table(rows, ["scorer", "range", "cost", "citation"]))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Evaluate an agent and print a summary (or JSON)."""
    import dialog_gym  # noqa: F401  (registers ids)
    from dialog_gym.agents import make_agent
    from dialog_gym.evaluation import evaluate
    from dialog_gym.registration import check_env_id

    check_env_id(args.env)
    kw = _parse_kv(args.agent_kw)
    kw.setdefault("env_id", args.env)
    agent = make_agent(args.agent, **kw)
    env_kwargs = _parse_kv(args.env_kw)
    if args.difficulty is not None:
        env_kwargs["difficulty"] = args.difficulty
    result = evaluate(agent, args.env, episodes=args.episodes, seed=args.seed,
                      env_kwargs=env_kwargs, save_trajectories=args.save_trajectories,
                      trajectory_metadata={"agent": args.agent})
    result["agent"] = args.agent
    if not args.records:
        result.pop("records")
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        lo, hi = result["ci95"]
        print(f"{args.agent} on {args.env} ({result['episodes']} episodes, seeds "
              f"{args.seed}..{args.seed + result['episodes'] - 1})")
        print(f"  mean return   {result['mean_return']:.3f}  (95% CI {lo:.3f} .. {hi:.3f})")
        print(f"  success rate  {result['success_rate']:.1%}")
        print(f"  mean turns    {result['mean_turns']:.2f}")
        print(f"  violations    {result['mean_violations']:.2f} per episode")
        for k, v in result["scores"].items():
            print(f"  {k:<13} {v:.3f} per episode")
        if args.save_trajectories:
            print(f"  trajectories  {args.save_trajectories}")
    return 0


def cmd_play(args: argparse.Namespace) -> int:
    """Type the agent's replies yourself."""
    import gymnasium as gym

    import dialog_gym  # noqa: F401
    from dialog_gym.registration import check_env_id

    env = gym.make(check_env_id(args.env), **_parse_kv(args.env_kw))
    seed = args.seed
    print(f"Playing {args.env}. You are the agent. Commands: /quit, /reset, /context.")
    while True:
        obs, info = env.reset(seed=seed)
        seed = None
        print("\n" + obs["context"] + "\n")
        print(f"[scenario {info['scenario_id']}]")
        print(obs["history"])
        shown = len(obs["history"])
        done = False
        while not done:
            try:
                line = input("you> ")
            except EOFError:
                print()
                return 0
            if line.strip() == "/quit":
                return 0
            if line.strip() == "/reset":
                break
            if line.strip() == "/context":
                print(obs["context"])
                continue
            obs, reward, terminated, truncated, info = env.step(line)
            new = obs["history"][shown:].lstrip("\n")
            shown = len(obs["history"])
            # skip the echo of the agent's own line
            print("\n".join(new.split("\n")[1:]))
            scores = ", ".join(f"{k}={v:+.3f}" for k, v in info["scores"].items())
            print(f"  [reward {reward:+.3f}: {scores}]"
                  + (f"  [violations: {', '.join(info['violations'])}]"
                     if info["violations"] else ""))
            done = terminated or truncated
            if done:
                summary = info.get("episode_summary") or env.unwrapped.episode_summary()
                print(f"== episode over: success={summary['success']} "
                      f"return={summary['return']:.3f} turns={summary['turns']}"
                      + (" (turn limit)" if truncated else ""))


#: Modules that contribute subcommands: each defines ``add_commands(sub, train_sub)``,
#: where ``sub`` holds the top-level subcommands and ``train_sub`` those of
#: ``dialog-gym train``. They must import only argparse-level code at module import;
#: heavy imports go inside the command functions.
EXTENSIONS = (
    "dialog_gym.agents.sb3.cli",
    "dialog_gym.agents.llm.cli",
    "dialog_gym.leaderboard_cli",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``dialog-gym``."""
    import importlib

    p = argparse.ArgumentParser(prog="dialog-gym",
                                description=__doc__.split("\n\n", 1)[1].strip())
    sub = p.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train an agent (see `dialog-gym train -h`)")
    train_sub = train.add_subparsers(dest="trainer", required=True)
    for mod_name in EXTENSIONS:
        try:
            mod = importlib.import_module(mod_name)
        except ModuleNotFoundError as e:
            if e.name is not None and mod_name.startswith(e.name):
                continue  # that part of dialog-gym is not present in this build
            raise
        mod.add_commands(sub, train_sub)

    sub.add_parser("envs", help="list the registered environments").set_defaults(fn=cmd_envs)
    sub.add_parser("agents", help="list the registered agents").set_defaults(fn=cmd_agents)
    sub.add_parser("scorers", help="list the reward scorers").set_defaults(fn=cmd_scorers)

    e = sub.add_parser("evaluate", help="evaluate an agent on an environment")
    e.add_argument("--agent", required=True, help="registered agent name (see `agents`)")
    e.add_argument("--agent-kw", action="append", default=[], metavar="KEY=VALUE",
                   help="agent constructor argument (repeatable; values parsed as JSON)")
    e.add_argument("--env", default="Dialog-CustomerService-v0", help="environment id")
    e.add_argument("--env-kw", action="append", default=[], metavar="KEY=VALUE",
                   help="gym.make keyword argument (repeatable)")
    e.add_argument("--episodes", type=int, default=20)
    e.add_argument("--seed", type=int, default=0, help="seed of the first episode")
    e.add_argument("--difficulty", type=int, default=None)
    e.add_argument("--json", action="store_true", help="print JSON")
    e.add_argument("--records", action="store_true", help="include per-episode records")
    e.add_argument("--save-trajectories", metavar="FILE.jsonl", default=None,
                   help="write every episode as chat messages with tools and per-turn "
                        "rewards, one JSON line each")
    e.set_defaults(fn=cmd_evaluate)

    pl = sub.add_parser("play", help="play an environment as the agent, in the terminal")
    pl.add_argument("env", help="environment id")
    pl.add_argument("--seed", type=int, default=None)
    pl.add_argument("--env-kw", action="append", default=[], metavar="KEY=VALUE")
    pl.set_defaults(fn=cmd_play)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dialog-gym`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args) or 0)
    except Error as e:
        print(f"dialog-gym: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
