import warnings
from collections import Counter

import gymnasium as gym
import numpy as np
import pytest
from agent_testutil import ENV

import dialog_gym  # noqa: F401
from dialog_gym.error import ConfigError, InvalidAction, ResetNeeded
from dialog_gym.wrappers import (
    CandidateActions,
    CandidateGenerator,
    EmbeddingObservation,
    HashingTokenizer,
    TokenIdObservation,
    observation_rows,
)


@pytest.fixture(scope="module")
def cand_env():
    env = CandidateActions(gym.make(ENV), k=6)
    yield env
    env.close()


def _play_expert(env, seed):
    obs, info = env.reset(seed=seed)
    total, done = 0.0, False
    while not done:
        obs, r, term, trunc, info = env.step(info["candidate_kinds"].index("expert"))
        total += r
        done = term or trunc
    return total, info["success"]


def test_spaces_and_visible_candidates(cand_env):
    obs, info = cand_env.reset(seed=0)
    assert cand_env.action_space == gym.spaces.Discrete(6)
    assert obs in cand_env.observation_space
    assert len(obs["candidates"]) == 6 and list(obs["candidates"]) == info["candidates"]
    assert info["candidate_kinds"].count("expert") == 1
    expert = cand_env.generator.expert_reply({k: obs[k] for k in ("context", "history",
                                                                  "turn", "messages")})
    i = info["candidate_kinds"].index("expert")
    # the expert slot holds the expert's reply, possibly reworded (tool calls kept)
    assert obs["candidates"][i] == expert or expert.split("[")[1:] == \
        obs["candidates"][i].split("[")[1:]
    assert len(set(obs["candidates"])) == 6
    assert cand_env.action_masks().tolist() == [True] * 6


def test_expert_position_is_uniform_and_seeded(cand_env):
    positions = Counter()
    for seed in range(240):
        _, info = cand_env.reset(seed=seed)
        positions[info["candidate_kinds"].index("expert")] += 1
    assert set(positions) == set(range(6))
    assert min(positions.values()) >= 20  # 40 expected per slot
    _, a = cand_env.reset(seed=7)
    _, b = cand_env.reset(seed=7)
    assert a["candidates"] == b["candidates"]


def test_distractors_are_of_every_kind_and_never_the_same_act(cand_env):
    kinds = Counter()
    gen = cand_env.generator
    for seed in range(30):
        obs, info = cand_env.reset(seed=seed)
        done = False
        while not done:
            expert_text = gen.expert_reply(obs)
            for text, kind in zip(obs["candidates"], info["candidate_kinds"], strict=True):
                kinds[kind] += 1
                if kind == "other_state":
                    assert not gen.same_act(text, expert_text), (text, expert_text)
            obs, _, term, trunc, info = cand_env.step(info["candidate_kinds"].index("expert"))
            done = term or trunc
    assert kinds["other_state"] > 0 and kinds["paraphrase"] > 0 and kinds["degenerate"] > 0


def test_choosing_the_expert_matches_the_expert_and_random_choice_does_not(cand_env):
    rng = np.random.default_rng(0)
    expert = [_play_expert(cand_env, 500 + s) for s in range(20)]
    assert np.mean([s for _, s in expert]) >= 0.9
    rand_returns = []
    for s in range(20):
        obs, info = cand_env.reset(seed=500 + s)
        total, done = 0.0, False
        while not done:
            obs, r, term, trunc, info = cand_env.step(int(rng.integers(6)))
            total += r
            done = term or trunc
        rand_returns.append(total)
    assert np.mean([r for r, _ in expert]) > np.mean(rand_returns) + 1.5


def test_seeded_episode_with_same_actions_is_reproducible(cand_env):
    def run():
        obs, info = cand_env.reset(seed=11)
        out = [tuple(obs["candidates"])]
        for a in [0, 3, 5, 1]:
            obs, r, term, trunc, info = cand_env.step(a)
            out.append((tuple(obs["candidates"]), r))
            if term or trunc:
                break
        return out

    assert run() == run()


