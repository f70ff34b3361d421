"""Learning benchmark of the LLM agent: SFT policy vs RL policies on held-out episodes.

Evaluates the model folders of a pipeline run (``DIR/sft``, ``DIR/ppo`` and, when
present, ``DIR/a2c`` and ``DIR/reinforce``) on the same held-out episodes (env seeds
``--eval-seed ..``, never used in training: demonstrations use seeds 0..N, the reward
model's extra demonstrations 50000.., RL rollouts draw scenarios from an unbounded
space), sampling from each policy's distribution (temperature 1, the policy RL
optimises) and optionally greedily. Reports mean return with a 95% bootstrap CI,
success rate, the KL of each RL policy to the SFT policy on its own episodes, the reward
model's held-out accuracy, training wall times, and whether PPO beats SFT with
non-overlapping intervals. Writes ``learning_llm.json`` and a learning-curve PNG
(training return per iteration of each RL run, with the held-out SFT and PPO means as
bands) to ``--out``.

Usage::

    python benchmarks/learning_llm.py --train --run runs/llm_quick --episodes 1000 --jobs 2
        # pipeline (SFT -> RM -> PPO), then A2C and REINFORCE from its SFT and RM
    python benchmarks/learning_llm.py --run runs/llm_quick           # evaluate an existing run
    # every RL algorithm (PPO too) trained standalone with the quick preset from the SFT
    # and reward model of an earlier run
    python benchmarks/learning_llm.py --train-from runs/llm_quick --run runs/llm_other

The quick presets count every budget in steps (500 SFT steps, 1600 reward-model pairs,
120 RL iterations of 16 envs x 4 turns for each algorithm), so the algorithms are
compared at equal numbers of rollouts and a run gives the same models on any machine;
``--jobs 2`` trains A2C and REINFORCE side by side, which changes only wall times.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ENV = "Dialog-CustomerService-v0"


def run(cmd: list[str], log: Path) -> float:
    """Run a CLI command (output to ``log``); return its wall time."""
    t0 = time.time()
    with open(log, "a", encoding="utf-8") as fh:
        fh.write("$ " + " ".join(cmd) + "\n")
        fh.flush()
        subprocess.run(cmd, check=True, stdout=fh, stderr=subprocess.STDOUT,
                       env={**os.environ, "HF_HUB_OFFLINE": "1"})
    return time.time() - t0


def train_cli(run_dir: Path, stage: str, threads: int, *args: str, log: str = "") -> float:
    """``dialog-gym train STAGE --env ENV --quick ARGS`` (logged to ``RUN.LOG.log``, LOG
    defaulting to STAGE)."""
    extra = ["--threads", str(threads)] if threads else []  # else the presets' setting
    return run([sys.executable, "-m", "dialog_gym.cli", "train", stage, "--env", ENV,
                *args, "--quick", *extra],
               run_dir.parent / f"{run_dir.name}.{log or stage}.log")


def seed_folder(algo: str, seed: int | None) -> str:
    """Folder (inside the run) of ``algo`` trained with RL seed ``seed`` (None: the
    run's own seed, the pipeline's: 0 unless ``--pipeline-seed``)."""
    return algo if seed is None else f"{algo}-seed{seed}"


def train_rl(run_dir: Path, algo: str, threads: int, seed: int | None = None) -> float:
    """One RL algorithm standalone (its quick preset) from ``run_dir``'s SFT and RM;
    ``seed`` overrides the preset's RL seed (rollout sampling, critic init, minibatches)."""
    name = seed_folder(algo, seed)
    extra = [] if seed is None else ["--seed", str(seed)]
    return train_cli(run_dir, algo, threads, "--model", str(run_dir / "sft"),
                     "--reward-model", str(run_dir / "rm"), "--out", str(run_dir / name),
                     *extra, log=name)


def train_rl_all(run_dir: Path, algos: list[str], threads: int, jobs: int,
                 seeds: tuple[int | None, ...] = (None,)) -> dict[str, float]:
    """:func:`train_rl` for each algorithm and seed, ``jobs`` at a time (budgets are
    counted in iterations, so running them side by side changes their wall times, not
    their models). Extra seeds whose model is already saved are not trained again."""
    from concurrent.futures import ThreadPoolExecutor

    todo = [(a, s) for s in seeds for a in algos
            if s is None or not (run_dir / seed_folder(a, s) / "model.safetensors").is_file()]
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {seed_folder(a, s): pool.submit(train_rl, run_dir, a, threads, s)
                   for a, s in todo}
        return {name: f.result() for name, f in futures.items()}


def base_seed(run_dir: Path, algo: str) -> int:
    """The RL seed ``run_dir/algo`` was trained with (its saved config; 0 if unknown)."""
    f = run_dir / algo / "metrics.json"
    cfg = json.loads(f.read_text()).get("config") or {} if f.is_file() else {}
    return int(cfg.get("seed", 0))


