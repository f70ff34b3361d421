"""dialog-gym as a `verifiers <https://github.com/PrimeIntellect-ai/verifiers>`_ environment.

verifiers 0.4 (the ``verifiers.v1`` stack that ``vf-eval`` and prime-rl run) splits an
environment into a **taskset** (the rows), a **task** (per-rollout setup and scoring:
``@vf.reward`` / ``@vf.metric`` methods, the rubric of earlier verifiers releases), an
**env** (how one task becomes one episode, ``Env.run``) and a **harness** (the program that
talks to the model through verifiers' interception endpoint). This module provides all
four for any registered dialog-gym id; :func:`load_environment` builds the env:

- **rows**: one task per seed (``seed, seed + 1, ...``, ``num_examples`` of them, or an
  endless stream with ``num_examples=None``). A row's ``prompt`` is the env's reset
  messages (the system context and the simulated user's opening message, in OpenAI chat
  format) and its ``tools`` are the env's OpenAI function schemas
  (``env.unwrapped.tool_schemas``); ``env_id``, ``seed`` and ``env_kwargs`` replay it.
- **setup** (:meth:`DialogGymTask.setup`): a dialog-gym env is made and reset with the
  row's seed; it lives in the rollout's ``trace.state`` (:class:`DialogGymState`).
- **harness** (:class:`DialogGymHarness`, the taskset's default): one model call per
  turn, in-process, through the interception endpoint, with the row's tool schemas as
  ``tools``. It does not run the tools: the calls go back to the env with the reply.
- **env response** (:meth:`DialogGymEnv.run`): the model's assistant message (content and
  ``tool_calls``) is played with ``env.step(message)``; the new messages (one ``tool``
  result per call, answering its ``tool_call_id``, then the simulated user's reply) are
  the next turn. The exchange ends when the dialog-gym episode terminates or is truncated
  (``max_episode_steps``), or when verifiers stops it (``max_turns``, an error).
- **rubric** (:class:`DialogGymTask`): the reward ``episode_return`` (weight 1) is the
  env's episode return; the metrics (weight 0: recorded, not summed) are ``success``,
  ``turns``, ``finished`` (the episode ended inside the rollout), ``terminated``,
  ``truncated``, ``progress``, ``violations`` and one ``score/<term>`` per reward term (its
  per-step values summed, before weighting).

Example:
    Evaluate a model served at an OpenAI-compatible ``base_url`` with verifiers' own
    eval runner (what ``vf-eval`` runs)::

        import asyncio
        import verifiers.v1 as vf
        from verifiers.v1.cli.eval.runner import run_eval
        from verifiers.v1.configs.cli.eval import EvalConfig
        from dialog_gym.integrations.verifiers import load_environment

        env = load_environment("Dialog-CustomerService-v0", num_examples=4)
        config = EvalConfig(env=env.config, model="my-model", push=False, rich=None,
                            client=vf.EvalClientConfig(base_url="http://localhost:8000/v1",
                                                       api_key_var="MY_KEY"))
        episodes = asyncio.run(run_eval(config))
        print([e.traces[0].reward for e in episodes])

    or from the shell: ``python -m dialog_gym.integrations.verifiers
    --env.taskset.env-id Dialog-QA-v0 -m my-model --client.base-url URL --no-push``
    (``vf-eval``'s arguments, this taskset preselected; see :func:`main`).

verifiers finds tasksets, envs and harnesses by importing their id as a top-level module;
importing this module registers it as ``dialog_gym_verifiers`` (taskset id
:data:`TASKSET_ID`), so configs built here resolve in the same process.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from typing import Any

from dialog_gym.extras import require

vf = require("verifiers.v1", "the verifiers adapter")

from pydantic import ConfigDict, Field, field_validator  # noqa: E402 (after the require)
from verifiers.v1.dialects.chat import message_to_wire  # noqa: E402
from verifiers.v1.runtimes import ProgramResult  # noqa: E402

#: The module name verifiers imports for this taskset (and its env and harness).
MODULE_ALIAS = "dialog_gym_verifiers"
#: The taskset id (``--env.taskset.id``); verifiers maps ``-`` to ``_`` when importing it.
TASKSET_ID = "dialog-gym-verifiers"
#: The dialog-gym env of :func:`load_environment` when none is named.
DEFAULT_ENV_ID = "Dialog-CustomerService-v0"

if __name__ != "__main__":  # ``python -m`` imports the real module in main()
    sys.modules.setdefault(MODULE_ALIAS, sys.modules[__name__])


def _make_env(env_id: str, env_kwargs: Mapping[str, Any]) -> Any:
    """``gym.make(env_id, **env_kwargs)`` with an error naming the ids or the bad kwargs."""
    import gymnasium as gym

    import dialog_gym

    ids = dialog_gym.env_ids()
    if env_id not in ids:
        raise ValueError(f"unknown dialog-gym env id {env_id!r}; expected one of {ids}")
    try:
        return gym.make(env_id, **dict(env_kwargs))
    except TypeError as e:
        raise ValueError(f"gym.make({env_id!r}, **{dict(env_kwargs)!r}) failed: {e}") from e


def _plain(messages: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    from dialog_gym.messages import plain

    return plain(messages)


# ============================================================================ config


class DialogGymTasksetConfig(vf.TasksetConfig):
    """Which dialog-gym env and seeds the rows are (``--env.taskset.*``)."""

    id: str = TASKSET_ID
    env_id: str = DEFAULT_ENV_ID
    """A registered dialog-gym id (``dialog_gym.env_ids()``)."""
    num_examples: int | None = Field(8, ge=1)
    """Rows (seeds ``seed .. seed + num_examples - 1``); ``None``: an endless stream."""
    seed: int = Field(0, ge=0)
    """Seed of the first row."""
    env_kwargs: dict[str, Any] = Field(default_factory=dict)
    """Keyword arguments of ``gym.make`` (``reward``, ``difficulty``,
    ``max_episode_steps``, ...); JSON values, as they travel in the config."""

    @field_validator("env_kwargs")
    @classmethod
    def _json_kwargs(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            json.dumps(value)
        except (TypeError, ValueError) as e:
            raise ValueError(f"env_kwargs must be JSON values (they travel in the config): "
                             f"{e}") from e
        return value


class DialogGymData(vf.TaskData):
    """One row: the reset messages as ``prompt``, the tools, and how to replay it."""

    env_id: str
    seed: int
    env_kwargs: dict[str, Any] = Field(default_factory=dict)
    scenario_id: str
    tools: list[dict[str, Any]] = Field(default_factory=list)
    """The env's tools as OpenAI Chat Completions function schemas."""


