import json

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from agent_testutil import ENV, tiny_hyperparams

import dialog_gym  # noqa: F401
from dialog_gym.agents import make_agent
from dialog_gym.error import ConfigError
from dialog_gym.evaluation import evaluate
from dialog_gym.testing import check_agent

ALGOS = ["ppo", "a2c", "dqn", "maskable-ppo"]


def _obs(seed=0):
    env = gym.make(ENV)
    obs, _ = env.reset(seed=seed)
    return obs


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One tiny trained and saved agent per algorithm."""
    out = {}
    for algo in ALGOS:
        agent = make_agent(f"sb3-{algo}", env_id=ENV, n_envs=1, seed=1,
                           hyperparams=tiny_hyperparams(algo))
        agent.learn(64)
        path = tmp_path_factory.mktemp(algo)
        agent.save(path)
        out[algo] = (agent, path)
    return out


@pytest.mark.parametrize("algo", ALGOS)
def test_learn_save_load_round_trip(trained, algo):
    agent, path = trained[algo]
    assert agent.trainable and agent.model.num_timesteps >= 64
    assert (path / "model.zip").is_file()
    config = json.loads((path / "agent.json").read_text())
    assert config["algo"] == algo and config["env_id"] == ENV and config["num_timesteps"] >= 64
    loaded = make_agent(f"sb3-{algo}", path=str(path), env_id=ENV)
    obs = _obs(3)
    assert loaded.act(obs) == agent.act(obs)
    for name, p in agent.model.policy.state_dict().items():
        assert th.equal(p, loaded.model.policy.state_dict()[name]), name


@pytest.mark.parametrize("algo", ALGOS)
def test_plays_raw_observations_with_its_own_candidates(trained, algo):
    agent, _ = trained[algo]
    obs = _obs(5)
    index, replies = agent.choose(obs)
    assert 0 <= index < 6 and agent.act(obs) == replies[index]
    assert agent.act(obs) == agent.act(obs)  # a function of the observation
    report = check_agent(agent, ENV, episodes=1, check_save=(algo == "ppo"))
    assert report["episodes"] == 1


def test_loaded_agent_keeps_training(trained, tmp_path):
    _, path = trained["ppo"]
    agent = make_agent("sb3-ppo", path=str(path), n_envs=1)
    before = agent.model.num_timesteps
    agent.learn(32)
    assert agent.model.num_timesteps == before + 32
    agent.close()


def test_wrong_env_or_algo_or_path_is_a_clear_error(trained, tmp_path):
    _, path = trained["ppo"]
    with pytest.raises(ConfigError, match="trained on 'Dialog-CustomerService-v0'"):
        make_agent("sb3-ppo", path=str(path), env_id="Dialog-QA-v0")
    with pytest.raises(ConfigError, match="holds an 'ppo' agent.*sb3-ppo"):
        make_agent("sb3-a2c", path=str(path))
    with pytest.raises(ConfigError, match="no agent.json"):
        make_agent("sb3-ppo", path=str(tmp_path))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "agent.json").write_text('{"trained": true}')
    with pytest.raises(ConfigError, match="names no SB3 algorithm.*not a checkpoint"):
        make_agent("sb3-ppo", path=str(tmp_path / "other"))
    with pytest.raises(ConfigError, match="observation must be one of"):
        make_agent("sb3-ppo", env_id=ENV, observation="pixels")


def test_loading_reads_weights_only(trained, monkeypatch):
    """The SB3 zip's pickled objects are never unpickled by make_agent(path=...)."""
    import cloudpickle

    _, path = trained["a2c"]

    def refuse(*args, **kwargs):
        raise AssertionError("cloudpickle.loads called while loading an agent")

    monkeypatch.setattr(cloudpickle, "loads", refuse)
    agent = make_agent("sb3-a2c", path=str(path))
    assert isinstance(agent.act(_obs()), str)


