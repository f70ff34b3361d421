"""A vector environment that batches reward scoring across sub-environments.

``gym.make_vec(id, num_envs=N)`` (or ``vectorization_mode="vector_entry_point"``) builds
a :class:`DialogueVectorEnv`: it steps its ``N`` dialogue envs in one process like
Gymnasium's ``SyncVectorEnv``, but splits each step in two (``step_begin`` /
``step_end``) and calls every reward scorer once on the batch of ``N`` replies. Neural
scorers (sentence embeddings, reward models) then run one forward pass per vector step
instead of ``N``. Observations, rewards, infos and autoreset behave exactly as in
``SyncVectorEnv`` (same seeds, same results); ``"sync"`` and ``"async"`` modes remain
available.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from gymnasium.vector.utils import concatenate, iterate

from dialog_gym.env import DialogueEnv, _score_terms
from dialog_gym.error import ConfigError
from dialog_gym.registry import load_attr
from dialog_gym.understanding import prefetch


class DialogueVectorEnv(SyncVectorEnv):
    """``N`` dialogue envs stepped together, with one batched scorer call per step.

    Args:
        env_fns: Callables returning *unwrapped* :class:`~dialog_gym.env.DialogueEnv` s
            with identical reward configuration.
        max_episode_steps: Turn limit per episode (``truncated`` when reached), the
            counterpart of Gymnasium's ``TimeLimit``.
        copy: Return copies of the observations (as ``SyncVectorEnv``).
        autoreset_mode: ``"NextStep"`` (default), ``"SameStep"`` or ``"Disabled"``.
    """

    def __init__(self, env_fns: list[Callable[[], DialogueEnv]], *,
                 max_episode_steps: int | None = None, copy: bool = True,
                 autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP) -> None:
        super().__init__(env_fns, copy=copy, autoreset_mode=autoreset_mode)
        for e in self.envs:
            if not isinstance(e, DialogueEnv):
                raise ConfigError(
                    f"DialogueVectorEnv needs unwrapped DialogueEnv instances, got "
                    f"{type(e).__name__}; use gym.make_vec(..., vectorization_mode='sync') "
                    "for other envs"
                )
        if max_episode_steps is not None and max_episode_steps < 1:
            raise ConfigError(f"max_episode_steps must be >= 1, got {max_episode_steps}")
        self.max_episode_steps = max_episode_steps
        self._elapsed = np.zeros(self.num_envs, dtype=np.int64)
        self.reward_fn = self.envs[0].reward_fn

    def reset(self, *, seed: int | list[int | None] | None = None,
              options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """Reset every sub-environment (seeds ``seed + i`` as ``SyncVectorEnv``)."""
        out = super().reset(seed=seed, options=options)
        if options is None or "reset_mask" not in options:
            self._elapsed[:] = 0
        else:
            self._elapsed[np.asarray(options["reset_mask"], dtype=bool)] = 0
        return out

    def step(self, actions: Any) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray,
                                          dict[str, Any]]:
        """Step all sub-environments, scoring their replies in one batch."""
        acts = list(iterate(self.action_space, actions))
        infos: dict[str, Any] = {}
        env_infos: list[dict[str, Any] | None] = [None] * self.num_envs
        pending: dict[int, Any] = {}
        # one encoder batch for every clause of this step's replies that needs it
        prefetch((env.lexicon, env.heard_text(a)) for i, (a, env) in
                 enumerate(zip(acts, self.envs, strict=True))
                 if isinstance(a, str) and env._started and not self._autoreset_envs[i])
        for i, (action, env) in enumerate(zip(acts, self.envs, strict=True)):
            if self.autoreset_mode == AutoresetMode.NEXT_STEP and self._autoreset_envs[i]:
                self._env_obs[i], env_infos[i] = env.reset()
                self._elapsed[i] = 0
                self._rewards[i] = 0.0
                self._terminations[i] = False
                self._truncations[i] = False
            else:
                if self.autoreset_mode == AutoresetMode.DISABLED and self._autoreset_envs[i]:
                    raise ConfigError(
                        f"sub-env {i} ended; with autoreset_mode=Disabled reset it first"
                    )
                pending[i] = env.step_begin(action)

        if pending:
            terms = _score_terms(self.reward_fn, [p.score_input for p in pending.values()])
        for j, (i, p) in enumerate(pending.items()):
            env = self.envs[i]
            obs, rew, term, trunc, info = env.step_end(
                p, {k: float(v[j]) for k, v in terms.items()})
            self._elapsed[i] += 1
            if self.max_episode_steps is not None and self._elapsed[i] >= self.max_episode_steps:
                trunc = True  # as Gymnasium's TimeLimit: also on the terminating step
            self._env_obs[i], self._rewards[i] = obs, rew
            self._terminations[i], self._truncations[i] = term, trunc
            if self.autoreset_mode == AutoresetMode.SAME_STEP and (term or trunc):
                infos = self._add_info(infos, {"final_obs": obs, "final_info": info}, i)
                self._env_obs[i], info = env.reset()
                self._elapsed[i] = 0
            env_infos[i] = info

        for i, info in enumerate(env_infos):
            infos = self._add_info(infos, info or {}, i)
        self._observations = concatenate(self.single_observation_space, self._env_obs,
                                         self._observations)
        self._autoreset_envs = np.logical_or(self._terminations, self._truncations)
        from copy import deepcopy

        return (deepcopy(self._observations) if self.copy else self._observations,
                np.copy(self._rewards), np.copy(self._terminations),
                np.copy(self._truncations), infos)


def make_vector_env(entry_point: str, num_envs: int = 1, *,
                    max_episode_steps: int | None = None, copy: bool = True,
                    autoreset_mode: str | AutoresetMode = AutoresetMode.NEXT_STEP,
                    **env_kwargs: Any) -> DialogueVectorEnv:
    """The ``vector_entry_point`` of every dialog-gym id (``entry_point`` is the env class)."""
    if num_envs < 1:
        raise ConfigError(f"num_envs must be >= 1, got {num_envs}")
    cls = load_attr(entry_point) if isinstance(entry_point, str) else entry_point

    def make() -> DialogueEnv:
        return cls(**env_kwargs)

    return DialogueVectorEnv([make] * num_envs, max_episode_steps=max_episode_steps,
                             copy=copy, autoreset_mode=autoreset_mode)