class DialogGymState(vf.State):
    """A rollout's dialog-gym env and what its episode has produced so far."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    env: Any = Field(default=None, exclude=True)
    """The live env (``gym.make`` of the row), reset at setup; closed at finalize."""
    rewards: list[float] = Field(default_factory=list)
    """The per-step rewards."""
    terminated: bool = False
    truncated: bool = False
    summary: dict[str, Any] = Field(default_factory=dict)
    """``env.unwrapped.episode_summary()`` after the last step."""
    infos: list[dict[str, Any]] = Field(default_factory=list, exclude=True)
    """The per-step ``info`` dicts."""

    @property
    def done(self) -> bool:
        """Whether the dialog-gym episode has ended (terminated or truncated)."""
        return self.terminated or self.truncated

    def step(self, reply: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Play one assistant message; return the messages it produced after itself.

        Those are one ``tool`` message per call (with its ``tool_call_id``) and the
        simulated user's reply, without dialog-gym's ``source`` key.
        """
        if self.env is None:
            raise RuntimeError("the dialog-gym env is not set up (DialogGymTask.setup runs "
                               "first)")
        if self.done:
            raise RuntimeError("the dialog-gym episode has already ended")
        before = len(self.env.unwrapped.messages)
        obs, reward, terminated, truncated, info = self.env.step(dict(reply))
        self.rewards.append(float(reward))
        self.infos.append(info)
        self.terminated, self.truncated = bool(terminated), bool(truncated)
        self.summary = self.env.unwrapped.episode_summary()
        # messages[before] is the assistant turn as the env recorded it
        return _plain(obs["messages"][before + 1:])


# ============================================================================ task


class DialogGymTask(vf.Task[DialogGymData, DialogGymState, vf.TaskConfig]):
    """Setup (make and reset the env) and the rubric (the return and its components)."""

    async def setup(self, trace: Any) -> None:
        """Make the row's env, reset it with the row's seed and keep it in the state."""
        data = self.data
        env = _make_env(data.env_id, data.env_kwargs)
        obs, info = env.reset(seed=data.seed)
        state = trace.state
        state.env = env
        expected = _plain(obs["messages"])
        prompt = [message_to_wire(m) for m in data.prompt or []]
        if [(m["role"], m["content"]) for m in expected] != \
                [(m["role"], m.get("content")) for m in prompt]:
            raise RuntimeError(
                f"{data.env_id} reset with seed {data.seed} gave other messages than the "
                "row's prompt (the row was built with other env_kwargs or another "
                "dialog-gym version)"
            )

    async def finalize(self, trace: Any) -> None:
        """Close the env (the state keeps the episode's summary for scoring)."""
        env = trace.state.env
        if env is not None:
            env.close()
            trace.state.env = None

    @vf.reward(weight=1.0)
    async def episode_return(self, trace: Any) -> float:
        """The dialog-gym episode return (sum of the env's rewards)."""
        return float(sum(trace.state.rewards))

    @vf.metric
    async def dialog_gym(self, trace: Any) -> dict[str, float]:
        """Success, length, how it ended, and each reward term summed over the episode."""
        state: DialogGymState = trace.state
        summary = state.summary
        metrics = {
            "success": float(bool(summary.get("success", False))),
            "turns": float(len(state.rewards)),
            "finished": float(state.done),
            "terminated": float(state.terminated),
            "truncated": float(state.truncated),
            "progress": float(summary.get("progress", 0.0)),
            "violations": float(summary.get("violations", 0)),
        }
        for name, value in (summary.get("scores") or {}).items():
            metrics[f"score/{name}"] = float(value)
        return metrics


