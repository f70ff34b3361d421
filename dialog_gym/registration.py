"""Environment ids and their registration with Gymnasium."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym


@dataclass(frozen=True)
class EnvInfo:
    """One registered environment: id, entry point, turn limit and a one-line summary.

    ``train_kwargs`` / ``eval_kwargs``: ``gym.make`` arguments for learning from the env
    and for evaluating on it, where the two must differ (a replayed corpus has a fixed set
    of dialogues: whatever learns from its test split can recite the gold replies).
    """

    id: str
    entry_point: str
    max_episode_steps: int
    summary: str
    train_kwargs: Mapping[str, Any] = field(default_factory=dict)
    eval_kwargs: Mapping[str, Any] = field(default_factory=dict)


ENVS: tuple[EnvInfo, ...] = (
    EnvInfo(
        "Dialog-CustomerService-v0",
        "dialog_gym.envs.customer_service:CustomerServiceEnv",
        20,
        "online shop support desk: tracking, refunds, cancellations, address changes, "
        "account access, billing disputes; inline tool calls; tau-bench-style success",
    ),
    EnvInfo(
        "Dialog-VirtualAssistant-v0",
        "dialog_gym.envs.virtual_assistant:VirtualAssistantEnv",
        20,
        "voice assistant: calendar events, reminders, alarms, timers (slot filling, "
        "read-back and confirmation, mid-talk corrections), weather and unit conversions",
    ),
    EnvInfo(
        "Dialog-Recommendation-v0",
        "dialog_gym.envs.recommendation:RecommendationEnv",
        20,
        "conversational recommendation (restaurants, movies, hotels) from a seeded "
        "catalogue: stated and unstated needs, one fitting item, two rejections allowed",
    ),
    EnvInfo(
        "Dialog-Corpus-v0",
        "dialog_gym.envs.corpus:CorpusEnv",
        20,
        "replay a JSONL dialogue corpus (demo corpus bundled); replies scored against the "
        "gold replies (token F1, BLEU)",
        train_kwargs={"split": "train"},
        eval_kwargs={"split": "test"},
    ),
    EnvInfo(
        "Dialog-QA-v0",
        "dialog_gym.envs.qa:QAEnv",
        15,
        "conversational QA over a generated passage about fictional entities: follow-ups "
        "with coreference, unanswerable questions to decline, contradictions penalised",
    ),
    EnvInfo(
        "Dialog-TwentyQuestions-v0",
        "dialog_gym.envs.twenty_questions:TwentyQuestionsEnv",
        20,
        "twenty questions over a shipped knowledge base (102 entities, 38 attributes): "
        "yes/no questions, one spare wrong guess, reward for winning in fewer turns",
    ),
    EnvInfo(
        "Dialog-EmotionalSupport-v0",
        "dialog_gym.envs.emotional_support:EmotionalSupportEnv",
        15,
        "peer-support chat: seeded problem and emotion, details shared on open questions; "
        "mood rises with the right emotion, specific reflections and fitting advice; "
        "dismissive or unsafe replies penalised; crisis signals need safety support",
    ),
)

#: ``gym.make`` arguments for learning from an env (demonstrations, training), by id.
TRAIN_ENV_KWARGS: dict[str, dict[str, Any]] = {
    e.id: dict(e.train_kwargs) for e in ENVS if e.train_kwargs}
#: ``gym.make`` arguments for evaluating on an env (held-out data), by id.
EVAL_ENV_KWARGS: dict[str, dict[str, Any]] = {
    e.id: dict(e.eval_kwargs) for e in ENVS if e.eval_kwargs}


def register_envs() -> None:
    """Register every dialog-gym id with Gymnasium (idempotent)."""
    for info in ENVS:
        if info.id in gym.registry:
            continue
        gym.register(
            id=info.id,
            entry_point=info.entry_point,
            vector_entry_point=functools.partial(_vector_entry_point, info.entry_point),
            max_episode_steps=info.max_episode_steps,
            disable_env_checker=False,
        )


def _vector_entry_point(entry_point: str, **kwargs: Any) -> Any:
    from dialog_gym.vector import make_vector_env

    return make_vector_env(entry_point, **kwargs)


#: entry-point group of environment plugins: ``name = env id``, ``value = "module:Class"``
ENV_ENTRY_POINT_GROUP = "dialog_gym.envs"


@functools.lru_cache(maxsize=1)
def _plugin_envs() -> tuple[str, ...]:
    """Register the envs of the ``dialog_gym.envs`` entry-point group (once per process).

    A plugin's entry point is what ``gym.register`` takes, ``"module:Class"``; the class's
    ``max_episode_steps`` attribute (default 20) is the turn limit. A plugin that fails to
    load is named in a warning and skipped. Called when ``dialog_gym`` is imported, so
    that ``gym.make`` of a plugin id works in every process, as for the built-ins.
    """
    import warnings
    from importlib.metadata import entry_points

    from dialog_gym.registry import load_attr

    found = []
    for ep in entry_points(group=ENV_ENTRY_POINT_GROUP):
        try:
            cls = load_attr(ep.value)
        except Exception as e:  # a broken plugin must not take the registry down
            warnings.warn(f"environment plugin {ep.name!r} ({ep.value}) failed to load: "
                          f"{type(e).__name__}: {e}", stacklevel=2)
            continue
        if ep.name not in gym.registry:
            gym.register(id=ep.name, entry_point=ep.value,
                         vector_entry_point=functools.partial(_vector_entry_point, ep.value),
                         max_episode_steps=int(getattr(cls, "max_episode_steps", 20)))
        found.append(ep.name)
    return tuple(found)


def _is_dialogue_env(spec: Any) -> bool:
    """A Gymnasium registration whose entry point is a DialogueEnv subclass.

    Only entry points already imported are inspected (a user's ``gym.register`` call sits
    in a module they imported), so listing ids never imports third-party modules.
    """
    import sys

    from dialog_gym.env import DialogueEnv

    ep = spec.entry_point
    if isinstance(ep, str):
        mod, _, attr = ep.partition(":")
        module = sys.modules.get(mod)
        ep = getattr(module, attr, None) if module is not None else None
    return isinstance(ep, type) and issubclass(ep, DialogueEnv)


def env_ids() -> list[str]:
    """The dialog-gym ids.

    The built-ins, then entry-point plugins (group ``dialog_gym.envs``), then any
    :class:`~dialog_gym.env.DialogueEnv` subclass registered with plain ``gym.register``.
    """
    ids = [e.id for e in ENVS]
    for name in _plugin_envs():
        if name not in ids:
            ids.append(name)
    for env_id, spec in gym.registry.items():
        if env_id not in ids and _is_dialogue_env(spec):
            ids.append(env_id)
    return ids


def check_env_id(env_id: str) -> str:
    """``env_id`` if it is a registered dialog-gym id.

    Otherwise a :class:`~dialog_gym.error.RegistryError` that names the registered ids
    and the closest one ("did you mean ...", case-insensitive).
    """
    from dialog_gym.error import RegistryError, did_you_mean

    if env_id in env_ids():
        return env_id
    raise RegistryError(f"Unknown environment {env_id!r}; registered dialog-gym ids: "
                        f"{', '.join(env_ids())}." + did_you_mean(env_id, env_ids()))


def make_expert(env_id: str, **env_kwargs: Any) -> Any:
    """A fresh scripted expert for ``gym.make(env_id, **env_kwargs)``, built by its domain."""
    check_env_id(env_id)
    env = gym.make(env_id, **env_kwargs)
    try:
        return env.unwrapped.domain.make_expert()
    finally:
        env.close()


def expert_for(env_id: str) -> type:
    """The scripted expert policy class of an env id, found through its env class's domain."""
    from dialog_gym.error import RegistryError, did_you_mean
    from dialog_gym.registry import load_attr

    try:
        spec = gym.spec(env_id)
    except gym.error.Error as e:
        raise RegistryError(
            f"Unknown environment {env_id!r}; registered dialog-gym ids: {env_ids()}."
            + did_you_mean(env_id, env_ids())
        ) from e
    entry = spec.entry_point
    cls = load_attr(entry) if isinstance(entry, str) else entry
    domain_cls = getattr(cls, "domain_cls", None)
    if domain_cls is None:
        raise RegistryError(f"{env_id!r} is not a dialog-gym DialogueEnv; it has no expert")
    return type(domain_cls().make_expert())
