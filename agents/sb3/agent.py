"""SB3 agents: PPO, A2C, DQN and MaskablePPO over candidate replies and sentence embeddings.

An :class:`SB3Agent` owns its view of the environment: a
:class:`~dialog_gym.wrappers.CandidateGenerator` (the ``k`` candidate replies of a state)
and an :class:`~dialog_gym.wrappers.ObservationEmbedder` (the ``Box`` the network reads).
Training wraps the env with the same logic (``EmbeddingObservation(CandidateActions(env))``);
:meth:`SB3Agent.act` rebuilds that view from a raw env observation, so a trained agent
plays in ``dialog-gym evaluate`` and the leaderboard like any other agent.

What the number measures: the agent *chooses* among candidates that include the scripted
expert's reply; it does not write text. Its score is bounded by the expert's and should
be read against ``random-candidate`` (uniform choice among the same candidates).

Checkpoints are a directory with ``model.zip`` (a standard SB3 zip, loadable with
``PPO.load`` by those who trust it) and ``agent.json`` (the agent's configuration).
:meth:`SB3Agent.load` rebuilds the model from ``agent.json`` and reads only the weights
from the zip (``torch.load(weights_only=True)`` through SB3's ``set_parameters``), never
the pickled objects in it.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from dialog_gym.agents.base import Agent
from dialog_gym.error import ConfigError
from dialog_gym.fileio import atomic_write_text
from dialog_gym.wrappers import (
    DISTRACTOR_KINDS,
    POOL_SEED,
    CandidateActions,
    CandidateGenerator,
    EmbeddingObservation,
    ObservationEmbedder,
    ObservationTokenizer,
    TokenIdObservation,
)

__all__ = ["SB3Agent", "PPOAgent", "A2CAgent", "DQNAgent", "MaskablePPOAgent", "train",
           "ALGOS", "DEFAULT_HYPERPARAMS"]

DEFAULT_ENV = "Dialog-CustomerService-v0"
CONFIG_FILE = "agent.json"
MODEL_FILE = "model.zip"
FORMAT_VERSION = 1

#: Hyper-parameters per algorithm, tuned for short dialogues (4-20 turns) and budgets of
#: tens of thousands of steps; override any of them with ``hyperparams={...}``.
DEFAULT_HYPERPARAMS: dict[str, dict[str, Any]] = {
    "ppo": {"n_steps": 256, "batch_size": 128, "n_epochs": 4, "learning_rate": 3e-4,
            "gamma": 0.95, "gae_lambda": 0.9, "ent_coef": 0.01, "clip_range": 0.2},
    "maskable-ppo": {"n_steps": 256, "batch_size": 128, "n_epochs": 4, "learning_rate": 3e-4,
                     "gamma": 0.95, "gae_lambda": 0.9, "ent_coef": 0.01, "clip_range": 0.2},
    "a2c": {"n_steps": 8, "learning_rate": 7e-4, "gamma": 0.95, "gae_lambda": 0.9,
            "ent_coef": 0.01},
    "dqn": {"learning_rate": 3e-4, "buffer_size": 20_000, "learning_starts": 500,
            "batch_size": 64, "train_freq": 4, "target_update_interval": 500,
            "exploration_fraction": 0.3, "exploration_final_eps": 0.05, "gamma": 0.95},
}


def _algo_class(algo: str) -> tuple[type, type]:
    """The SB3 algorithm class and the candidate policy class of ``algo``."""
    from dialog_gym.extras import require

    require("stable_baselines3", "the SB3 agents")
    if algo == "maskable-ppo":
        require("sb3_contrib", "sb3-maskable-ppo")
    from dialog_gym.agents.sb3 import policies

    if algo == "ppo":
        from stable_baselines3 import PPO

        return PPO, policies.CandidateActorCriticPolicy
    if algo == "a2c":
        from stable_baselines3 import A2C

        return A2C, policies.CandidateActorCriticPolicy
    if algo == "dqn":
        from stable_baselines3 import DQN

        return DQN, policies.CandidateDQNPolicy
    if algo == "maskable-ppo":
        from sb3_contrib import MaskablePPO

        return MaskablePPO, policies.CandidateMaskablePolicy
    raise ConfigError(f"unknown SB3 algorithm {algo!r}; expected one of {sorted(ALGOS)}")


#: What the network can read (see :class:`SB3Agent`).
OBSERVATIONS = ("tokens", "embedding")

#: Algorithm name -> registered agent name.
ALGOS = {"ppo": "sb3-ppo", "a2c": "sb3-a2c", "dqn": "sb3-dqn", "maskable-ppo": "sb3-maskable-ppo"}


class _SpacesEnv(gym.Env):
    """An env that only carries spaces: lets SB3 build a model for inference."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space) -> None:
        self.observation_space = observation_space
        self.action_space = action_space

    def reset(self, *, seed: int | None = None, options: Any = None) -> tuple[Any, dict]:
        raise ConfigError("this SB3 agent was loaded for playing; call learn() to train it "
                          "(it builds its training env then)")

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        raise ConfigError("this SB3 agent was loaded for playing; it has no training env")


