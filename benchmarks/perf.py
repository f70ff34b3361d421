"""All performance benchmarks in one run, and one report of every ratio against peers.

Runs ``perf_env.py``, ``perf_scorers.py`` and ``perf_rl.py`` one after another (each in
its own process, so one's threads and caches do not colour the next), then reads their
JSON results and writes ``perf.json`` and ``perf.md`` beside them: each ratio, the peer
it is measured against, the target the project set for it and whether this run met it.

    python benchmarks/perf.py [--quick] [--only env,scorers,rl] [--out benchmarks/results]

``--quick`` shrinks every benchmark's workload (noisier figures, a few minutes in all).
The report also lists the GPU ratios that ``benchmarks/gpu_perf.sh`` saved on a CUDA
machine (``perf_*_cuda.json``), marked as measured earlier, with the GPU's name.
A benchmark whose peer is not installed (``pip install -e ".[bench]"``) reports the
ratio as missing rather than failing the run. These machines are shared: ratios measured
under load are lower; the report records the load average at the start of each part.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from dialog_gym.fileio import atomic_write_json, atomic_write_text

HERE = Path(__file__).resolve().parent

#: (part, script, normal args, quick args)
PARTS = {
    "env": ("perf_env.py", [], ["--episodes", "100", "--peer-episodes", "500", "--repeats", "1",
                                "--vector-steps", "60",
                                "--semantic-steps", "15", "--semantic-repeats", "2"]),
    "scorers": ("perf_scorers.py", [], ["--episodes", "30", "--repeats", "1",
                                        "--ratio-items", "30"]),
    "rl": ("perf_rl.py", [], ["--steps", "3", "--warmup", "1"]),
}

#: (part, label, path of keys in that part's JSON, peer, target ratio or None)
RATIOS = [
    ("env", "single env steps/s vs TextArena GuessTheNumber-v0 (expert replies)",
     ["ratio_single_vs_textarena"], "textarena", 5.0),
    ("env", "single env steps/s vs TextArena GuessTheNumber-v0 (policy-like replies)",
     ["ratio_single_policy_like_vs_textarena"], "textarena", 5.0),
    # reference rows (no target): what any Python Gymnasium env reaches against that peer
    ("env", "reference: a do-nothing Gymnasium env (gym.make) vs TextArena GuessTheNumber-v0",
     ["ratio_null_env_vs_textarena"], "textarena", None),
    ("env", "reference: a minimal dialogue env (one regex, transcript) vs TextArena",
     ["ratio_minimal_dialogue_env_vs_textarena"], "textarena", None),
    ("env", "batched vector env vs SyncVectorEnv, semantic scorer on (expert replies)",
     ["ratio_batched_vector_vs_sync_semantic"], "gymnasium SyncVectorEnv", 2.0),
    ("env", "batched vector env vs SyncVectorEnv, semantic scorer on (policy-like replies)",
     ["ratio_batched_vector_vs_sync_semantic_policy_like"], "gymnasium SyncVectorEnv", 2.0),
    ("scorers", "semantic scorer vs SentenceTransformer.encode per item (batch 64, 1 thread)",
     ["semantic_ratio_vs_encode_per_item", "torch_threads_1", "batch_64"],
     "sentence-transformers", 3.0),
    ("scorers", "semantic scorer vs SentenceTransformer.encode per item (batch 64, 2 threads)",
     ["semantic_ratio_vs_encode_per_item", "torch_threads_2", "batch_64"],
     "sentence-transformers", 3.0),
    ("rl", "PPO samples/s vs TRL GRPOTrainer (same model, batch, length)",
     ["ratio_ppo_over_trl"], "trl", 1.0),
    # measured on a CUDA machine by benchmarks/gpu_perf.sh (perf.py only reads them)
    ("gpu_env", "GPU: batched vector env vs SyncVectorEnv, semantic on (expert replies)",
     ["ratio_batched_vector_vs_sync_semantic"], "gymnasium SyncVectorEnv", 2.0),
    ("gpu_env", "GPU: batched vector env vs SyncVectorEnv, semantic on (policy-like replies)",
     ["ratio_batched_vector_vs_sync_semantic_policy_like"], "gymnasium SyncVectorEnv", 2.0),
    ("gpu_scorers", "GPU: semantic scorer vs SentenceTransformer.encode per item (batch 64)",
     ["semantic_ratio_vs_encode_per_item", "torch_threads_1", "batch_64"],
     "sentence-transformers", 3.0),
]

RESULT_FILE = {"env": "perf_env.json", "scorers": "perf_scorers.json", "rl": "perf_rl.json",
               "gpu_env": "perf_env_cuda.json", "gpu_scorers": "perf_scorers_cuda.json"}


def _dig(d, keys):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def _cpu_model() -> str | None:
    """The CPU's model name (Linux ``/proc/cpuinfo``; else ``platform.processor()``)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or None


