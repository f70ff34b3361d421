"""The leaderboard: agents x environments x held-out scenarios, reproducible and resumable.

Each *cell* (one agent on one environment) plays the same held-out scenarios, each
``k`` times with different user wording (``pass^k``), and is written atomically to
``OUT/cells/<agent>__<env>.json`` as soon as it finishes. A rerun skips finished cells
whose configuration matches, so an interrupted run resumes without redoing work; an
agent that crashes in a cell is recorded as failed with its error. Trainable agents are
trained with their quick preset (or taken from ``--checkpoints``) before evaluation.

Trainable agents: an agent factory that defines a classmethod
``quick_train(env_id: str, out_dir: str, *, seed: int = 0, env_kwargs: dict | None = None)
-> dict`` is trained by the leaderboard (``env_kwargs``: ``gym.make`` arguments of its
training envs, e.g. the corpus env's train split); the returned dict is the keyword
arguments that build the trained agent (e.g. ``{"path": out_dir}``) and is saved as
``OUT/checkpoints/<agent>/<env>/agent.json``.
Passing an agent's arguments explicitly (``--agent-kw llm:model=runs/x/ppo``) skips its
training.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
import subprocess
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from dialog_gym.error import ConfigError
from dialog_gym.evaluation import bootstrap_ci
from dialog_gym.fileio import atomic_write_json

# (gym.make arguments of evaluation and training per env id, e.g. the corpus env's test
# and train splits, are declared with each env's registration)
from dialog_gym.registration import EVAL_ENV_KWARGS, TRAIN_ENV_KWARGS

#: Scenario seeds of the leaderboard start here; training uses seeds below it.
HELD_OUT_SEED = 100_000
#: Anchors of the normalised score (random = 0, expert = 1 per env).
ANCHORS = ("random", "expert")



@dataclass
class LeaderboardConfig:
    """What to run.

    Attributes:
        agents: Agent names (``None``: every registered agent, plugins included).
        envs: Env ids (``None``: every registered dialog-gym id).
        seeds: Number of held-out scenarios per cell.
        k: Reruns of each scenario (with different user wording) for ``pass^k``.
        workers: Parallel processes.
        out: Output folder.
        checkpoints: Folder with trained agents (``<agent>/<env>/agent.json``), or None.
        quick: Use the quick presets (small budgets) for trainable agents.
        backend: ``"process"`` or ``"ray"``.
        agent_kwargs: Extra constructor arguments per agent name.
        exclude: Agent names left out when ``agents`` is None.
        train_envs: Envs on which trainable agents are trained and evaluated (``None``:
            every env). The quick preset uses ``Dialog-CustomerService-v0`` only, so that
            training fits its time budget.
        env_kwargs: ``gym.make`` keyword arguments of the evaluated envs, by env id
            (default :data:`EVAL_ENV_KWARGS`: the corpus env's test split).
        train_env_kwargs: ``gym.make`` keyword arguments of the training envs, passed to
            ``quick_train(..., env_kwargs=...)`` (default :data:`TRAIN_ENV_KWARGS`: the
            corpus env's train split).
        save_trajectories: Also write each cell's episodes as chat trajectories to
            ``<out>/trajectories/<agent>__<env>.jsonl``
            (:func:`dialog_gym.evaluation.trajectory_record`).
    """

    agents: list[str] | None = None
    envs: list[str] | None = None
    seeds: int = 20
    k: int = 2
    workers: int = 2
    out: str = "results/leaderboard"
    checkpoints: str | None = None
    quick: bool = False
    backend: str = "process"
    agent_kwargs: dict[str, dict[str, Any]] = field(default_factory=dict)
    exclude: list[str] = field(default_factory=list)
    train_envs: list[str] | None = None
    env_kwargs: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {k: dict(v) for k, v in EVAL_ENV_KWARGS.items()})
    train_env_kwargs: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {k: dict(v) for k, v in TRAIN_ENV_KWARGS.items()})
    save_trajectories: bool = False


# ----------------------------------------------------------------------------- statistics


def wilson_ci(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a success rate.

    Example:
        >>> lo, hi = wilson_ci(8, 10)
        >>> round(lo, 3), round(hi, 3)
        (0.49, 0.943)
    """
    if n == 0:
        return (math.nan, math.nan)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def pass_hat_k(successes_per_scenario: Sequence[Sequence[bool]], k: int) -> float:
    """tau-bench's pass^k: chance that all of ``k`` reruns of a scenario succeed.

    With ``n`` reruns and ``c`` successes per scenario, the unbiased estimate is
    ``C(c, k) / C(n, k)``, averaged over scenarios.
    """
    vals = []
    for runs in successes_per_scenario:
        n, c = len(runs), sum(bool(x) for x in runs)
        if n < k:
            raise ConfigError(f"pass^{k} needs >= {k} reruns per scenario, got {n}")
        vals.append(math.comb(c, k) / math.comb(n, k))
    return float(np.mean(vals)) if vals else math.nan


# ----------------------------------------------------------------------------- cells


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def write_json_atomic(path: str, data: Any) -> None:
    """Write JSON (sorted keys, unknown objects as ``str``) to ``path`` atomically."""
    atomic_write_json(path, data, sort_keys=True, default=str)


def cell_path(out: str, agent: str, env_id: str) -> str:
    """Where a cell's result lives."""
    return os.path.join(out, "cells", f"{agent}__{env_id}.json")


def trajectories_path(out: str, agent: str, env_id: str) -> str:
    """Where a cell's trajectories live (with ``save_trajectories``)."""
    return os.path.join(out, "trajectories", f"{agent}__{env_id}.jsonl")


def run_cell(agent: str, agent_kwargs: Mapping[str, Any], env_id: str, seeds: int, k: int,
             seed0: int = HELD_OUT_SEED,
             env_kwargs: Mapping[str, Any] | None = None,
             trajectories: str | None = None) -> dict[str, Any]:
    """Evaluate one agent on one env: ``seeds`` scenarios x ``k`` reruns. Never raises.

    ``env_kwargs`` go to ``gym.make`` (e.g. ``{"split": "test"}`` for the corpus env);
    ``trajectories`` names a JSONL file for the episodes as chat trajectories.
    """
    import gymnasium as gym

    import dialog_gym  # noqa: F401  (registers ids)
    from dialog_gym.agents import make_agent
    from dialog_gym.evaluation import TrajectoryWriter, run_episode

    t0 = time.perf_counter()
    writer = None
    try:
        a = make_agent(agent, env_id=env_id, **dict(agent_kwargs))
        env = gym.make(env_id, **dict(env_kwargs or {}))
        if trajectories:
            writer = TrajectoryWriter(trajectories + ".part", {"agent": agent})
        episodes = []
        for s in range(seeds):
            _, info = env.reset(seed=seed0 + s)
            sid = info["scenario_id"]
            for r in range(k):
                rec = run_episode(env, a, seed=(seed0 + s) * 1000 + r,
                                  options={"scenario_id": sid}, trajectory=writer is not None)
                rec.pop("transcript", None)
                rec["scenario"] = s
                rec["rerun"] = r
                if writer is not None:
                    writer.write({**rec.pop("trajectory"), "scenario": s, "rerun": r})
                episodes.append(rec)
        env.close()
        if writer is not None:
            writer.close()
            os.replace(writer.path, trajectories)
        signature = getattr(env.unwrapped.reward_fn, "signature", lambda: "")()
        weights = dict(getattr(env.unwrapped.reward_fn, "weights", {}) or {})
    except Exception as e:  # a crashing agent is a result, not a reason to stop
        if writer is not None:
            writer.close()
        return {"agent": agent, "env_id": env_id, "status": "failed",
                "error": f"{type(e).__name__}: {e}",
                "traceback": traceback.format_exc(limit=8)}
    return {"agent": agent, "env_id": env_id, "status": "ok", "episodes": episodes,
            "env_kwargs": dict(env_kwargs or {}), "reward_signature": signature,
            "reward_weights": weights,
            "seconds": time.perf_counter() - t0,
            **summarize(episodes, k)}


def summarize(episodes: Sequence[Mapping[str, Any]], k: int) -> dict[str, Any]:
    """Metrics of a cell from its episode records."""
    returns = [e["return"] for e in episodes]
    succ = [bool(e["success"]) for e in episodes]
    by_scn: dict[int, list[bool]] = {}
    for e in episodes:
        by_scn.setdefault(e["scenario"], []).append(bool(e["success"]))
    names = sorted({n for e in episodes for n in e["scores"]})
    return {
        "n_episodes": len(episodes),
        "mean_return": float(np.mean(returns)),
        "return_ci95": list(bootstrap_ci(returns)),
        "success_rate": float(np.mean(succ)),
        "success_ci95": list(wilson_ci(sum(succ), len(succ))),
        f"pass^{k}": pass_hat_k(list(by_scn.values()), k),
        "mean_turns": float(np.mean([e["turns"] for e in episodes])),
        "violations_per_episode": float(np.mean([e["violations"] for e in episodes])),
        "scores": {n: float(np.mean([e["scores"].get(n, 0.0) for e in episodes]))
                   for n in names},
    }


# ----------------------------------------------------------------------------- training


def trained_kwargs(agent: str, env_id: str, cfg: LeaderboardConfig) -> dict[str, Any] | None:
    """Constructor kwargs of a trained agent: from checkpoints, the run folder, or training.

    Training gets ``env_kwargs=cfg.train_env_kwargs[env_id]`` where there are any (the
    corpus env's train split); a plugin whose ``quick_train`` takes no ``env_kwargs``
    trains on the default env, with a warning. Returns None for agents that are not
    trainable.
    """
    from dialog_gym.agents import agent_registry

    factory = agent_registry.resolve(agent)
    train = getattr(factory, "quick_train", None)
    if train is None or cfg.agent_kwargs.get(agent):
        return None  # not trainable, or the user passed the trained agent's arguments
    for root in [cfg.checkpoints, os.path.join(cfg.out, "checkpoints")]:
        if root:
            meta = os.path.join(root, agent, env_id, "agent.json")
            if os.path.exists(meta):
                with open(meta, encoding="utf-8") as f:
                    return json.load(f)["kwargs"]
    if cfg.checkpoints and not cfg.quick:
        raise ConfigError(
            f"no checkpoint for {agent} on {env_id} under {cfg.checkpoints}; pass --quick to "
            "train it with its quick preset"
        )
    out_dir = os.path.join(cfg.out, "checkpoints", agent, env_id)
    os.makedirs(out_dir, exist_ok=True)
    t0 = time.perf_counter()
    ekw = dict(cfg.train_env_kwargs.get(env_id, {}))
    if ekw and "env_kwargs" not in inspect.signature(train).parameters:
        warnings.warn(f"{agent}.quick_train takes no env_kwargs: it trains on the default "
                      f"{env_id} instead of {ekw}, which may hold the evaluation data",
                      UserWarning, stacklevel=2)
        ekw = {}
    kwargs = train(env_id, out_dir, seed=0, **({"env_kwargs": ekw} if ekw else {}))
    write_json_atomic(os.path.join(out_dir, "agent.json"),
                      {"agent": agent, "env_id": env_id, "kwargs": kwargs,
                       "train_env_kwargs": ekw, "seconds": time.perf_counter() - t0})
    return kwargs


def _train_job(agent: str, env_id: str, cfg_dict: dict[str, Any]) -> tuple[str, str, Any]:
    cfg = LeaderboardConfig(**cfg_dict)
    try:
        return agent, env_id, trained_kwargs(agent, env_id, cfg)
    except Exception as e:
        return agent, env_id, {"__error__": f"{type(e).__name__}: {e}",
                               "traceback": traceback.format_exc(limit=8)}


def _cell_job(agent: str, kwargs: dict[str, Any], env_id: str, seeds: int, k: int,
              path: str, config_hash: str, env_kwargs: dict[str, Any],
              trajectories: str | None = None) -> dict[str, Any]:
    res = run_cell(agent, kwargs, env_id, seeds, k, env_kwargs=env_kwargs,
                   trajectories=trajectories)
    res["config_hash"] = config_hash
    write_json_atomic(path, res)
    return res


# ----------------------------------------------------------------------------- the run


def resolve_agents(cfg: LeaderboardConfig) -> list[str]:
    """Agent names to evaluate (anchors always included)."""
    import warnings

    from dialog_gym.agents import agent_registry

    if cfg.agents:
        names = list(cfg.agents)
        known = agent_registry.names()
        for n in names:
            if n not in known:
                from dialog_gym.error import RegistryError, did_you_mean

                raise RegistryError(f"Unknown agent {n!r}; registered: {', '.join(known)}."
                                    + did_you_mean(n, known))
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            names = [n for n in agent_registry.names(check=True) if n not in cfg.exclude]
    for a in ANCHORS:
        if a not in names:
            names.append(a)
    return names


def _limit_threads(n: int) -> None:
    """Worker initializer: share the cores between workers instead of oversubscribing them."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(n))
    try:
        import torch

        torch.set_num_threads(n)
    except ImportError:
        pass


def _map(backend: str, workers: int, fn: Callable[..., Any], jobs: list[tuple[Any, ...]],
         desc: str) -> list[Any]:
    """Run ``fn(*job)`` for every job; results in completion order, with a progress bar."""
    from tqdm.auto import tqdm

    if not jobs:
        return []
    if backend == "ray":
        try:
            import ray
        except ImportError as e:
            from dialog_gym.error import DependencyNotInstalled

            raise DependencyNotInstalled(
                "--backend ray needs ray: pip install 'dialog-gym[ray]'") from e
        if not ray.is_initialized():
            ray.init(ignore_reinit_error=True, include_dashboard=False,
                     num_cpus=max(1, workers), log_to_driver=False)
        remote = ray.remote(fn)
        refs = [remote.remote(*j) for j in jobs]
        out = []
        with tqdm(total=len(refs), desc=desc) as bar:
            pending = list(refs)
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                out.append(ray.get(done[0]))
                bar.update(1)
        return out
    if backend != "process":
        raise ConfigError(f"backend must be 'process' or 'ray', got {backend!r}")
    if workers <= 1:
        return [fn(*j) for j in tqdm(jobs, desc=desc)]
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    out = []
    threads = max(1, (os.cpu_count() or 1) // workers)
    ex = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                             initializer=_limit_threads, initargs=(threads,))
    try:
        futs = [ex.submit(fn, *j) for j in jobs]
        for f in tqdm(as_completed(futs), total=len(futs), desc=desc):
            out.append(f.result())
    except BaseException:
        # Ctrl-C (or a failure): stop at once instead of waiting for the running jobs;
        # finished cells are on disk already and a rerun resumes from them
        procs = list(getattr(ex, "_processes", {}).values())
        ex.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            proc.terminate()
        raise
    ex.shutdown(wait=True)
    return out


#: The last measured quick leaderboard from empty checkpoints (all agents, all envs), for
#: the up-front estimate; ``benchmarks/leaderboard.py`` measures it again.
QUICK_MEASURED = {"minutes": 8.7, "cpus": 2, "load": "0.8-2.2"}


def _say_plan(trainable: list[str], train_envs: list[str], agents: list[str],
              envs: list[str], cfg: LeaderboardConfig) -> None:
    """Print, before any work, what the run will train and evaluate."""
    import sys

    n_cells = sum(1 for a in agents for e in envs if a not in trainable or e in train_envs)
    lines = [f"dialog-gym leaderboard: {len(agents)} agents x {len(envs)} envs = {n_cells} "
             f"cells of {cfg.seeds} scenarios x {cfg.k} episodes, {cfg.workers} worker(s); "
             f"results in {cfg.out}/ (finished cells are kept: a rerun resumes)"]
    if trainable and train_envs:
        how = "quick presets" if cfg.quick else "full presets"
        where = cfg.checkpoints or os.path.join(cfg.out, "checkpoints")
        lines.append(f"  first trains {', '.join(trainable)} on {', '.join(train_envs)} "
                     f"({how}; saved under {where}/ and reused by later runs)")
    if cfg.quick and cfg.agents is None and cfg.envs is None:
        m = QUICK_MEASURED
        lines.append(f"  expected: about {m['minutes']:.0f} minutes on {m['cpus']} CPU cores from "
                     f"empty checkpoints with every agent and env (measured at load "
                     f"{m['load']}); much less when the checkpoints exist. Ctrl-C stops; a "
                     "rerun resumes")
    print("\n".join(lines), file=sys.stderr, flush=True)


def run_leaderboard(cfg: LeaderboardConfig) -> dict[str, Any]:
    """Run (or resume) the leaderboard and write every report; returns the JSON report."""
    import dialog_gym
    from dialog_gym.report import write_reports

    if cfg.seeds < 1 or cfg.k < 1:
        raise ConfigError(f"need seeds >= 1 and k >= 1, got seeds={cfg.seeds}, k={cfg.k}")
    from dialog_gym.registration import check_env_id

    envs = [check_env_id(e) for e in (cfg.envs or dialog_gym.env_ids())]
    agents = resolve_agents(cfg)
    os.makedirs(cfg.out, exist_ok=True)
    cfg_dict = asdict(cfg)

    # 1. trainable agents: train (or load) once per env
    from dialog_gym.agents import agent_registry

    trainable = []
    for a in agents:
        try:
            if getattr(agent_registry.resolve(a), "quick_train", None) is not None:
                trainable.append(a)
        except Exception:  # broken plugin: its cells will record the error
            pass
    train_envs = [e for e in envs if cfg.train_envs is None or e in cfg.train_envs]
    _say_plan(trainable, train_envs, agents, envs, cfg)
    train_results = _map(cfg.backend, cfg.workers, _train_job,
                         [(a, e, cfg_dict) for a in trainable for e in train_envs], "training")
    trained = {(a, e): kw for a, e, kw in train_results}

    # 2. cells
    jobs = []
    cached: list[dict[str, Any]] = []
    for a in agents:
        for e in envs:
            if a in trainable and e not in train_envs:
                continue
            kw = dict(cfg.agent_kwargs.get(a, {}))
            t = trained.get((a, e))
            if isinstance(t, dict) and "__error__" in t:
                res = {"agent": a, "env_id": e, "status": "failed",
                       "error": "training failed: " + t["__error__"],
                       "traceback": t.get("traceback", "")}
                write_json_atomic(cell_path(cfg.out, a, e), res)
                cached.append(res)
                continue
            if t:
                kw.update(t)
            ekw = dict(cfg.env_kwargs.get(e, {}))
            chash = _hash({"agent": a, "env": e, "kwargs": kw, "seeds": cfg.seeds, "k": cfg.k,
                           "seed0": HELD_OUT_SEED, "version": dialog_gym.__version__,
                           **({"env_kwargs": ekw} if ekw else {})})
            path = cell_path(cfg.out, a, e)
            traj = trajectories_path(cfg.out, a, e) if cfg.save_trajectories else None
            if os.path.exists(path) and (traj is None or os.path.exists(traj)):
                with open(path, encoding="utf-8") as f:
                    old = json.load(f)
                if old.get("config_hash") == chash and old.get("status") == "ok":
                    cached.append(old)
                    continue
            jobs.append((a, kw, e, cfg.seeds, cfg.k, path, chash, ekw, traj))
    fresh = _map(cfg.backend, cfg.workers, _cell_job, jobs, "evaluating")
    cells = sorted(cached + fresh, key=lambda c: (c["agent"], c["env_id"]))
    report = build_report(cells, cfg, envs, agents)
    write_reports(report, cfg.out)
    return report


def build_report(cells: list[dict[str, Any]], cfg: LeaderboardConfig, envs: list[str],
                 agents: list[str]) -> dict[str, Any]:
    """Normalised scores, ranking and metadata around the cells."""
    import dialog_gym

    by = {(c["agent"], c["env_id"]): c for c in cells}
    for c in cells:
        c.pop("seconds", None)  # timing is not part of the (reproducible) table
        if c.get("status") != "ok":
            continue
        lo = by.get(("random", c["env_id"]), {}).get("mean_return")
        hi = by.get(("expert", c["env_id"]), {}).get("mean_return")
        if lo is not None and hi is not None and hi - lo > 1e-9:
            c["normalized_score"] = (c["mean_return"] - lo) / (hi - lo)
        else:
            c["normalized_score"] = None
    ranking = []
    for a in agents:
        ns = [by[(a, e)]["normalized_score"] for e in envs
              if by.get((a, e), {}).get("status") == "ok"
              and by[(a, e)].get("normalized_score") is not None]
        failed = [e for e in envs if (a, e) in by and by[(a, e)].get("status") != "ok"]
        ranking.append({"agent": a, "mean_normalized_score": float(np.mean(ns)) if ns else None,
                        "envs_scored": len(ns), "failed_envs": failed,
                        "complete": len(ns) == len(envs)})
    # Only agents scored on every env are ranked against each other: a mean over one env
    # is not comparable with a mean over seven. The others follow, unranked.
    ranking.sort(key=lambda r: (not r["complete"], r["mean_normalized_score"] is None,
                                -(r["mean_normalized_score"] or 0.0), r["agent"]))
    rank = 0
    for r in ranking:
        if r["complete"]:
            rank += 1
        r["rank"] = rank if r["complete"] else None
    env_rankings = {}
    for e in envs:
        ok = [by[(a, e)] for a in agents if by.get((a, e), {}).get("status") == "ok"]
        ok.sort(key=lambda c: (-c["mean_return"], c["agent"]))
        env_rankings[e] = [{"rank": i, "agent": c["agent"], "mean_return": c["mean_return"],
                            "success_rate": c["success_rate"],
                            "normalized_score": c.get("normalized_score")}
                           for i, c in enumerate(ok, 1)]
    return {
        "meta": {
            "dialog_gym_version": dialog_gym.__version__,
            "git_commit": _git_commit(),
            "python": sys.version.split()[0],
            "envs": envs,
            "agents": agents,
            "seeds": cfg.seeds,
            "k": cfg.k,
            "first_seed": HELD_OUT_SEED,
            "quick": cfg.quick,
            "train_envs": cfg.train_envs,
            "env_kwargs": {e: cfg.env_kwargs[e] for e in envs if cfg.env_kwargs.get(e)},
            "train_env_kwargs": {e: cfg.train_env_kwargs[e] for e in envs
                                 if cfg.train_env_kwargs.get(e)
                                 and (cfg.train_envs is None or e in cfg.train_envs)},
            "reward_signatures": {e: next((c.get("reward_signature") for c in cells
                                           if c["env_id"] == e and c.get("reward_signature")),
                                          None) for e in envs},
        },
        "ranking": ranking,
        "env_rankings": env_rankings,
        "cells": [{k: v for k, v in c.items() if k != "episodes"} for c in cells],
    }


def _git_commit() -> str | None:
    try:
        here = os.path.dirname(os.path.abspath(__file__))
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or None
    except Exception:
        return None
