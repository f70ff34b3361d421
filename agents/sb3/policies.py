"""Candidate-scoring policies for SB3: one shared network scores every candidate reply.

With :class:`~dialog_gym.wrappers.CandidateActions`, action ``i`` means "say candidate
``i``", and the candidates move to a new random slot every step. A plain MLP over the
flattened observation would have to learn the same judgement separately for every slot.
Here, as in DRRN (He et al., 2016, "Deep Reinforcement Learning with a Natural Language
Action Space"), one network encodes the dialogue state and each candidate and scores the
pair, with weights shared across slots; the logits (PPO, A2C) or Q-values (DQN) are those
scores, so the policy is equivariant to the order of the candidates.

Observation layout (from :class:`~dialog_gym.wrappers.EmbeddingObservation` or
:class:`~dialog_gym.wrappers.TokenIdObservation` over ``CandidateActions``): a
``(state_rows + k, width)`` array; the last ``k`` rows are the candidates. Float rows are
sentence embeddings; integer rows are token ids, encoded by a learned bag of embeddings.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.dqn.policies import DQNPolicy, QNetwork
from torch import nn

from dialog_gym.error import ConfigError

try:
    from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
except ImportError:  # pragma: no cover - sb3-contrib is optional for PPO, A2C and DQN
    MaskableActorCriticPolicy = None

__all__ = ["CandidateScorer", "CandidateActorCriticPolicy", "CandidateMaskablePolicy",
           "CandidateDQNPolicy"]


class CandidateScorer(BaseFeaturesExtractor):
    """Scores each candidate against the dialogue state; outputs ``[scores, state]``.

    ``state = MLP(flatten(state rows))``; per candidate ``c_i = MLP(row_i)``, and
    ``score_i = MLP([state, c_i, state * c_i, cos(row_i, state rows)])`` with the same
    weights for every ``i``. The output is the ``k`` scores followed by the ``hidden``
    state features (used by the critic), or the scores alone with
    ``value_features=False`` (DQN).

    Args:
        observation_space: ``Box((state_rows + k, width))``, float embeddings or int ids.
        n_candidates: ``k``.
        hidden: Width of the state and candidate codes.
        state_hidden: Width of the first state layer.
        value_features: Append the state code to the output.
        vocab_size: Number of token ids (integer observations only; default: the space's
            ``high + 1``).
        token_dim: Width of the token embeddings (integer observations only).
    """

    def __init__(self, observation_space: gym.spaces.Box, n_candidates: int, *,
                 hidden: int = 128, state_hidden: int = 256, value_features: bool = True,
                 vocab_size: int | None = None, token_dim: int = 64) -> None:
        shape = observation_space.shape
        if shape is None or len(shape) != 2 or shape[0] <= n_candidates:
            raise ConfigError(
                f"CandidateScorer expects a (state_rows + k, width) observation with k="
                f"{n_candidates} candidate rows (EmbeddingObservation or TokenIdObservation "
                f"over CandidateActions); got shape {shape}"
            )
        k = int(n_candidates)
        super().__init__(observation_space, k + (hidden if value_features else 0))
        self.k = k
        self.state_rows = int(shape[0]) - k
        self.value_features = value_features
        self.tokens = np.issubdtype(observation_space.dtype, np.integer)
        if self.tokens:
            vocab = int(vocab_size or int(np.max(observation_space.high)) + 1)
            self.embed = nn.Embedding(vocab, token_dim, padding_idx=0)
            width = token_dim
        else:
            self.embed = None
            width = int(shape[1])
        self.state_net = nn.Sequential(
            nn.Linear(self.state_rows * width, state_hidden), nn.ReLU(),
            nn.Linear(state_hidden, hidden), nn.ReLU(),
        )
        self.cand_net = nn.Sequential(nn.Linear(width, hidden), nn.ReLU(),
                                      nn.Linear(hidden, hidden), nn.ReLU())
        self.score_hidden = nn.Sequential(nn.Linear(3 * hidden + self.state_rows, hidden),
                                          nn.ReLU())
        self.score_out = nn.Linear(hidden, 1)

    def _rows(self, obs: th.Tensor) -> th.Tensor:
        if self.embed is None:
            return obs.float()
        ids = obs.long().clamp(min=0, max=self.embed.num_embeddings - 1)
        vecs = self.embed(ids)  # (B, R, T, E)
        present = (ids > 0).float().unsqueeze(-1)
        return (vecs * present).sum(-2) / present.sum(-2).clamp(min=1.0)

    def forward(self, observations: th.Tensor) -> th.Tensor:
        """``(B, k [+ hidden])`` scores (and state features)."""
        rows = self._rows(observations)
        state_rows, cands = rows[:, : self.state_rows], rows[:, self.state_rows:]
        state = self.state_net(state_rows.flatten(1))
        code = self.cand_net(cands)
        s = state.unsqueeze(1).expand(-1, self.k, -1)
        sims = th.einsum("bkd,brd->bkr", nn.functional.normalize(cands, dim=-1),
                         nn.functional.normalize(state_rows, dim=-1))
        z = th.cat([s, code, s * code, sims], dim=-1)
        scores = self.score_out(self.score_hidden(z)).squeeze(-1)
        return th.cat([scores, state], dim=1) if self.value_features else scores

    def shrink_scores(self, scale: float = 0.01) -> None:
        """Scale the last scoring layer down, so the initial policy is near uniform."""
        with th.no_grad():
            self.score_out.weight.mul_(scale)
            self.score_out.bias.zero_()


class _ScoreSplit(nn.Module):
    """The policy/value split of ``[scores, state]``: logits are the scores as they are."""

    def __init__(self, k: int, state_dim: int, vf_hidden: int = 64) -> None:
        super().__init__()
        self.k = k
        self.latent_dim_pi = k
        self.latent_dim_vf = vf_hidden
        self.value_net = nn.Sequential(nn.Linear(state_dim, vf_hidden), nn.Tanh())

    def forward(self, features: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        return self.forward_actor(features), self.forward_critic(features)

    def forward_actor(self, features: th.Tensor) -> th.Tensor:
        return features[:, : self.k]

    def forward_critic(self, features: th.Tensor) -> th.Tensor:
        return self.value_net(features[:, self.k:])


def _candidate_kwargs(action_space: gym.Space, kwargs: dict[str, Any], *,
                      value_features: bool) -> dict[str, Any]:
    if not isinstance(action_space, gym.spaces.Discrete):
        raise ConfigError(f"candidate policies need a Discrete action space (CandidateActions); "
                          f"got {action_space}")
    fe_kwargs = dict(kwargs.get("features_extractor_kwargs") or {})
    fe_kwargs.setdefault("n_candidates", int(action_space.n))
    fe_kwargs["value_features"] = value_features
    kwargs["features_extractor_kwargs"] = fe_kwargs
    kwargs.setdefault("features_extractor_class", CandidateScorer)
    return kwargs


class _CandidateHead:
    """Mixin for (maskable) actor-critic policies: logits come straight from the scorer."""

    def __init__(self, observation_space: gym.Space, action_space: gym.Space,
                 lr_schedule: Any, *, vf_hidden: int = 64, **kwargs: Any) -> None:
        self.vf_hidden = vf_hidden
        kwargs = _candidate_kwargs(action_space, kwargs, value_features=True)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)  # type: ignore[call-arg]

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()  # type: ignore[misc]
        data["vf_hidden"] = self.vf_hidden
        return data

    def _build_mlp_extractor(self) -> None:
        k = int(self.action_space.n)  # type: ignore[attr-defined]
        state_dim = self.features_dim - k  # type: ignore[attr-defined]
        self.mlp_extractor = _ScoreSplit(k, state_dim, self.vf_hidden)

    def _build(self, lr_schedule: Any) -> None:
        super()._build(lr_schedule)  # type: ignore[misc]
        # the scores are the logits: no extra linear layer mixing the slots
        self.action_net = nn.Identity()
        for extractor in {id(m): m for m in (self.features_extractor,  # type: ignore[attr-defined]
                                              getattr(self, "pi_features_extractor", None))
                          if m is not None}.values():
            extractor.shrink_scores()
        self.optimizer = self.optimizer_class(  # type: ignore[attr-defined]
            self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)  # type: ignore[attr-defined]


class CandidateActorCriticPolicy(_CandidateHead, ActorCriticPolicy):
    """Actor-critic policy for PPO and A2C over candidate actions (see the module doc).

    Args:
        vf_hidden: Width of the critic's hidden layer on top of the state code.
        **kwargs: As :class:`stable_baselines3.common.policies.ActorCriticPolicy`
            (``features_extractor_kwargs`` go to :class:`CandidateScorer`).
    """


if MaskableActorCriticPolicy is not None:

    class CandidateMaskablePolicy(_CandidateHead, MaskableActorCriticPolicy):
        """:class:`CandidateActorCriticPolicy` for sb3-contrib's ``MaskablePPO``."""

else:  # pragma: no cover - sb3-contrib missing
    CandidateMaskablePolicy = None  # type: ignore[assignment,misc]


class _TakeScores(nn.Module):
    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = k

    def forward(self, features: th.Tensor) -> th.Tensor:
        return features[:, : self.k]


class CandidateDQNPolicy(DQNPolicy):
    """DQN policy over candidate actions: ``Q(s, a_i)`` is the shared scorer's output (DRRN).

    Args:
        **kwargs: As :class:`stable_baselines3.dqn.policies.DQNPolicy`
            (``features_extractor_kwargs`` go to :class:`CandidateScorer`).
    """

    def __init__(self, observation_space: gym.Space, action_space: gym.Space,
                 lr_schedule: Any, **kwargs: Any) -> None:
        kwargs = _candidate_kwargs(action_space, kwargs, value_features=False)
        super().__init__(observation_space, action_space, lr_schedule, **kwargs)

    def make_q_net(self) -> QNetwork:
        """A Q-network whose head passes the per-candidate scores through."""
        q = super().make_q_net()
        q.q_net = _TakeScores(int(self.action_space.n))
        return q
