"""Behaviour fingerprint of every registered env, to check that a speed change is exact.

Plays each ``Dialog-*`` env with the scripted expert, the random agent, a perturbed
expert (words dropped or repeated, tool calls mangled, rude or stuffed replies, the
user echoed, replies repeated: the degenerate and noisy paths) and the probe agents,
then hashes every observation, reward, termination flag and info (floats by ``repr``),
plus the env's RNG state at the end of each episode. Some episodes reseed at reset,
others continue the RNG stream. A batched vector env is fingerprinted too.

    python benchmarks/trace_digest.py --save /tmp/before.json    # before the change
    python benchmarks/trace_digest.py --check /tmp/before.json   # after: exit 1 on a diff

A speed change that keeps every digest is exact on these paths; a difference names the
env and agent whose behaviour moved (then ``--dump`` the two traces and diff them).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from typing import Any

import gymnasium as gym
import numpy as np

import dialog_gym  # noqa: F401  (registers the envs)
from dialog_gym.agents import make_agent
from dialog_gym.registration import env_ids

_RUDE = ["shut up", "whatever, idiot", "this is stupid"]
_FILLER = ["please", "order", "refund", "sorry", "what is your email?", "track", "okay"]


class Perturbed:
    """The expert's reply, perturbed with a seeded RNG (a noisy learning policy)."""

    def __init__(self, env_id: str, seed: int) -> None:
        self.expert = make_agent("expert", env_id=env_id)
        self.rng = np.random.default_rng(seed)
        self.last = ""

    def reset(self) -> None:
        self.expert.reset()

    def act(self, obs: dict[str, Any]) -> str:
        reply = self.expert.act(obs)
        u = self.rng.random()
        words = reply.split()
        if u < 0.15 and words:  # drop words
            keep = self.rng.random(len(words)) > 0.3
            reply = " ".join(w for w, k in zip(words, keep, strict=True) if k)
        elif u < 0.25:  # repeat the last reply
            reply = self.last or reply
        elif u < 0.33:  # echo the user
            lines = [ln for ln in obs["history"].splitlines() if not ln.startswith("Agent")]
            reply = lines[-1].split(": ", 1)[-1] if lines else reply
        elif u < 0.40:
            reply = f"{reply} {_RUDE[int(self.rng.integers(len(_RUDE)))]}"
        elif u < 0.47:  # keyword stuffing
            reply = " ".join(self.rng.choice(_FILLER, size=8))
        elif u < 0.53:  # mangled tool call
            reply = reply.replace("]", "", 1).replace("=", " = ", 1)
        elif u < 0.58:
            reply = ""
        elif u < 0.62:
            reply = reply.upper() + " ünïcödé ✓"
        elif u < 0.65:
            reply = reply * 40  # over-long: truncated
        self.last = reply
        return reply


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in sorted(x.items(), key=lambda kv: str(kv[0]))}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (bool, str, type(None))):
        return x
    if isinstance(x, (int, np.integer)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return repr(float(x))
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    return repr(x)


def _rng_state(env: gym.Env) -> str:
    return json.dumps(_jsonable(env.unwrapped.np_random.bit_generator.state), sort_keys=True)


def play(env_id: str, agent: Any, episodes: int, seed0: int, dump: list | None) -> str:
    h = hashlib.sha256()
    env = gym.make(env_id)
    for ep in range(episodes):
        # every third episode continues the RNG stream instead of reseeding
        obs, info = env.reset(seed=None if ep % 3 == 2 else seed0 + ep)
        if hasattr(agent, "reset"):
            agent.reset()
        rec = [_jsonable(obs), _jsonable(info)]
        done = False
        while not done:
            action = agent.act(obs)
            obs, r, term, trunc, info = env.step(action)
            rec.append([action, _jsonable(obs), repr(float(r)), term, trunc, _jsonable(info)])
            done = term or trunc
        rec.append(_rng_state(env))
        blob = json.dumps(rec, sort_keys=True, ensure_ascii=True)
        h.update(blob.encode())
        if dump is not None:
            dump.append(rec)
    env.close()
    return h.hexdigest()


def play_vector(env_id: str, num_envs: int, steps: int, seed: int) -> str:
    h = hashlib.sha256()
    envs = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point")
    agents = [Perturbed(env_id, seed + i) for i in range(num_envs)]
    obs, info = envs.reset(seed=seed)
    h.update(json.dumps(_jsonable([obs, info]), sort_keys=True).encode())
    for _ in range(steps):
        actions = [a.act({k: obs[k][i] for k in obs}) for i, a in enumerate(agents)]
        obs, r, term, trunc, info = envs.step(actions)
        h.update(json.dumps(_jsonable([actions, obs, r, term, trunc, info]),
                            sort_keys=True).encode())
    envs.close()
    return h.hexdigest()


def digests(episodes: int, dump_dir: str | None = None) -> dict[str, str]:
    out: dict[str, str] = {}
    for env_id in env_ids():
        agents = {
            "expert": make_agent("expert", env_id=env_id),
            "random": make_agent("random", seed=1),
            "perturbed": Perturbed(env_id, seed=2),
            "echo": make_agent("echo", env_id=env_id),
            "keyword-stuffing": make_agent("keyword-stuffing", env_id=env_id),
            "repeat": make_agent("repeat", env_id=env_id),
        }
        for name, agent in agents.items():
            n = episodes if name in ("expert", "perturbed") else max(1, episodes // 5)
            dump: list | None = [] if dump_dir else None
            out[f"{env_id}/{name}"] = play(env_id, agent, n, 1000, dump)
            if dump_dir:
                import os

                os.makedirs(dump_dir, exist_ok=True)
                with open(os.path.join(dump_dir, f"{env_id}_{name}.json"), "w") as f:
                    json.dump(dump, f, indent=1, sort_keys=True)
        out[f"{env_id}/vector"] = play_vector(env_id, 3, 30, 7)
        print(f"{env_id}: done", file=sys.stderr)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--episodes", type=int, default=100)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--save", help="write the digests to this JSON file")
    g.add_argument("--check", help="compare with digests saved by --save; exit 1 on a diff")
    p.add_argument("--dump", help="also write every trace as JSON into this folder")
    args = p.parse_args()
    got = digests(args.episodes, args.dump)
    if args.save:
        with open(args.save, "w") as f:
            json.dump({"episodes": args.episodes, "digests": got}, f, indent=1)
        print(f"wrote {len(got)} digests to {args.save}")
        return
    with open(args.check) as f:
        want = json.load(f)
    if want["episodes"] != args.episodes:
        p.error(f"{args.check} was saved with --episodes {want['episodes']}")
    bad = [k for k in sorted(set(want["digests"]) | set(got))
           if want["digests"].get(k) != got.get(k)]
    for k in bad:
        print(f"DIFFERENT: {k}")
    print(f"{len(got) - len(bad)}/{len(got)} digests equal")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
