"""Learning benchmark: SB3 PPO and A2C on Dialog-CustomerService-v0 with CandidateActions.

Each algorithm trains for a fixed budget of env steps on each of several seeds; every
``eval_every`` steps the agent is evaluated on held-out episodes (seeds ``eval_seed ..
eval_seed + eval_episodes - 1``), through :func:`dialog_gym.evaluation.evaluate` on the
*raw* env, the way ``dialog-gym evaluate`` plays it. The baselines are evaluated on the
same seeds:

- ``expert``: the env's scripted expert (what the candidates' right answer comes from);
- ``random``: random text;
- ``random-candidate``: uniform choice among the same ``k`` candidates (the fair
  reference of a candidate-choosing agent);
- ``retrieval``: nearest neighbour over expert demonstrations (optional, ``--retrieval``).

Outputs (in ``--out``): ``learning_sb3.json`` (configuration, baselines, learning curves
per algorithm and seed, summary, target checks, wall times, and the number of training
scenarios that also appear in the evaluation set) and ``learning_sb3.png`` (mean return
and success rate against env steps, mean and range over seeds, baselines as lines).

The issue's target: PPO within 50k steps reaches >= 80% of the expert's mean return and
>= 3x the success rate of random, over 3 seeds (checked against both ``random`` and
``random-candidate``).

Usage::

    python benchmarks/learning_sb3.py                 # 2 algos x 3 seeds x 50k steps
    python benchmarks/learning_sb3.py --smoke         # tiny budget, as run in CI
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dialog_gym.fileio import atomic_write_text


@dataclass
class Config:
    """Configuration of the benchmark (every field is a command-line flag)."""

    env_id: str = "Dialog-CustomerService-v0"
    """environment id"""
    algos: list[str] = field(default_factory=lambda: ["ppo", "a2c"])
    """SB3 algorithms to train (ppo, a2c, dqn, maskable-ppo)"""
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    """training seeds"""
    steps: int = 50_000
    """training budget per run, in env steps"""
    eval_every: int = 5_000
    """env steps between held-out evaluations"""
    eval_episodes: int = 100
    """held-out episodes per evaluation"""
    eval_seed: int = 100_000
    """seed of the first held-out episode"""
    k: int = 6
    """candidate replies per step"""
    observation: str = "tokens"
    """network input: tokens or embedding"""
    same_act_distractors: bool = False
    """harder candidates: distractors may be the expert's act with other ids/amounts"""
    n_envs: int = 4
    """parallel training envs per run"""
    threads: int = 1
    """torch CPU threads (1 is fastest on a shared 2-core machine)"""
    retrieval: bool = False
    """also evaluate the retrieval baseline"""
    out: str = "benchmarks/results"
    """output directory"""
    name: str = "learning_sb3"
    """file name stem of the outputs"""


SMOKE = {"seeds": [0], "steps": 256, "eval_every": 256, "eval_episodes": 3, "n_envs": 1}


def _eval(agent: Any, cfg: Config) -> dict[str, Any]:
    from dialog_gym.evaluation import evaluate

    r = evaluate(agent, cfg.env_id, episodes=cfg.eval_episodes, seed=cfg.eval_seed)
    return {"mean_return": r["mean_return"], "ci95": r["ci95"],
            "success_rate": r["success_rate"], "mean_turns": r["mean_turns"],
            "scenarios": [rec["scenario_id"] for rec in r["records"]]}


def baselines(cfg: Config) -> dict[str, dict[str, Any]]:
    """Evaluate the reference agents on the held-out seeds."""
    from dialog_gym.agents import make_agent

    names = ["expert", "random", "random-candidate"] + (["retrieval"] if cfg.retrieval else [])
    out = {}
    for name in names:
        kw: dict[str, Any] = {"env_id": cfg.env_id}
        if name == "random-candidate":
            kw.update(k=cfg.k, same_act_distractors=cfg.same_act_distractors)
        t = time.perf_counter()
        out[name] = _eval(make_agent(name, **kw), cfg)
        out[name]["wall_s"] = round(time.perf_counter() - t, 2)
        print(f"[baseline] {name:<17} return {out[name]['mean_return']:+.3f}  success "
              f"{out[name]['success_rate']:.1%}", flush=True)
    return out