def test_bad_actions_are_clear_errors(cand_env):
    cand_env.reset(seed=0)
    with pytest.raises(InvalidAction, match="out of range.*< 6"):
        cand_env.step(6)
    with pytest.raises(TypeError, match="int candidate index"):
        cand_env.step("hello")
    obs, *_ = cand_env.step(np.int64(2))  # numpy ints (SB3) are fine
    assert "candidates" in obs
    fresh = CandidateActions(gym.make(ENV), generator=cand_env.generator)
    with pytest.raises(ResetNeeded):
        fresh.step(0)
    with pytest.raises(ConfigError, match="k must be an int >= 2"):
        CandidateActions(gym.make(ENV), k=1)
    with pytest.raises(ConfigError, match="distractors"):
        CandidateActions(gym.make(ENV), distractors=["typo"])


def test_rewording_is_off_where_the_env_depends_on_exact_wording():
    from dialog_gym.wrappers import rewording_is_safe

    assert rewording_is_safe(gym.make(ENV))
    assert CandidateGenerator.for_env(gym.make(ENV)).reword == 0.5
    tq = CandidateGenerator.for_env(gym.make("Dialog-TwentyQuestions-v0"))
    assert tq.reword == 0.0  # its expert recognises its own questions verbatim


@pytest.mark.parametrize("env_id", dialog_gym.env_ids())
def test_candidate_actions_work_on_every_env(env_id):
    env = CandidateActions(gym.make(env_id), k=4, pool_episodes=20, reword=0.0)
    total, _ = _play_expert(env, 3)
    obs, info = env.reset(seed=3)
    assert len(obs["candidates"]) == 4 and info["candidate_kinds"].count("expert") == 1
    assert np.isfinite(total)


def test_gymnasium_checker_passes_on_candidate_actions(cand_env):
    from gymnasium.utils.env_checker import check_env

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "different from the unwrapped version" notice
        check_env(CandidateActions(gym.make(ENV), k=5), skip_render_check=True)


def test_sb3_checker_passes_on_token_ids():
    from stable_baselines3.common.env_checker import check_env

    env = TokenIdObservation(CandidateActions(gym.make(ENV), k=5), max_tokens=16)
    check_env(env, warn=False)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (2 + 6 + 5, 16) and obs.dtype == np.int64
    assert env.action_masks().shape == (5,)


def test_sb3_checker_passes_on_embeddings():
    from stable_baselines3.common.env_checker import check_env

    env = EmbeddingObservation(CandidateActions(gym.make(ENV), k=2), history_lines=1)
    check_env(env, warn=False)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (2 + 1 + 2, env.embedder.dim) and obs.dtype == np.float32
    assert np.allclose(np.linalg.norm(obs[0]), 1.0, atol=1e-4)  # context row
    assert env.action_masks().all()


def test_observation_rows_layout():
    obs = {"context": "C", "history": "User: a\nAgent: b\nUser: c", "candidates": ("x", "y")}
    assert observation_rows(obs, 2, 2) == ["C", "User: a", "Agent: b", "User: c", "x", "y"]
    assert observation_rows(obs, 4) == ["C", "User: a", "", "User: a", "Agent: b", "User: c"]
    with pytest.raises(ConfigError, match="expected 3 candidates"):
        observation_rows(obs, 2, 3)


def test_hashing_tokenizer_is_stable_and_bounded():
    tok = HashingTokenizer(100)
    a = tok.encode("Order A1234 shipped!", 6)
    assert a.tolist() == HashingTokenizer(100).encode("order a1234 SHIPPED!", 6).tolist()
    assert a[-1] == 0 and 0 < a[:4].min() and a.max() < 100
    assert tok.encode("a b c d", 2, keep="tail").tolist() == tok.encode("c d", 2).tolist()


@pytest.mark.parametrize("module", ["dialog_gym.wrappers", "dialog_gym.agents.retrieval"])
def test_doctests(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
