"""Environment speed: dialog-gym steps per second, and TextArena's GuessTheNumber-v0 in
the same run as a peer.

Both are timed on their full interaction loop excluding the agent's own thinking time:
dialog-gym's ``reset`` + ``step`` (the observation comes with the step), TextArena's
``reset`` + ``get_observation`` + ``step`` + ``close`` (a fresh TextArena env per
episode: its default observation wrapper accumulates state across resets). Agent actions
are computed outside the timed region (dialog-gym: the scripted expert, so episodes are realistic;
TextArena: random guesses). The single env is also timed with policy-like replies
(perturbed expert replies, which miss the expert-reference shortcuts and run longer).

    python benchmarks/perf_env.py [--episodes 300] [--num-envs 8] [--semantic-repeats 3]
        [--device cpu] [--only single,vector,semantic,textarena]
        [--out benchmarks/results/perf_env.json]

``--device cuda`` puts the semantic scorer's model on the GPU (the envs themselves are
Python on the CPU); ``--only`` runs a subset of the measurements.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import time
import warnings

import gymnasium as gym
import numpy as np

import dialog_gym
from dialog_gym.agents import make_agent
from dialog_gym.fileio import atomic_write_json

ENV_ID = "Dialog-CustomerService-v0"


def bench_single(episodes: int, reward=None, policy_like: bool = False) -> dict:
    """Single-env steps/s with the expert's replies or (``policy_like``) seeded variants of
    them (see :func:`bench_vector`): those are not the env's own expert reference, fail
    some tool calls and make longer episodes, as a learning policy's replies do."""
    from perf_scorers import _variant

    kwargs = {} if reward is None else {"reward": reward}
    env = gym.make(ENV_ID, **kwargs)
    agent = make_agent("expert", env_id=ENV_ID)
    rng = np.random.default_rng(0)
    steps, timed = 0, 0.0
    for seed in range(episodes):
        t = time.perf_counter()
        obs, _ = env.reset(seed=seed)
        timed += time.perf_counter() - t
        agent.reset()
        done = False
        while not done:
            action = agent.act(obs)
            if policy_like:
                action = _variant(action, rng)
            t = time.perf_counter()
            obs, r, term, trunc, _ = env.step(action)
            timed += time.perf_counter() - t
            steps += 1
            done = term or trunc
    return {"steps": steps, "episodes": episodes, "seconds": timed, "steps_per_s": steps / timed}


def bench_vector(num_envs: int, steps: int, mode: str = "sync", reward=None,
                 policy_like: bool = False) -> dict:
    """Vector env steps/s with expert actions, or (``policy_like``) seeded variants of
    them as a learning policy would write (perf_scorers' ``_variant``: 20% of the words
    dropped, one filler word inserted), so that replies are not the expert's few
    templates that every sub-env's cache already holds."""
    from perf_scorers import _variant

    kwargs = {} if reward is None else {"reward": reward}
    envs = gym.make_vec(ENV_ID, num_envs=num_envs, vectorization_mode=mode, **kwargs)
    agents = [make_agent("expert", env_id=ENV_ID) for _ in range(num_envs)]
    rng = np.random.default_rng(0)
    obs, _ = envs.reset(seed=0)
    timed, n = 0.0, 0
    for _ in range(steps):
        actions = [a.act({k: obs[k][i] for k in obs}) for i, a in enumerate(agents)]
        if policy_like:
            actions = [_variant(a, rng) for a in actions]
        t = time.perf_counter()
        obs, r, term, trunc, _ = envs.step(actions)
        timed += time.perf_counter() - t
        n += num_envs
    envs.close()
    return {"num_envs": num_envs, "mode": mode, "reward": reward, "env_steps": n,
            "seconds": timed, "steps_per_s": n / timed}


def semantic_reward(device: str = "cpu") -> dict:
    """Task success, rule compliance and the neural ``semantic`` scorer on ``device``."""
    return {"task_success": 1.0, "rule_compliance": 1.0,
            "semantic": {"weight": 0.5, "device": device}}


def bench_semantic_vector(num_envs: int, steps: int, device: str = "cpu",
                          repeats: int = 3) -> dict:
    """Batched vector env vs SyncVectorEnv with the neural ``semantic`` scorer on.

    Both run the same seeds and actions, so they see the same texts; the shared encoder's
    cache is cleared before each run, so neither benefits from the other's work. The two
    modes alternate for ``repeats`` rounds and the fastest run of each counts, so the
    first run's one-off costs (kernel and allocator warm-up, Python caches) and drifts in
    machine load fall on both sides alike.
    """
    from dialog_gym.embedding import get_encoder

    enc = get_encoder(device=device)
    enc.encode(["warm up"])  # load the model outside the timed region
    out: dict = {}
    for workload, policy_like in (("expert_replies", False), ("policy_like_replies", True)):
        runs: dict[str, list[dict]] = {"vector_entry_point": [], "sync": []}
        for _ in range(repeats):
            for mode, done in runs.items():
                enc.clear()
                run = bench_vector(num_envs, steps, mode, reward=semantic_reward(device),
                                   policy_like=policy_like)
                run["model_texts_encoded"] = enc.misses
                run["encoder_calls"] = enc.calls
                done.append(run)
        res: dict = {}
        for mode, done in runs.items():
            res[mode] = dict(max(done, key=lambda r: r["steps_per_s"]),
                             all_steps_per_s=[r["steps_per_s"] for r in done])
        res["repeats"] = repeats
        res["ratio_batched_vs_sync"] = (res["vector_entry_point"]["steps_per_s"]
                                        / res["sync"]["steps_per_s"])
        out[workload] = res
    return out