def test_candidate_scorer_is_equivariant_to_candidate_order():
    from dialog_gym.agents.sb3.policies import CandidateScorer

    space = gym.spaces.Box(0, 99, shape=(5 + 3, 7), dtype=np.int64)
    scorer = CandidateScorer(space, 3, hidden=16, state_hidden=16)
    obs = th.randint(1, 100, (2, 8, 7))
    perm = [2, 0, 1]
    shuffled = obs.clone()
    shuffled[:, 5:] = obs[:, 5:][:, perm]
    out, out_shuffled = scorer(obs), scorer(shuffled)
    assert th.allclose(out[:, :3][:, perm], out_shuffled[:, :3], atol=1e-5)
    assert th.allclose(out[:, 3:], out_shuffled[:, 3:], atol=1e-5)


@pytest.mark.slow  # loads the sentence model and embeds every step
def test_embedding_observation_agent_trains_and_plays(tmp_path):
    agent = make_agent("sb3-ppo", env_id=ENV, observation="embedding", n_envs=1, k=3,
                       history_lines=2, hyperparams={"n_steps": 16, "batch_size": 16,
                                                     "n_epochs": 1})
    agent.learn(16)
    agent.save(tmp_path)
    loaded = make_agent("sb3-ppo", path=str(tmp_path))
    obs = _obs()
    assert loaded.act(obs) == agent.act(obs)


def test_cli_train_then_evaluate(tmp_path, capsys):
    from dialog_gym.cli import main

    out = tmp_path / "run"
    assert main(["train", "sb3", "--algo", "ppo", "--env", ENV, "--steps", "64", "--out",
                 str(out), "--n-envs", "1", "--hp", "n_steps=32", "--hp", "batch_size=32",
                 "--no-progress", "--eval-episodes", "1"]) == 0
    text = capsys.readouterr().out
    assert f"saved sb3-ppo (64 steps) to {out}" in text
    assert "held-out evaluation" in text
    try:
        import tensorboard  # noqa: F401

        assert any((out / "tb").rglob("events.out.tfevents.*"))
    except ImportError:
        assert "TensorBoard logs: off" in text
    assert main(["evaluate", "--agent", "sb3-ppo", "--agent-kw", f"path={out}",
                 "--env", ENV, "--episodes", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["agent"] == "sb3-ppo" and result["episodes"] == 2


@pytest.mark.slow
def test_ppo_learns_to_beat_random_candidates_and_approach_the_expert():
    th.set_num_threads(1)
    agent = make_agent("sb3-ppo", env_id=ENV, seed=0)
    agent.learn(30_000)
    ppo = evaluate(agent, ENV, episodes=50, seed=100_000)
    rand = evaluate(make_agent("random-candidate", env_id=ENV), ENV, episodes=50,
                    seed=100_000)
    expert = evaluate(make_agent("expert", env_id=ENV), ENV, episodes=50, seed=100_000)
    assert ppo["mean_return"] >= 0.7 * expert["mean_return"]
    assert ppo["success_rate"] >= max(3 * rand["success_rate"], 0.5)


def test_quick_train_for_the_leaderboard(tmp_path, monkeypatch):
    from dialog_gym.agents.sb3.agent import A2CAgent

    monkeypatch.setattr(A2CAgent, "quick_steps", 32)
    kwargs = A2CAgent.quick_train(ENV, str(tmp_path), seed=0)
    assert kwargs == {"path": str(tmp_path / "sb3")}
    assert not (tmp_path / "agent.json").exists()  # the leaderboard writes its own there
    agent = make_agent("sb3-a2c", env_id=ENV, **kwargs)
    assert agent.model.num_timesteps >= 32
    # training envs take gym.make arguments, e.g. the corpus env's train split
    kw = A2CAgent.quick_train("Dialog-Corpus-v0", str(tmp_path / "corpus"), seed=0,
                              env_kwargs={"split": "train"})
    corpus = make_agent("sb3-a2c", env_id="Dialog-Corpus-v0", **kw)
    assert corpus.config["env_kwargs"] == {"split": "train"}
