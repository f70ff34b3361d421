"""Solvability and reward-hacking table of every environment (the README's table).

For each registered env, 100 episodes (seeds 1000..1099) of the scripted expert, the
random agent and the three reward-hacking probes; prints a Markdown table of success
rates and mean returns and writes benchmarks/results/env_table.json.

    python benchmarks/env_table.py [--episodes 100] [--seed 1000]
"""

from __future__ import annotations

import argparse

import dialog_gym
from dialog_gym.agents import make_agent
from dialog_gym.evaluation import evaluate
from dialog_gym.fileio import atomic_write_json

AGENTS = ["expert", "random", "keyword-stuffing", "echo", "repeat"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--episodes", type=int, default=100)
    p.add_argument("--seed", type=int, default=1000)
    p.add_argument("--out", default="benchmarks/results/env_table.json")
    args = p.parse_args()
    rows = {}
    for env_id in dialog_gym.env_ids():
        rows[env_id] = {}
        for name in AGENTS:
            r = evaluate(make_agent(name, env_id=env_id), env_id, episodes=args.episodes,
                         seed=args.seed)
            rows[env_id][name] = {"success_rate": r["success_rate"],
                                  "mean_return": r["mean_return"], "ci95": r["ci95"]}
    header = "| env | " + " | ".join(AGENTS) + " |"
    print(f"success rate / mean return over {args.episodes} episodes (seeds {args.seed}..)\n")
    print(header)
    print("|---|" + "---|" * len(AGENTS))
    for env_id, cols in rows.items():
        cells = [f"{cols[a]['success_rate']:.0%} / {cols[a]['mean_return']:+.2f}" for a in AGENTS]
        print(f"| `{env_id}` | " + " | ".join(cells) + " |")
    atomic_write_json(args.out, {"episodes": args.episodes, "seed": args.seed, "results": rows})


if __name__ == "__main__":
    main()