def _scenario_recorder(seen: set[str]) -> Any:
    from stable_baselines3.common.callbacks import BaseCallback

    class ScenarioRecorder(BaseCallback):
        """Collects the scenario ids of the training episodes."""

        def _on_step(self) -> bool:
            for info in self.locals.get("infos", ()):
                sid = info.get("scenario_id")
                if sid is not None:
                    seen.add(str(sid))
            return True

    return ScenarioRecorder()


def run(cfg: Config, algo: str, seed: int, eval_ids: set[str]) -> dict[str, Any]:
    """Train one agent, evaluating every ``eval_every`` steps."""
    from dialog_gym.agents import make_agent

    agent = make_agent(f"sb3-{algo}", env_id=cfg.env_id, seed=seed, k=cfg.k,
                       observation=cfg.observation, n_envs=cfg.n_envs,
                       same_act_distractors=cfg.same_act_distractors)
    seen: set[str] = set()
    recorder = _scenario_recorder(seen)
    curve = []
    train_s = eval_s = 0.0
    t = time.perf_counter()
    point = _eval(agent, cfg)
    eval_s += time.perf_counter() - t
    curve.append({"steps": 0, **{k: v for k, v in point.items() if k != "scenarios"}})
    hp = agent.config["hyperparams"]
    # on-policy algorithms collect whole rollouts: train in multiples of one, so the
    # budget is never exceeded
    rollout = int(hp.get("n_steps", 1)) * cfg.n_envs if algo != "dqn" else cfg.n_envs
    steps = 0
    try:
        while True:
            chunk = min(cfg.eval_every, cfg.steps - steps) // rollout * rollout
            if chunk <= 0:
                break
            t = time.perf_counter()
            agent.learn(chunk, callback=recorder)
            train_s += time.perf_counter() - t
            steps = int(agent.model.num_timesteps)
            t = time.perf_counter()
            point = _eval(agent, cfg)
            eval_s += time.perf_counter() - t
            curve.append({"steps": steps, **{k: v for k, v in point.items()
                                             if k != "scenarios"}})
            print(f"[{algo} seed {seed}] {steps:>6} steps  return {point['mean_return']:+.3f}  "
                  f"success {point['success_rate']:.1%}  (train {train_s:.0f}s)", flush=True)
    finally:
        agent.close()
    return {"algo": algo, "seed": seed, "curve": curve, "train_wall_s": round(train_s, 1),
            "eval_wall_s": round(eval_s, 1), "train_ms_per_step": round(
                1000 * train_s / max(steps, 1), 2),
            "training_scenarios": len(seen),
            "training_scenarios_in_eval_set": len(seen & eval_ids)}


