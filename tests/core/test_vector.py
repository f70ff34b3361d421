import gymnasium as gym
import numpy as np
import pytest

import dialog_gym
from dialog_gym.agents import make_agent
from dialog_gym.vector import DialogueVectorEnv


def _trace(env_id, mode, n=3, steps=40, **kw):
    envs = gym.make_vec(env_id, num_envs=n, vectorization_mode=mode, **kw)
    agents = [make_agent("expert", env_id=env_id) for _ in range(n)]
    obs, _ = envs.reset(seed=0)
    out = []
    for t in range(steps):
        acts = [a.act({k: obs[k][i] for k in obs}) for i, a in enumerate(agents)]
        if t % 5 == 2:
            acts[0] = "Sorry, what?"  # make sub-env 0 diverge from the expert
        obs, r, term, trunc, info = envs.step(acts)
        scores = {k: [float(x) for x in v] for k, v in info.get("scores", {}).items()
                  if not k.startswith("_")}
        out.append((r.tolist(), term.tolist(), trunc.tolist(), tuple(obs["history"]),
                    sorted(scores.items())))
    envs.close()
    return out


@pytest.mark.parametrize("env_id", dialog_gym.env_ids())
def test_batched_vector_env_equals_sync_vector_env(env_id):
    a = _trace(env_id, "vector_entry_point")
    b = _trace(env_id, "sync")
    assert a == b


@pytest.mark.parametrize("env_id", dialog_gym.env_ids())
def test_time_limit_truncates_like_gymnasium(env_id):
    a = _trace(env_id, "vector_entry_point", steps=12, max_episode_steps=2)
    b = _trace(env_id, "sync", steps=12, max_episode_steps=2)
    assert a == b
    assert any(any(step[2]) for step in a)


def test_default_make_vec_uses_the_batched_env():
    envs = gym.make_vec("Dialog-CustomerService-v0", num_envs=2)
    assert isinstance(envs, DialogueVectorEnv)
    obs, info = envs.reset(seed=1)
    _, r, *_ = envs.step(["Hello", "Hi"])
    assert r.shape == (2,) and np.all(np.isfinite(r))


def test_async_vector_env_matches_sync():
    a = _trace("Dialog-CustomerService-v0", "async", n=2, steps=8)
    b = _trace("Dialog-CustomerService-v0", "sync", n=2, steps=8)
    assert a == b