def seed_summary(results: dict[str, Any], algos: list[str], seeds: list[int],
                 base_seeds: dict[str, int] | None = None) -> dict[str, Any]:
    """Per algorithm, the held-out results of every RL seed evaluated (the ALGO folder's
    seed, ``base_seeds[algo]`` or 0, and ``seeds``): each seed's mean return, CI and
    success, their mean and standard deviation, and in how many seeds the policy beats
    SFT with non-overlapping CIs."""
    sft = results["sft"]["sample"]
    out: dict[str, Any] = {}
    for algo in algos:
        base = (base_seeds or {}).get(algo, 0)
        rows = []
        for seed in [None, *seeds]:
            ev = results.get(seed_folder(algo, seed), {}).get("sample")
            if ev is not None:
                rows.append({"seed": base if seed is None else seed,
                             "mean_return": ev["mean_return"], "ci95": ev["ci95"],
                             "success_rate": ev["success_rate"],
                             "beats_sft": ev["ci95"][0] > sft["ci95"][1]})
        if not rows:
            continue
        means = [r["mean_return"] for r in rows]
        mu = statistics.fmean(means)
        sd = statistics.stdev(means) if len(means) > 1 else 0.0
        out[algo] = {"seeds": rows, "mean_of_means": mu, "std_across_seeds": sd,
                     "min_mean": min(means), "max_mean": max(means),
                     "seeds_beating_sft": sum(r["beats_sft"] for r in rows),
                     "seeds_above_sft_mean": sum(m > sft["mean_return"] for m in means)}
    return out


def train(run_dir: Path, algos: list[str], threads: int, jobs: int = 1,
          seed: int = 0) -> dict[str, float]:
    """The quick pipeline (SFT -> RM -> PPO) with ``seed`` for every stage, then the
    other algorithms from its SFT/RM."""
    extra = ["--seed", str(seed)] if seed else []
    times = {"pipeline": train_cli(run_dir, "pipeline", threads, "--out", str(run_dir),
                                   *extra)}
    times.update(train_rl_all(run_dir, [a for a in algos if a != "ppo"], threads, jobs))
    return times


def train_from(base: Path, run_dir: Path, algos: list[str], threads: int,
               jobs: int = 1) -> dict[str, float]:
    """Every algorithm standalone (quick preset, equal budgets) from ``base``'s SFT and RM."""
    run_dir.mkdir(parents=True, exist_ok=True)
    for stage in ("sft", "rm"):
        link = run_dir / stage
        if not link.exists():
            link.symlink_to(os.path.relpath(base / stage, run_dir))
    return train_rl_all(run_dir, algos, threads, jobs)


def curves(run_dir: Path, algos: list[str]) -> dict[str, dict[str, list[float]]]:
    """Training curves (iteration -> rollout return, success, KL) of each RL run."""
    from dialog_gym.agents.llm.metrics import read_jsonl

    out = {}
    for algo in algos:
        rows = read_jsonl(str(run_dir / algo / "metrics.jsonl"))
        pick = [r for r in rows if r.get("rollout/return") is not None]
        out[algo] = {"iteration": [r["step"] for r in pick],
                     "return": [r["rollout/return"] for r in pick],
                     "success": [r.get("rollout/success_rate") for r in pick],
                     "kl": [r.get("kl/ref") for r in pick]}
    return out


def curve_start(configs: list[dict[str, Any]]) -> int:
    """First RL iteration whose rollout return is unbiased: after ceil(episode turn limit
    / turns per rollout) iterations every episode that started at iteration 1 has ended."""
    import math

    import gymnasium as gym

    import dialog_gym  # noqa: F401  (registers the env ids)

    cfg = next((c for c in configs if c.get("turns_per_rollout")), {})
    per_rollout = cfg.get("turns_per_rollout") or 4
    limit = cfg.get("max_episode_turns") or gym.spec(ENV).max_episode_steps or 20
    return math.ceil(limit / per_rollout) + 1


def smooth(values: list[float], window: int = 10) -> list[float]:
    """Trailing moving average (shorter at the start); None values are skipped."""
    out, buf = [], []
    for v in values:
        if v is not None:
            buf = (buf + [v])[-window:]
        out.append(sum(buf) / len(buf) if buf else float("nan"))
    return out