def bench_textarena(episodes: int) -> dict | None:
    try:
        import textarena as ta
    except ImportError:
        return None
    warnings.filterwarnings("ignore")
    rng = random.Random(0)
    steps, timed = 0, 0.0
    for seed in range(episodes):
        # A fresh env per episode (built outside the timed region, as dialog-gym's is):
        # the LLMObservationWrapper that ta.make adds keeps every earlier episode's
        # observations across reset() and re-renders them at each step, so one env reused
        # for 300 episodes ran 5x slower by the end and flattered the ratio (textarena
        # 0.7.4: 6.8k steps/s over 60 episodes, 1.5k over 300; fresh envs: ~100k)
        env = ta.make("GuessTheNumber-v0")
        t = time.perf_counter()
        env.reset(num_players=1, seed=seed)
        timed += time.perf_counter() - t
        done = False
        while not done:
            t = time.perf_counter()
            _pid, _obs = env.get_observation()
            timed += time.perf_counter() - t
            action = f"[{rng.randint(1, 20)}]"
            t = time.perf_counter()
            done, _info = env.step(action=action)
            timed += time.perf_counter() - t
            steps += 1
        t = time.perf_counter()
        env.close()
        timed += time.perf_counter() - t
    return {"steps": steps, "episodes": episodes, "seconds": timed, "steps_per_s": steps / timed,
            "version": getattr(ta, "__version__", "?")}


MEASUREMENTS = ("single", "vector", "semantic", "textarena")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--episodes", type=int, default=300)
    p.add_argument("--num-envs", type=int, default=8)
    p.add_argument("--vector-steps", type=int, default=150)
    p.add_argument("--semantic-steps", type=int, default=40)
    p.add_argument("--semantic-repeats", type=int, default=3,
                   help="alternating rounds of the semantic comparison (best of each)")
    p.add_argument("--device", default="cpu", help="torch device of the semantic scorer")
    p.add_argument("--only", default=",".join(MEASUREMENTS),
                   help=f"comma-separated subset of {','.join(MEASUREMENTS)}")
    p.add_argument("--out", default="benchmarks/results/perf_env.json")
    args = p.parse_args()
    from perf_scorers import _accelerator

    only = set(args.only.split(","))
    if not only <= set(MEASUREMENTS):
        p.error(f"--only: unknown {sorted(only - set(MEASUREMENTS))}; "
                f"choose from {list(MEASUREMENTS)}")

    report: dict = {
        "env_id": ENV_ID,
        "dialog_gym_version": dialog_gym.__version__,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "semantic_device": args.device, "accelerator": _accelerator(args.device)},
    }
    if "single" in only:
        single = report["single_env_default_reward"] = bench_single(args.episodes)
        task_only = report["single_env_task_reward_only"] = bench_single(
            args.episodes, reward={"task_success": 1.0, "rule_compliance": 1.0})
        policy = report["single_env_default_reward_policy_like"] = bench_single(
            args.episodes, policy_like=True)
        print(f"dialog-gym {ENV_ID} (default reward):   {single['steps_per_s']:9.0f} steps/s")
        print(f"dialog-gym {ENV_ID} (policy-like replies): {policy['steps_per_s']:6.0f} steps/s "
              f"({policy['steps'] / policy['episodes']:.1f} steps/episode)")
        print(f"dialog-gym {ENV_ID} (no BLEU/expert):   {task_only['steps_per_s']:9.0f} steps/s")
    if "vector" in only:
        vector = report["vector_sync"] = bench_vector(args.num_envs, args.vector_steps)
        vec_label = f"dialog-gym make_vec sync x{args.num_envs}:"
        print(f"{vec_label:<44}{vector['steps_per_s']:9.0f} env-steps/s")
    if "semantic" in only:
        semantic = report["semantic_vector"] = bench_semantic_vector(
            args.num_envs, args.semantic_steps, args.device, args.semantic_repeats)
        report["ratio_batched_vector_vs_sync_semantic"] = (
            semantic["expert_replies"]["ratio_batched_vs_sync"])
        report["ratio_batched_vector_vs_sync_semantic_policy_like"] = (
            semantic["policy_like_replies"]["ratio_batched_vs_sync"])
        for workload in ("expert_replies", "policy_like_replies"):
            for mode in ("vector_entry_point", "sync"):
                r = semantic[workload][mode]
                label = f"semantic reward ({args.device}), {workload}, {mode} x{args.num_envs}:"
                print(f"{label:<66}{r['steps_per_s']:9.0f} env-steps/s "
                      f"({r['model_texts_encoded']} texts encoded)")
            print(f"ratio batched / SyncVectorEnv (semantic, {workload}): "
                  f"{semantic[workload]['ratio_batched_vs_sync']:9.2f}x")
    if "textarena" in only:
        peer = report["textarena_guess_the_number"] = bench_textarena(args.episodes)
        if peer is None:
            print("TextArena not installed (pip install 'dialog-gym[bench]'): no peer ratio")
        else:
            print(f"TextArena GuessTheNumber-v0 (full loop):    {peer['steps_per_s']:9.0f} steps/s")
            if "single" in only:
                for key, measured, label in (
                        ("ratio_single_vs_textarena", "single_env_default_reward",
                         "dialog-gym"),
                        ("ratio_single_policy_like_vs_textarena",
                         "single_env_default_reward_policy_like", "(policy-like replies)")):
                    ratio = report[key] = report[measured]["steps_per_s"] / peer["steps_per_s"]
                    print(f"{'ratio ' + label + ' / TextArena:':<44}{ratio:9.2f}x")
    atomic_write_json(args.out, report)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
