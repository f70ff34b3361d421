"""Replay recorded expert episodes of Dialog-CustomerService-v0 (the env's cost alone).

    python benchmarks/env_replay.py --record [--episodes 300]   # writes the actions
    python benchmarks/env_replay.py N                           # replays N episodes
    python benchmarks/env_replay.py N --breakdown               # ... and where time goes

Recording plays the scripted expert and saves its replies; replaying steps the env with
them (reset with the same seeds), so no agent runs in the measured process. Used by
``benchmarks/env_instructions.sh`` to count CPU instructions per episode, a figure that,
unlike wall-clock steps/s, does not move with the load of a shared machine.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym

import dialog_gym  # noqa: F401  (registers the envs)

ENV_ID = "Dialog-CustomerService-v0"
ACTIONS = Path(__file__).resolve().parent / "results" / "env_replay_actions.json"


def record(episodes: int, path: Path) -> None:
    from dialog_gym.agents import make_agent

    env = gym.make(ENV_ID)
    agent = make_agent("expert", env_id=ENV_ID)
    eps = []
    for seed in range(episodes):
        obs, _ = env.reset(seed=seed)
        agent.reset()
        actions, done = [], False
        while not done:
            actions.append(agent.act(obs))
            obs, _, term, trunc, _ = env.step(actions[-1])
            done = term or trunc
        eps.append(actions)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"env_id": ENV_ID, "episodes": eps}))
    print(f"recorded {episodes} episodes ({sum(map(len, eps))} steps) to {path}")


#: (label, attribute path from the unwrapped env, method): the parts of reset and step
#: timed by ``--breakdown`` (nested parts are indented under their caller)
PARTS = [
    ("reset", "", "reset"),
    ("  scenario generation", "generator", "generate"),
    ("  user's opening line", "user", "start"),
    ("step (all but scoring)", "", "step_begin"),
    ("  in-env expert (BLEU reference)", "_expert", "act"),
    ("  tool-call parsing", "tools", "parse"),
    ("  rules", "rulebook", "check"),
    ("  tools run on the database", "tools", "execute"),
    ("  simulated user's reaction", "user", "respond"),
    ("step: finishing (reward, observation, info)", "", "step_end"),
]


def instrument(env: gym.Env) -> tuple[dict[str, float], Callable[[], object]]:
    """Wrap the methods of :data:`PARTS` (and scoring) with timers; returns the totals
    and a function that restores the originals."""
    import dialog_gym.env as core

    base = env.unwrapped
    totals: dict[str, float] = {}
    restore = []

    def timed(label, fn):
        totals[label] = 0.0

        def wrapper(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                totals[label] += time.perf_counter() - t
        return wrapper

    for label, attr, method in PARTS:
        obj = getattr(base, attr) if attr else base
        original = getattr(obj, method)
        if method in vars(obj):  # an instance attribute already: put it back
            restore.append(lambda o=obj, m=method, f=original: setattr(o, m, f))
        else:  # a class method: drop the instance attribute that will shadow it
            restore.append(lambda o=obj, m=method: delattr(o, m))
        setattr(obj, method, timed(label, original))
    scoring = core._score_terms_single
    core._score_terms_single = timed("step: scoring (default reward)", scoring)
    restore.append(lambda: setattr(core, "_score_terms_single", scoring))
    return totals, lambda: [r() for r in restore]


def replay(n: int, path: Path, quiet: bool, breakdown: bool = False) -> None:
    eps = json.loads(path.read_text())["episodes"]
    env = gym.make(ENV_ID)
    env.reset(seed=123456)
    env.step("hello")  # first-call costs (wrapper checks, lazy imports) outside the loop
    if breakdown:
        totals, restore = instrument(env)
    steps, t0 = 0, time.perf_counter()
    for seed in range(n):
        env.reset(seed=seed % len(eps))
        for action in eps[seed % len(eps)]:
            env.step(action)
            steps += 1
    dt = time.perf_counter() - t0
    if n and not quiet:
        print(f"{steps} steps, {steps / dt:.0f} steps/s, {1e6 * dt / n:.0f} us/episode")
    if breakdown:
        restore()
        print(f"{'part':46s}{'us/step':>9s}{'share':>8s}   (timers add ~0.3 us per call)")
        for label, total in totals.items():
            print(f"{label:46s}{1e6 * total / steps:9.1f}{total / dt:8.1%}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("n", nargs="?", type=int, default=0, help="episodes to replay")
    p.add_argument("--record", action="store_true", help="record the expert's actions")
    p.add_argument("--episodes", type=int, default=300, help="episodes to record")
    p.add_argument("--actions", type=Path, default=ACTIONS)
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--breakdown", action="store_true",
                   help="also time the parts of reset and step (instrumented, so slower)")
    args = p.parse_args()
    if args.record:
        record(args.episodes, args.actions)
    else:
        if not args.actions.exists():
            p.error(f"{args.actions} does not exist; run with --record first")
        replay(args.n, args.actions, args.quiet, args.breakdown)


if __name__ == "__main__":
    main()