def summarize(cfg: Config, base: dict[str, Any], runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Final numbers per algorithm against the baselines, and the issue's target checks."""
    expert_ret = base["expert"]["mean_return"]
    rand_succ = base["random"]["success_rate"]
    cand_succ = base["random-candidate"]["success_rate"]
    out: dict[str, Any] = {}
    for algo in cfg.algos:
        rs = [r for r in runs if r["algo"] == algo]
        finals = [r["curve"][-1] for r in rs]
        ret = np.array([f["mean_return"] for f in finals])
        succ = np.array([f["success_rate"] for f in finals])
        reach = []
        for r in rs:
            hit = next((p["steps"] for p in r["curve"]
                        if p["mean_return"] >= 0.8 * expert_ret), None)
            reach.append(hit)
        out[algo] = {
            "steps": int(max(r["curve"][-1]["steps"] for r in rs)),
            "final_mean_return": float(ret.mean()),
            "final_mean_return_per_seed": ret.round(4).tolist(),
            "final_success_rate": float(succ.mean()),
            "final_success_rate_per_seed": succ.round(4).tolist(),
            "return_fraction_of_expert": float(ret.mean() / expert_ret),
            "min_return_fraction_of_expert": float(ret.min() / expert_ret),
            "success_vs_random": (float(succ.mean() / rand_succ) if rand_succ > 0
                                  else None),
            "success_vs_random_candidate": (float(succ.mean() / cand_succ) if cand_succ > 0
                                            else None),
            "steps_to_80pct_expert_per_seed": reach,
            "train_wall_s_per_seed": [r["train_wall_s"] for r in rs],
            "train_ms_per_step": float(np.mean([r["train_ms_per_step"] for r in rs])),
            "targets": {
                "return_ge_80pct_expert_mean_over_seeds": bool(ret.mean() >= 0.8 * expert_ret),
                "return_ge_80pct_expert_every_seed": bool(ret.min() >= 0.8 * expert_ret),
                "success_ge_3x_random": bool(succ.mean() >= 3 * rand_succ and succ.mean() > 0),
                "success_ge_3x_random_candidate": bool(succ.mean() >= 3 * cand_succ
                                                       and succ.mean() > 0),
            },
        }
    return out


def plot(cfg: Config, base: dict[str, Any], runs: list[dict[str, Any]], path: Path) -> bool:
    """Learning curves (mean and range over seeds) with baseline lines; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install 'dialog-gym[bench]'): no PNG")
        return False
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = {"ppo": "tab:blue", "a2c": "tab:orange", "dqn": "tab:green",
              "maskable-ppo": "tab:purple"}
    base_style = {"expert": ("black", "--"), "random": ("tab:red", ":"),
                  "random-candidate": ("tab:gray", "-."), "retrieval": ("tab:brown", ":")}
    for ax, key, label in ((axes[0], "mean_return", "mean return (held-out)"),
                           (axes[1], "success_rate", "success rate (held-out)")):
        for algo in cfg.algos:
            rs = [r for r in runs if r["algo"] == algo]
            steps = [p["steps"] for p in rs[0]["curve"]]
            vals = np.array([[p[key] for p in r["curve"]] for r in rs])
            ax.plot(steps, vals.mean(0), color=colors.get(algo), label=f"SB3 {algo.upper()}")
            ax.fill_between(steps, vals.min(0), vals.max(0), color=colors.get(algo), alpha=0.2)
        for name, b in base.items():
            c, ls = base_style.get(name, ("tab:olive", ":"))
            ax.axhline(b[key], color=c, ls=ls, lw=1.2, label=name)
        ax.set_xlabel("env steps")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower right")
    hard = ", same-act distractors" if cfg.same_act_distractors else ""
    fig.suptitle(f"{cfg.env_id}, CandidateActions(k={cfg.k}{hard}), {cfg.observation} "
                 f"observations, {len(cfg.seeds)} seeds (mean, min-max band)", fontsize=10)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, path)
    return True


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; returns the JSON document it writes."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    defaults = Config()
    for f in Config.__dataclass_fields__.values():
        default = getattr(defaults, f.name)
        flag = "--" + f.name.replace("_", "-")
        if isinstance(default, bool):
            p.add_argument(flag, action="store_true", default=default)
        elif isinstance(default, list):
            p.add_argument(flag, nargs="+", type=type(default[0]), default=default)
        else:
            p.add_argument(flag, type=type(default), default=default)
    p.add_argument("--smoke", action="store_true", help=f"tiny budget for CI: {SMOKE}")
    args = vars(p.parse_args(argv))
    smoke = args.pop("smoke")
    if smoke:
        args.update({k: v for k, v in SMOKE.items()})
    cfg = Config(**args)

    import torch

    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    import dialog_gym  # noqa: F401  (registers ids)

    t0 = time.perf_counter()
    base = baselines(cfg)
    eval_ids = set(base["expert"]["scenarios"])
    runs = [run(cfg, algo, seed, eval_ids) for algo in cfg.algos for seed in cfg.seeds]
    for b in base.values():
        b.pop("scenarios", None)
    summary = summarize(cfg, base, runs)
    import sb3_contrib
    import stable_baselines3

    doc = {
        "benchmark": "learning_sb3",
        "smoke": smoke,
        "config": asdict(cfg),
        "baselines": base,
        "summary": summary,
        "runs": runs,
        "wall_s": round(time.perf_counter() - t0, 1),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
                    "stable_baselines3": stable_baselines3.__version__,
                    "sb3_contrib": sb3_contrib.__version__},
        "command": " ".join(["python benchmarks/learning_sb3.py",
                             *(sys.argv[1:] if argv is None else argv)]),
    }
    out = Path(cfg.out)
    atomic_write_text(out / f"{cfg.name}.json", json.dumps(doc, indent=2) + "\n")
    plot(cfg, base, runs, out / f"{cfg.name}.png")
    for algo, s in summary.items():
        print(f"[summary] {algo}: return {s['final_mean_return']:+.3f} "
              f"({s['return_fraction_of_expert']:.0%} of expert), success "
              f"{s['final_success_rate']:.1%}, targets {s['targets']}")
    print(f"wrote {out / (cfg.name + '.json')} ({doc['wall_s']}s)")
    return doc


if __name__ == "__main__":
    main()
