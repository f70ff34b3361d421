"""benchmarks/perf_env.py's reference envs: valid Gymnasium envs doing what they say."""

import importlib.util
import sys
from pathlib import Path

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

ROOT = Path(__file__).resolve().parents[1]


def _load():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location("perf_env", ROOT / "benchmarks" / "perf_env.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.filterwarnings("error")
def test_reference_envs_pass_the_env_checker_and_end_on_time():
    perf_env = _load()
    for cls in (perf_env.NullEnv, perf_env.MinimalDialogueEnv):
        spec = gym.envs.registration.EnvSpec(f"PerfFloor-{cls.__name__}-v0", entry_point=cls,
                                             kwargs={"episode_steps": 5})
        check_env(gym.make(spec).unwrapped)
        env = cls(episode_steps=3)
        env.reset(seed=0)
        ends = [env.step("where is my order?")[2] for _ in range(3)]
        assert ends == [False, False, True]


def test_minimal_dialogue_env_reads_the_reply_and_keeps_the_transcript():
    env = _load().MinimalDialogueEnv(episode_steps=4)
    env.reset(seed=0)
    obs, r, *_ = env.step("Your REFUND is on its way.")
    assert r == 1.0 and "thanks" in obs["history"].splitlines()[-1]
    obs, r, *_ = env.step("Nice weather.")
    assert r == 0.0 and obs["history"].count("Agent:") == 2 and obs["turn"] == 2


def test_bench_floor_counts_every_step():
    res = _load().bench_floor(episodes=7, episode_steps=3)
    assert res["episode_steps"] == 3
    for key in ("null_env", "minimal_dialogue_env"):
        assert res[key]["steps"] == 21 and res[key]["steps_per_s"] > 0


def test_floor_env_spec_runs_through_gym_make():
    perf_env = _load()
    env = gym.make(gym.envs.registration.EnvSpec("PerfFloor-Test-v0",
                                                 entry_point=perf_env.NullEnv,
                                                 kwargs={"episode_steps": 2}))
    env.reset(seed=1)
    assert env.step("x")[2] is False and env.step("x")[2] is True


def test_env_replay_breakdown_times_every_part_and_restores_the_env(tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location("env_replay",
                                                  ROOT / "benchmarks" / "env_replay.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    actions = tmp_path / "actions.json"
    mod.record(3, actions)
    env = gym.make(mod.ENV_ID)
    totals, restore = mod.instrument(env)
    env.reset(seed=0)
    env.step("Hello, how can I help?")
    assert totals["reset"] > 0 and totals["step (all but scoring)"] > 0
    assert totals["step: scoring (default reward)"] > 0
    restore()
    base = env.unwrapped
    assert "step_begin" not in vars(base) and "respond" not in vars(base.user)
    import dialog_gym.env as core
    assert core._score_terms_single.__name__ == "_score_terms_single"
    mod.replay(3, actions, quiet=False, breakdown=True)
    out = capsys.readouterr().out
    assert "simulated user's reaction" in out and "us/step" in out


def test_timed_loops_warm_up_on_seeds_past_the_timed_range():
    perf_env = _load()
    assert perf_env.seeds_with_warmup(3, 2) == [3, 4, 0, 1, 2]
    assert perf_env.seeds_with_warmup(2, 0) == [0, 1]