def run_part(part: str, out: Path, quick: bool) -> dict:
    script, normal, quick_args = PARTS[part]
    # perf_rl takes a folder, the others a file
    args = [*(quick_args if quick else normal),
            "--out", str(out if part == "rl" else out / RESULT_FILE[part])]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print(f"== {part}: {script} {' '.join(args)}", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, str(HERE / script), *args], cwd=HERE.parent)
    return {"command": " ".join(["python", f"benchmarks/{script}", *args]),
            "returncode": proc.returncode, "seconds": round(time.perf_counter() - t0, 1),
            "load_average_1min_at_start": load}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="smaller workloads (noisier)")
    p.add_argument("--only", default="env,scorers,rl",
                   help="comma-separated parts to run (env, scorers, rl); the report still "
                        "includes the last saved results of the others")
    p.add_argument("--out", default=str(HERE / "results"))
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    bad = sorted(set(only) - set(PARTS))
    if bad:
        p.error(f"unknown part(s) {bad}; choose from {sorted(PARTS)}")

    # the run records (command, seconds, load) of parts not run now are kept from the
    # previous report, so that regenerating the table loses nothing
    previous = out / "perf.json"
    earlier_runs = (json.loads(previous.read_text()).get("runs", {})
                    if previous.exists() else {})
    runs = {part: run_part(part, out, args.quick) for part in only}
    results = {}
    for part, fname in RESULT_FILE.items():
        f = out / fname
        results[part] = json.loads(f.read_text()) if f.exists() else None

    rows = []
    for part, label, keys, peer, goal in RATIOS:
        value = _dig(results[part], keys) if results[part] else None
        fresh = part in runs and runs[part]["returncode"] == 0
        gpu = _dig(results[part], ["machine", "accelerator"]) if results[part] else None
        if gpu:
            label = label.replace("GPU:", f"GPU ({gpu}):")
        rows.append({"part": part, "ratio": label, "peer": peer,
                     "value": None if value is None else round(float(value), 3),
                     "target": goal,
                     "met": None if value is None or goal is None else bool(value >= goal),
                     "measured_this_run": fresh})
    all_runs = {**{k: {**r, "this_run": False} for k, r in earlier_runs.items()},
                **{k: {**r, "this_run": True} for k, r in runs.items()}}
    report = {"quick": args.quick, "runs": all_runs, "ratios": rows,
              "python": sys.version.split()[0], "cpus": os.cpu_count(),
              "cpu_model": _cpu_model(),
              "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    atomic_write_json(out / "perf.json", report)

    lines = ["| ratio | peer | value | target | met | this run |", "|---|---|---:|---:|:-:|:-:|"]
    for r in rows:
        v = "missing" if r["value"] is None else f"{r['value']:.2f}x"
        t = "-" if r["target"] is None else f">= {r['target']:g}x"
        m = {None: "-", True: "yes", False: "**no**"}[r["met"]]
        lines.append(f"| {r['ratio']} | {r['peer']} | {v} | {t} | {m} | "
                     f"{'yes' if r['measured_this_run'] else 'earlier'} |")
    loads = ", ".join(f"{k} {r['load_average_1min_at_start']:.2f}" for k, r in all_runs.items()
                      if r.get("load_average_1min_at_start") is not None)
    lines += ["", f"Report of {report['time']}, {report['cpu_model'] or 'unknown CPU'}, "
              f"{report['cpus']} CPUs, Python {report['python']}"
              + (f"; 1-minute load average at the start of each part: {loads}" if loads else "")
              + ". Ratios of rows measured in an earlier run come from that run's machine "
              "(GPU rows: `benchmarks/gpu_perf.sh`)."]
    table = "\n".join(lines)
    atomic_write_text(out / "perf.md", table + "\n")
    print(table)
    failed = [k for k, r in runs.items() if r["returncode"] != 0]
    if failed:
        print(f"benchmark part(s) failed: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
