"""Smoke test of a core-only install (no extras): run by .ci/run in its own venv.

Checks that ``gym.make`` and an expert episode work on every env, that ``dialog-gym
evaluate --agent expert`` works, and that features of extras fail with an error naming
the extra to install.
"""

import subprocess
import sys

import gymnasium as gym

import dialog_gym
from dialog_gym.agents import make_agent
from dialog_gym.error import DependencyNotInstalled

for env_id in dialog_gym.env_ids():
    env = gym.make(env_id)
    agent = make_agent("expert", env_id=env_id)
    obs, _ = env.reset(seed=0)
    done, steps = False, 0
    while not done:
        obs, r, term, trunc, info = env.step(agent.act(obs))
        done, steps = term or trunc, steps + 1
    print(f"{env_id}: {steps} steps, success={info['success']}")

out = subprocess.run([sys.executable, "-m", "dialog_gym.cli", "evaluate", "--agent", "expert",
                      "--env", "Dialog-CustomerService-v0", "--episodes", "3"],
                     capture_output=True, text=True, check=True).stdout
assert "success rate" in out, out
print(out)

for what, call, extra in [
    ("sb3 agent", lambda: make_agent("sb3-ppo", env_id="Dialog-CustomerService-v0"), "sb3"),
    ("multiagent", lambda: __import__("dialog_gym.multiagent"), "multiagent"),
]:
    try:
        call()
    except DependencyNotInstalled as e:
        assert f"dialog-gym[{extra}]" in str(e), e
        print(f"{what} without its extra: {e}")
    else:
        raise SystemExit(f"{what} worked without the {extra} extra: is it installed here?")
print("core-only install OK")