def plot(path: Path, data: dict[str, Any]) -> None:
    """Three panels: training return and KL per RL iteration (moving average over 10
    iterations; each RL seed thin, the mean over seeds thick), and the held-out mean
    return with its 95% CI of SFT and of every trained policy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(17, 4.8))
    colors = {"ppo": "tab:blue", "a2c": "tab:orange", "reinforce": "tab:green"}
    # a rollout's return counts the episodes that ended in it, so until every episode
    # can have ended (iteration k sees only episodes of <= k x turns-per-rollout turns:
    # the short, mostly successful ones) the figure is biased upwards: curves start later
    start = data.get("curve_start_iteration", 1)
    by_algo: dict[str, list[dict[str, list[float]]]] = {}
    for name, c in data["curves"].items():
        keep = [i for i, it in enumerate(c["iteration"]) if it >= start]
        if keep:
            by_algo.setdefault(name.split("-seed")[0], []).append(
                {k: [v[i] for i in keep] for k, v in c.items()})
    for ax, key, ylabel, title in (
            (axes[0], "return", "episode return (training rollouts)",
             f"Training return (moving average, 10 iter.; from iter. {start})"),
            (axes[2], "kl", "KL to SFT reference (nats / segment)", "KL to the reference")):
        for algo, runs in by_algo.items():
            curves_ = [smooth(c[key]) for c in runs]
            for c, y in zip(runs, curves_, strict=True):
                ax.plot(c["iteration"], y, color=colors.get(algo), alpha=0.35, lw=0.8)
            n = min(len(y) for y in curves_)
            mean = [sum(y[i] for y in curves_) / len(curves_) for i in range(n)]
            ax.plot(runs[0]["iteration"][:n], mean, color=colors.get(algo), lw=2,
                    label=f"{algo} ({len(runs)} seed{'s' if len(runs) > 1 else ''})")
        ax.set_xlabel("RL iteration")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend(fontsize=8)
    sft = data["eval"].get("sft", {}).get("sample")
    if sft:
        axes[0].axhline(sft["mean_return"], color="gray", ls="--",
                        label=f"SFT held-out ({sft['episodes']} ep.)")
        axes[0].legend(fontsize=8)
    ax = axes[1]
    names = [n for n in data["eval"] if data["eval"][n].get("sample")]
    for i, name in enumerate(names):
        ev = data["eval"][name]["sample"]
        lo, hi = ev["ci95"]
        algo = name.split("-seed")[0]
        mu = ev["mean_return"]
        ax.errorbar([i], [mu], yerr=[[mu - lo], [hi - mu]], fmt="o",
                    color=colors.get(algo, "gray"), capsize=3)
    if sft:
        ax.axhspan(*sft["ci95"], color="gray", alpha=0.15)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("held-out mean return (95% CI)")
    episodes = sft["episodes"] if sft else "?"
    ax.set_title(f"Held-out episodes ({episodes} per policy, sampling)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", default=str(ROOT / "runs" / "llm_quick"), help="pipeline folder")
    p.add_argument("--train", action="store_true", help="run the quick pipeline first")
    p.add_argument("--train-from", default=None, metavar="RUN",
                   help="first train every algorithm standalone (equal budgets) from RUN's "
                        "sft and rm into --run")
    p.add_argument("--algos", nargs="+", default=["ppo", "a2c", "reinforce"])
    p.add_argument("--episodes", type=int, default=200, help="held-out episodes per policy")
    p.add_argument("--eval-seed", type=int, default=100_000, help="first held-out env seed")
    p.add_argument("--greedy", action="store_true", help="also evaluate greedy decoding")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    p.add_argument("--jobs", type=int, default=1,
                   help="RL trainings run side by side after the pipeline (with --train or "
                        "--train-from)")
    p.add_argument("--pipeline-seed", type=int, default=0,
                   help="with --train: the seed of every pipeline stage (SFT model init and "
                        "batches, reward model, RL); the demonstrations stay the same")
    p.add_argument("--rl-seeds", nargs="*", type=int, default=[], metavar="SEED",
                   help="also train every algorithm with these RL seeds (from the run's SFT and "
                        "RM, into ALGO-seedS; saved models are reused) and report the spread "
                        "across seeds")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    p.add_argument("--name", default="learning_llm", help="output file stem")
    args = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from dialog_gym.agents.llm.evaluate import evaluate_batched, transcript_kl
    from dialog_gym.agents.llm.policy import LLMAgent

    if args.threads:
        torch.set_num_threads(args.threads)
    load_start = os.getloadavg()  # the machine is shared: its load goes with the times
    run_dir = Path(args.run)
    if args.train and args.train_from:
        p.error("--train and --train-from exclude each other")
    if args.pipeline_seed and not args.train:
        p.error("--pipeline-seed applies to --train")
    if args.train and args.pipeline_seed in args.rl_seeds:  # fail before training
        p.error(f"--rl-seeds: {args.pipeline_seed} is the pipeline's own seed")
    train_times = (train(run_dir, args.algos, args.threads, args.jobs, args.pipeline_seed)
                   if args.train else
                   train_from(Path(args.train_from), run_dir, args.algos, args.threads,
                              args.jobs)
                   if args.train_from else {})
    base_seeds = {a: base_seed(run_dir, a) for a in args.algos}
    for algo, seed in base_seeds.items():
        if seed in args.rl_seeds:  # the same training again: not another seed
            p.error(f"--rl-seeds: {algo} in {run_dir} was trained with seed {seed} already")
    if args.rl_seeds:
        train_times.update(train_rl_all(run_dir, args.algos, args.threads, args.jobs,
                                        tuple(args.rl_seeds)))
    names = ["sft"] + [seed_folder(a, s) for s in [None, *args.rl_seeds] for a in args.algos
                       if (run_dir / seed_folder(a, s) / "model.safetensors").is_file()]
    results: dict[str, Any] = {}
    eval_times: dict[str, float] = {}
    for name in names:
        folder = str(run_dir / name)
        results[name] = {}
        modes = [("sample", False)] + ([("greedy", True)] if args.greedy else [])
        for mode, greedy in modes:
            t0 = time.time()
            agent = LLMAgent(folder, greedy=greedy, seed=1)
            ev = evaluate_batched(agent, ENV, episodes=args.episodes, seed=args.eval_seed,
                                  batch=32, keep_transcripts=args.episodes)
            records = ev.pop("records")
            if mode == "sample" and name != "sft":
                ev["kl_to_sft"] = transcript_kl(folder, str(run_dir / "sft"), records)
            ev["example_transcript"] = records[0].get("transcript", "")
            results[name][mode] = ev
            eval_times[f"{name}/{mode}"] = time.time() - t0
            print(f"{name:10s} {mode:6s} return {ev['mean_return']:+.3f} "
                  f"CI [{ev['ci95'][0]:+.3f}, {ev['ci95'][1]:+.3f}] "
                  f"success {ev['success_rate']:.1%} turns {ev['mean_turns']:.2f}", flush=True)

    def load(path: Path) -> dict[str, Any]:
        return json.loads(path.read_text()) if path.is_file() else {}

    pipeline = load(run_dir / "metrics.json")
    rm = load(run_dir / "rm" / "metrics.json")
    stage_metrics = {n: {k: v for k, v in load(run_dir / n / "metrics.json").items()
                         if k != "config"} for n in ["sft", "rm", *args.algos]}
    sft_ci = results["sft"]["sample"]["ci95"]
    checks: dict[str, Any] = {
        "rm_heldout_accuracy": rm.get("eval/heldout_accuracy"),
        "rm_accuracy_ge_0.85": (rm.get("eval/heldout_accuracy") or 0) >= 0.85,
        "pipeline_wall_time_s": pipeline.get("wall_time_s"),
        "pipeline_le_15_min": (pipeline.get("wall_time_s") or 1e9) <= 900,
    }
    for algo in args.algos:
        if algo in results:
            ci = results[algo]["sample"]["ci95"]
            checks[f"{algo}_beats_sft_non_overlapping_ci95"] = ci[0] > sft_ci[1]
            checks[f"{algo}_mean_minus_sft"] = (results[algo]["sample"]["mean_return"]
                                                - results["sft"]["sample"]["mean_return"])
    data = {
        "env_id": ENV, "run": str(run_dir), "episodes": args.episodes,
        "eval_seeds": [args.eval_seed, args.eval_seed + args.episodes - 1],
        "decoding": "sampling at temperature 1 (the policy RL optimises)"
                    + (" and greedy" if args.greedy else ""),
        "eval": results, "checks": checks,
        "curves": curves(run_dir, [n for n in names if n != "sft"]),
        "curve_start_iteration": curve_start(
            [load(run_dir / a / "metrics.json").get("config") or {} for a in args.algos]),
        "train_wall_times_s": train_times, "eval_wall_times_s": eval_times,
        "stages": stage_metrics,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "torch_threads": torch.get_num_threads(), "python": sys.version.split()[0],
                    "loadavg_start": list(load_start), "loadavg_end": list(os.getloadavg())},
    }
    if args.rl_seeds:
        data["rl_seeds"] = summary = seed_summary(results, args.algos, args.rl_seeds,
                                                     base_seeds)
        for algo, row in summary.items():
            checks[f"{algo}_seeds_beating_sft"] = f"{row['seeds_beating_sft']}/{len(row['seeds'])}"
            checks[f"{algo}_mean_over_seeds"] = row["mean_of_means"]
            checks[f"{algo}_std_over_seeds"] = row["std_across_seeds"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from dialog_gym.agents.llm.checkpoint import atomic_write_json

    atomic_write_json(str(out / f"{args.name}.json"), data)
    plot(out / f"{args.name}.png", data)
    print(json.dumps(checks, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