# ============================================================================ taskset


class DialogGymTaskset(vf.Taskset[DialogGymTask, DialogGymTasksetConfig]):
    """One task per seed of a dialog-gym env."""

    def __init__(self, config: DialogGymTasksetConfig) -> None:
        super().__init__(config)
        # made once here so that a bad env id or gym.make kwarg fails at load time
        self._env = _make_env(config.env_id, config.env_kwargs)
        self.INFINITE = config.num_examples is None

    def load(self) -> Iterator[DialogGymTask]:
        """Yield the rows: reset messages as prompt, tool schemas, env id and seed."""
        cfg = self.config
        seed = cfg.seed
        while cfg.num_examples is None or seed < cfg.seed + cfg.num_examples:
            obs, info = self._env.reset(seed=seed)
            yield DialogGymTask(
                DialogGymData(
                    id=f"{cfg.env_id}/seed={seed}",
                    name=f"{cfg.env_id}#{seed}",
                    prompt=_plain(obs["messages"]),
                    env_id=cfg.env_id,
                    seed=seed,
                    env_kwargs=dict(cfg.env_kwargs),
                    scenario_id=str(info["scenario_id"]),
                    tools=list(info["tool_schemas"]),
                ),
                cfg.task,
            )
            seed += 1


# ============================================================================ harness


class DialogGymHarnessConfig(vf.HarnessConfig):
    """The in-process chat harness (``--env.agent.harness.*``)."""

    id: str = TASKSET_ID


class DialogGymHarness(vf.Harness[DialogGymHarnessConfig]):
    """One chat-completions call per turn, with the row's tools; calls go to the env.

    Runs in-process (no program is installed or launched): the request goes to
    verifiers' interception endpoint, which records it on the trace and forwards it to
    the model. The model's tool calls are not executed here: the env plays them with
    the reply (rules, the scenario's world) and answers with the tool results and the
    user's reply in the next turn.
    """

    APPENDS_SYSTEM_PROMPT = True
    SUPPORTS_RESUME = True
    EXECUTES_CODE = False
    NEEDS_CONTAINER = False

    async def launch(self, ctx: Any, trace: Any, runtime: Any, endpoint: str, secret: str,
                     mcp_urls: dict[str, str], data: Any) -> ProgramResult:
        """Ask the model for the next assistant message of ``data.prompt``."""
        from openai import AsyncOpenAI

        system, prompt = self.resolve_prompt(data)
        if isinstance(prompt, str):
            messages = [{"role": "user", "content": prompt}]
        else:
            messages = [message_to_wire(m) for m in prompt or []]
        if system is not None:
            # a system-prompt override (e.g. a GEPA candidate) replaces the env's context
            messages = [{"role": "system", "content": system},
                        *(m for m in messages if m["role"] != "system")]
        request: dict[str, Any] = {"model": ctx.model, "messages": messages}
        tools = getattr(data, "tools", None)
        if tools:
            request["tools"] = tools
        async with AsyncOpenAI(base_url=endpoint, api_key=secret, max_retries=0) as client:
            await client.chat.completions.create(**request)
        return ProgramResult(exit_code=0, stdout="", stderr="")


# ============================================================================ env


def _default_agent() -> Any:
    # in-process harness on the local subprocess runtime (verifiers' default runtime is
    # a remote sandbox, which an in-process loop does not need)
    return vf.AgentConfig(runtime=vf.SubprocessConfig())


class DialogGymEnvConfig(vf.EnvConfig):
    """The env's config: the taskset and the one ``agent`` seat (``--env.agent.*``)."""

    taskset: DialogGymTasksetConfig = DialogGymTasksetConfig()
    agent: vf.AgentConfig = _default_agent()