class SB3Agent(Agent):
    """A Stable-Baselines3 model that chooses among candidate replies.

    Args:
        env_id: The env it plays (and trains on). With ``path``, must match the saved
            one (or be omitted).
        path: A directory written by :meth:`save`: load the trained agent from it.
        k: Candidates per step.
        observation: What the network reads: ``"tokens"`` (hashed token ids of each row,
            :class:`~dialog_gym.wrappers.TokenIdObservation`, embedded by the network
            itself; fast) or ``"embedding"`` (sentence embeddings of each row,
            :class:`~dialog_gym.wrappers.EmbeddingObservation`; about 100x slower per step
            on a CPU).
        history_lines: Newest history lines in the observation (see
            :func:`~dialog_gym.wrappers.observation_rows`).
        n_envs: Parallel training envs (``DummyVecEnv``).
        seed: Seed of the model, the training envs and the candidate order in :meth:`act`.
        deterministic: Play the most likely candidate (else sample).
        device: Torch device.
        hyperparams: Overrides of :data:`DEFAULT_HYPERPARAMS` for this algorithm.
        policy_kwargs: Extra ``policy_kwargs`` for SB3 (e.g. ``{"features_extractor_kwargs":
            {"hidden": 64}}``).
        distractors: Distractor kinds of the candidates.
        same_act_distractors: Harder candidates (see ``CandidateGenerator``).
        reword: Probability that a candidate is reworded (see ``CandidateGenerator``).
        pool_episodes: Expert roll-outs behind the other-state distractors.
        embedding_model: Sentence-transformers model (default: the embedded MiniLM).
        env_kwargs: Keyword arguments of ``gym.make`` for the training envs.
        tensorboard_log: Directory for TensorBoard logs (needs ``tensorboard``).
        verbose: SB3 verbosity.
    """

    algo: ClassVar[str] = ""

    def __init__(self, env_id: str | None = None, *, path: str | os.PathLike[str] | None = None,
                 k: int = 6, observation: str = "tokens", history_lines: int = 6,
                 n_envs: int = 4, seed: int = 0,
                 deterministic: bool = True, device: str = "cpu",
                 hyperparams: Mapping[str, Any] | None = None,
                 policy_kwargs: Mapping[str, Any] | None = None,
                 distractors: tuple[str, ...] | list[str] = DISTRACTOR_KINDS,
                 same_act_distractors: bool = False, reword: float | str = "auto",
                 pool_episodes: int = 100, embedding_model: str | None = None,
                 env_kwargs: Mapping[str, Any] | None = None,
                 tensorboard_log: str | None = None, verbose: int = 0) -> None:
        if not self.algo:
            raise TypeError("SB3Agent is abstract; use PPOAgent, A2CAgent, DQNAgent or "
                            "MaskablePPOAgent (make_agent('sb3-ppo', ...))")
        _algo_class(self.algo)  # fail early when sb3-contrib is missing
        self.seed = int(seed)
        self.deterministic = bool(deterministic)
        self.device = device
        self.tensorboard_log = tensorboard_log
        self.verbose = verbose
        self.model: Any = None
        self._train_env: Any = None
        self._generator: CandidateGenerator | None = None
        self._observer: ObservationEmbedder | ObservationTokenizer | None = None
        if path is not None:
            self.config = self._read_config(Path(path))
            if env_id is not None and env_id != self.config["env_id"]:
                raise ConfigError(
                    f"{self.name} at {str(path)!r} was trained on {self.config['env_id']!r}, "
                    f"not {env_id!r}; evaluate it with --env {self.config['env_id']}"
                )
            self.config["n_envs"] = int(n_envs)
            self._load_model(Path(path))
            return
        if observation not in OBSERVATIONS:
            raise ConfigError(f"observation must be one of {OBSERVATIONS}, got {observation!r}")
        hp = dict(DEFAULT_HYPERPARAMS[self.algo])
        hp.update(dict(hyperparams or {}))
        self.config = {
            "format": FORMAT_VERSION,
            "algo": self.algo,
            "env_id": env_id or DEFAULT_ENV,
            "env_kwargs": dict(env_kwargs or {}),
            "k": int(k),
            "observation": observation,
            "history_lines": int(history_lines),
            "vocab_size": 8192,
            "max_tokens": 48,
            "distractors": list(distractors),
            "same_act_distractors": bool(same_act_distractors),
            "reword": reword,
            "pool_episodes": int(pool_episodes),
            "pool_seed": POOL_SEED,
            "embedding_model": embedding_model,
            "hyperparams": hp,
            "policy_kwargs": dict(policy_kwargs or {}),
            "n_envs": int(n_envs),
            "seed": self.seed,
            "num_timesteps": 0,
        }

    @property
    def env_id(self) -> str:
        """The env this agent plays."""
        return str(self.config["env_id"])

    # ------------------------------------------------------------------ env view
    def _make_base_env(self) -> gym.Env:
        import dialog_gym  # noqa: F401  (registers ids)

        return gym.make(self.env_id, **self.config["env_kwargs"])

    @property
    def generator(self) -> CandidateGenerator:
        """The candidate generator (built on first use)."""
        if self._generator is None:
            env = self._make_base_env()
            try:
                self._generator = CandidateGenerator.for_env(
                    env, self.config["k"], distractors=self.config["distractors"],
                    same_act_distractors=self.config["same_act_distractors"],
                    reword=self.config["reword"],
                    pool_episodes=self.config["pool_episodes"],
                    pool_seed=self.config["pool_seed"])
            finally:
                env.close()
            self.config["reword"] = self._generator.reword  # "auto" resolved for this env
        return self._generator

    @property
    def observer(self) -> ObservationEmbedder | ObservationTokenizer:
        """Maps an observation with candidates to the network's input (built on first use)."""
        if self._observer is None:
            c = self.config
            if c["observation"] == "embedding":
                self._observer = ObservationEmbedder(c["history_lines"], c["k"],
                                                     model=c["embedding_model"])
            else:
                self._observer = ObservationTokenizer(c["history_lines"], c["k"],
                                                      vocab_size=c["vocab_size"],
                                                      max_tokens=c["max_tokens"])
        return self._observer

    def make_env(self) -> gym.Env:
        """One training env: the observation wrapper over ``CandidateActions(gym.make(id))``."""
        c = self.config
        env = CandidateActions(self._make_base_env(), generator=self.generator.clone())
        if c["observation"] == "embedding":
            return EmbeddingObservation(env, history_lines=c["history_lines"],
                                        model=c["embedding_model"])
        return TokenIdObservation(env, history_lines=c["history_lines"],
                                  vocab_size=c["vocab_size"], max_tokens=c["max_tokens"])

    def _spaces(self) -> tuple[gym.Space, gym.Space]:
        return self.observer.space, gym.spaces.Discrete(self.config["k"])

    def _make_vec_env(self) -> Any:
        from stable_baselines3.common.env_util import make_vec_env
        from stable_baselines3.common.vec_env import DummyVecEnv

        return make_vec_env(self.make_env, n_envs=self.config["n_envs"], seed=self.seed,
                            vec_env_cls=DummyVecEnv)

    def _build_model(self, env: Any) -> Any:
        algo_cls, policy_cls = _algo_class(self.algo)
        tb = self.tensorboard_log
        if tb is not None:
            try:
                import tensorboard  # noqa: F401
            except ImportError:
                tb = None
        return algo_cls(policy_cls, env, seed=self.seed, device=self.device,
                        policy_kwargs=dict(self.config["policy_kwargs"]), tensorboard_log=tb,
                        verbose=self.verbose, **self.config["hyperparams"])

    # ------------------------------------------------------------------ Agent API
    def reset(self) -> None:
        """Nothing to forget: :meth:`act` is a function of the observation."""

    def choose(self, observation: Mapping[str, Any]) -> tuple[int, tuple[str, ...]]:
        """The index the model picks and the candidates it picked from."""
        if self.model is None:
            self.model = self._build_model(_SpacesEnv(*self._spaces()))
        history = str(observation.get("history", ""))
        rng = np.random.default_rng([self.seed, zlib.crc32(history.encode("utf-8"))])
        cset = self.generator.candidates(observation, rng)
        x = self.observer({**observation, "candidates": cset.replies})
        kwargs: dict[str, Any] = {"deterministic": self.deterministic}
        if self.algo == "maskable-ppo":
            kwargs["action_masks"] = cset.mask
        action, _ = self.model.predict(x, **kwargs)
        return int(np.asarray(action).reshape(())), cset.replies

    def act(self, observation: Mapping[str, Any]) -> str:
        """Rebuild the candidates of a raw env observation and say the chosen one."""
        index, replies = self.choose(observation)
        return replies[index]

    def learn(self, total_timesteps: int, *, callback: Any = None, progress_bar: bool = False,
              tb_log_name: str | None = None, reset_num_timesteps: bool = False) -> SB3Agent:
        """Train for ``total_timesteps`` more env steps (SB3 ``learn``); returns ``self``."""
        if total_timesteps < 1:
            raise ConfigError(f"total_timesteps must be >= 1, got {total_timesteps}")
        if self._train_env is None:
            self._train_env = self._make_vec_env()
            previous = self.model
            self.model = self._build_model(self._train_env)
            if previous is not None:  # loaded or built for playing: carry the weights over
                self.model.set_parameters(previous.get_parameters(), exact_match=True,
                                          device=self.device)
                self.model.num_timesteps = previous.num_timesteps
        self.model.learn(total_timesteps, callback=callback, progress_bar=progress_bar,
                         tb_log_name=tb_log_name or self.name,
                         reset_num_timesteps=reset_num_timesteps)
        self.config["num_timesteps"] = int(self.model.num_timesteps)
        return self

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write ``model.zip`` and ``agent.json`` into the directory ``path``."""
        if self.model is None:
            self.model = self._build_model(_SpacesEnv(*self._spaces()))
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        tmp = out / (MODEL_FILE + ".tmp.zip")
        self.model.save(tmp)
        os.replace(tmp, out / MODEL_FILE)
        import stable_baselines3

        config = {**self.config, "versions": {"stable_baselines3": stable_baselines3.__version__}}
        atomic_write_text(out / CONFIG_FILE, json.dumps(config, indent=2) + "\n")

    def load(self, path: str | os.PathLike[str]) -> SB3Agent:
        """Replace this agent's configuration and weights with those saved at ``path``."""
        config = self._read_config(Path(path))
        config["n_envs"] = self.config.get("n_envs", 4)
        self.config = config
        self._generator = self._observer = None
        self.model = self._train_env = None
        self._load_model(Path(path))
        return self

    def _read_config(self, path: Path) -> dict[str, Any]:
        cfg_file = path / CONFIG_FILE
        if not cfg_file.is_file():
            hint = (" (that is a zip: pass its directory)" if path.suffix == ".zip" else "")
            raise ConfigError(
                f"no {CONFIG_FILE} in {str(path)!r}{hint}; expected a directory written by "
                f"`dialog-gym train sb3 --out DIR` or agent.save(DIR)"
            )
        config = json.loads(cfg_file.read_text(encoding="utf-8"))
        if config.get("algo") is None:
            raise ConfigError(
                f"{str(cfg_file)!r} names no SB3 algorithm: {str(path)!r} is not a checkpoint "
                f"of an SB3 agent; expected a directory written by `dialog-gym train sb3 "
                f"--out DIR` or agent.save(DIR) (a leaderboard's checkpoints/<agent>/<env>/)"
            )
        if config.get("algo") != self.algo:
            raise ConfigError(
                f"{str(path)!r} holds an {config.get('algo')!r} agent, not {self.algo!r}; load "
                f"it with make_agent({ALGOS.get(config.get('algo'), 'sb3-...')!r}, path=...)"
            )
        if config.get("format", 0) > FORMAT_VERSION:
            raise ConfigError(f"{str(cfg_file)!r} has format {config['format']}; this "
                              f"dialog-gym reads format <= {FORMAT_VERSION}: upgrade dialog-gym")
        config.pop("versions", None)
        return config

    def _load_model(self, path: Path) -> None:
        zip_path = path / MODEL_FILE
        if not zip_path.is_file():
            raise ConfigError(f"no {MODEL_FILE} in {str(path)!r}")
        self.seed = int(self.config.get("seed", self.seed))
        self.model = self._build_model(_SpacesEnv(*self._spaces()))
        self.model.set_parameters(str(zip_path), exact_match=True, device=self.device)
        self.model.num_timesteps = int(self.config.get("num_timesteps", 0))

    #: Training budget of :meth:`quick_train` (env steps).
    quick_steps: ClassVar[int] = 20_000

    @classmethod
    def quick_train(cls, env_id: str, out_dir: str | os.PathLike[str], *,
                    seed: int = 0, env_kwargs: Mapping[str, Any] | None = None
                    ) -> dict[str, Any]:
        """Train with the quick preset (:attr:`quick_steps` steps) for the leaderboard.

        Saves to ``out_dir/sb3`` (``out_dir`` itself holds the leaderboard's own
        ``agent.json``) and returns the keyword arguments that load the trained agent.
        ``env_kwargs`` go to the training envs' ``gym.make`` (e.g. a corpus split).
        """
        path = Path(out_dir) / "sb3"
        agent = cls(env_id, seed=seed, env_kwargs=env_kwargs)
        try:
            agent.learn(cls.quick_steps)
            agent.save(path)
        finally:
            agent.close()
        return {"path": str(path)}

    def close(self) -> None:
        """Close the training envs."""
        if self._train_env is not None:
            self._train_env.close()
            self._train_env = None

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(env_id={self.env_id!r}, k={self.config['k']}, "
                f"steps={self.config.get('num_timesteps', 0)})")