def assistant_reply(segment: Any) -> dict[str, Any]:
    """The last assistant message of a verifiers segment as an OpenAI message dict."""
    for message in reversed(segment.messages):
        if message.role == "assistant":
            wire = message_to_wire(message)
            return {"role": "assistant", "content": wire.get("content") or "",
                    **({"tool_calls": wire["tool_calls"]} if wire.get("tool_calls") else {})}
    return {"role": "assistant", "content": ""}


class DialogGymEnv(vf.Env[DialogGymEnvConfig]):
    """The model plays the dialog-gym episode; the env's simulated user answers.

    Each turn: the model's assistant message -> ``env.step(message)`` -> the tool results
    and the user's reply are the next turn's messages, until the episode terminates or
    is truncated (or verifiers stops the rollout).
    """

    async def run(self, task: Any, agents: Any) -> None:
        """Relay between the model (``agents.agent``) and the rollout's dialog-gym env."""
        async with agents.agent.interaction(task) as interaction:
            state: DialogGymState = interaction.trace.state
            segment = await interaction.turn()
            while not segment.terminated:
                new_messages = state.step(assistant_reply(segment))
                if state.done:
                    break
                segment = await interaction.turn(new_messages)
            interaction.trace.info["dialog_gym"] = {
                "env_id": task.data.env_id, "seed": task.data.seed,
                "scenario_id": task.data.scenario_id, "rewards": list(state.rewards),
                "reason": state.summary.get("reason", ""),
            }


# ============================================================================ entry point


def load_environment(env_id: str = DEFAULT_ENV_ID, *, num_examples: int | None = 8,
                     seed: int = 0, agent: Mapping[str, Any] | Any | None = None,
                     **env_kwargs: Any) -> DialogGymEnv:
    """A verifiers environment playing ``env_id`` (see the module docstring).

    Args:
        env_id: A registered dialog-gym id, e.g. ``"Dialog-CustomerService-v0"``.
        num_examples: Rows (one per seed), or ``None`` for an endless stream (training).
        seed: Seed of the first row.
        agent: The ``agent`` seat's :class:`verifiers.v1.AgentConfig` (or its fields as a
            dict, e.g. ``{"max_turns": 10}``); the default harness is
            :class:`DialogGymHarness` on the local subprocess runtime.
        **env_kwargs: Keyword arguments of ``gym.make`` (``reward=``, ``difficulty=``,
            ``max_episode_steps=``, ...).

    Returns:
        A :class:`DialogGymEnv`; ``env.config`` is its serialisable config (for
        ``vf.EvalConfig(env=...)``) and ``env.taskset`` its rows.
    """
    taskset = DialogGymTasksetConfig(env_id=env_id, num_examples=num_examples, seed=seed,
                                     env_kwargs=env_kwargs)
    if agent is None:
        seat = _default_agent()
    elif isinstance(agent, vf.AgentConfig):
        seat = agent
    elif isinstance(agent, Mapping):
        seat = vf.AgentConfig.model_validate({"runtime": {"type": "subprocess"}, **agent})
    else:
        raise TypeError(f"agent must be a verifiers AgentConfig or a dict of its fields, got "
                        f"{type(agent).__name__}")
    return DialogGymEnv(DialogGymEnvConfig(taskset=taskset, agent=seat))


def main(argv: list[str] | None = None) -> None:
    """``vf-eval`` with this taskset registered (``python -m dialog_gym.integrations.verifiers``).

    The arguments are ``vf-eval``'s; ``--env.taskset.id`` defaults to :data:`TASKSET_ID`,
    so ``--env.taskset.env-id``, ``--env.taskset.num-examples``, ``-m``,
    ``--client.base-url`` etc. are all that is needed.
    """
    import importlib

    from verifiers.v1.cli.eval.main import main as vf_eval

    importlib.import_module("dialog_gym.integrations.verifiers")  # registers the taskset
    argv = list(sys.argv[1:] if argv is None else argv)
    named = any(a == "--env.taskset.id" or a.startswith("--env.taskset.id=") for a in argv)
    positional = bool(argv) and not argv[0].startswith(("-", "@"))
    if not (named or positional or any(a.startswith("@") for a in argv)):
        argv = ["--env.taskset.id", TASKSET_ID, *argv]
    vf_eval(argv)


if __name__ == "__main__":
    main()


__all__ = [
    "DEFAULT_ENV_ID",
    "MODULE_ALIAS",
    "TASKSET_ID",
    "DialogGymData",
    "DialogGymEnv",
    "DialogGymEnvConfig",
    "DialogGymHarness",
    "DialogGymHarnessConfig",
    "DialogGymState",
    "DialogGymTask",
    "DialogGymTaskset",
    "DialogGymTasksetConfig",
    "assistant_reply",
    "load_environment",
    "main",
]