class PPOAgent(SB3Agent):
    """``sb3-ppo``: SB3 PPO with the candidate-scoring actor-critic. See :class:`SB3Agent`."""

    name = "sb3-ppo"
    algo = "ppo"


class A2CAgent(SB3Agent):
    """``sb3-a2c``: SB3 A2C with the candidate-scoring actor-critic. See :class:`SB3Agent`."""

    name = "sb3-a2c"
    algo = "a2c"


class DQNAgent(SB3Agent):
    """``sb3-dqn``: SB3 DQN, Q-values from the candidate scorer (DRRN). See :class:`SB3Agent`."""

    name = "sb3-dqn"
    algo = "dqn"


class MaskablePPOAgent(SB3Agent):
    """``sb3-maskable-ppo``: sb3-contrib MaskablePPO reading ``action_masks()``.

    See :class:`SB3Agent`; needs the ``sb3`` extra (sb3-contrib).
    """

    name = "sb3-maskable-ppo"
    algo = "maskable-ppo"


_AGENT_CLASSES: dict[str, type[SB3Agent]] = {
    "ppo": PPOAgent, "a2c": A2CAgent, "dqn": DQNAgent, "maskable-ppo": MaskablePPOAgent}


def train(algo: str, env_id: str, steps: int, out: str | os.PathLike[str], *,
          progress_bar: bool = True, tensorboard: bool = True, **agent_kwargs: Any) -> SB3Agent:
    """Train an SB3 agent and save it to ``out`` (what ``dialog-gym train sb3`` runs).

    TensorBoard logs go to ``out/tb`` when ``tensorboard`` is installed.
    """
    if algo not in _AGENT_CLASSES:
        raise ConfigError(f"unknown algorithm {algo!r}; expected one of {sorted(_AGENT_CLASSES)}")
    tb_dir = None
    if tensorboard:
        try:
            import tensorboard as _tb  # noqa: F401

            tb_dir = str(Path(out) / "tb")
        except ImportError:
            tb_dir = None
    agent = _AGENT_CLASSES[algo](env_id, tensorboard_log=tb_dir, **agent_kwargs)
    try:
        agent.learn(steps, progress_bar=progress_bar)
        agent.save(out)
    finally:
        agent.close()
    return agent
