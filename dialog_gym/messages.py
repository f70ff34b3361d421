"""The conversation as OpenAI chat messages.

Every env exposes its episode as ``obs["messages"]``: a list of chat-message dicts in the
format chat templates and trainers consume (``apply_chat_template(messages, tools=...)``,
TRL, OpenEnv, verifiers):

- ``{"role": "system", "content": <context>, "source": "env", "data": {...}}``: the
  scenario as the agent may see it (role, persona, policy, rules, tools), first and only
  once. ``data`` (only where the domain has any, :meth:`Domain.context_data
  <dialog_gym.domain.Domain.context_data>`) is the same public context as JSON data
  (today's date, a catalogue's rows, a passage's entities, ...), never more than the text
  tells the agent and never hidden state such as the user's goal; :func:`context_data`
  reads it, so no agent has to parse the text back;
- ``{"role": "user", "content": ..., "source": "user_simulator"}``: the simulated user;
- ``{"role": "assistant", "content": ..., "tool_calls": [...], "source": "agent"}``: the
  agent's reply as the user heard it, its calls as OpenAI tool calls (``tool_calls`` only
  when there are calls; ``arguments`` a JSON string, as the OpenAI API returns them);
- ``{"role": "tool", "tool_call_id": ..., "name": ..., "content": <JSON>, "source":
  "tool"}``: one per call, ``content`` being ``{"ok": bool, "message": str}`` plus
  ``"data"`` when the tool returns structured data.

The list is **append-only**: the messages of one observation are a prefix of the next
one's, so a trainer that tokenises turn by turn never re-renders earlier turns.
``source`` tells who produced a message, so trainers can mask simulator and tool tokens
out of the loss; :func:`plain` drops it, and the system message's ``data``, for APIs that
reject unknown keys.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dialog_gym.tools import ToolCall, ToolResult

#: ``source`` of each kind of message.
ENV, USER_SIMULATOR, AGENT, TOOL = "env", "user_simulator", "agent", "tool"
ROLES = ("system", "user", "assistant", "tool")


def observed(observation: Mapping[str, Any], reader: str) -> list[Mapping[str, Any]]:
    """``observation["messages"]``, or an error naming ``reader`` if a wrapper dropped them.

    Raises:
        ConfigError: The observation has no ``"messages"`` (e.g. a wrapper's own dict
            with only ``context`` and ``history``).
    """
    messages = observation.get("messages")
    if messages is None:
        from dialog_gym.error import ConfigError

        raise ConfigError(f"{reader} reads observation['messages'], the chat messages every "
                          f"dialog-gym env observes; got only {sorted(observation)}: pass "
                          "the env's observation (a wrapper must keep 'messages')")
    return messages


def system_message(context: str, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The context as the first message, with its structured ``data`` when there is any.

    Args:
        context: The context text.
        data: The same public context as JSON-ready data (see :func:`context_data`);
            ``None`` or empty: no ``data`` key.
    """
    msg: dict[str, Any] = {"role": "system", "content": context, "source": ENV}
    if data:
        msg["data"] = copy.deepcopy(dict(data))
    return msg


def context_data(messages: Iterable[Mapping[str, Any]], reader: str | None = None
                 ) -> dict[str, Any]:
    """The ``data`` of the system message: the public context as structured data.

    The object in the message itself, not a copy. Which keys it holds is each domain's
    (its env's docstring says); a domain without context data has none.

    Args:
        messages: Chat messages (``obs["messages"]``).
        reader: Who needs the data. ``None``: ``{}`` when there is no system message or it
            has no ``data``. Given: that is an error naming ``reader``.

    Raises:
        ConfigError: ``reader`` is given and the system message carries no ``data`` (e.g.
            messages passed through :func:`plain`, or built by hand).
    """
    system = next((m for m in messages if m.get("role") == "system"), None)
    data = system.get("data") if system is not None else None
    if data:
        return data
    if reader is not None:
        from dialog_gym.error import ConfigError

        where = "there is no system message" if system is None else \
            "the system message has no 'data'"
        raise ConfigError(f"{reader} reads the public context from the system message's "
                          f"'data' (structured, never re-parsed from its text), but {where}: "
                          "pass the env's obs['messages'] unchanged (plain() drops 'data'; a "
                          "wrapper or a hand-built system message must keep or add it)")
    return {}


def user_message(text: str) -> dict[str, Any]:
    """A simulated user's turn."""
    return {"role": "user", "content": text, "source": USER_SIMULATOR}


def assistant_message(text: str, calls: Sequence[ToolCall], ids: Sequence[str]
                      ) -> dict[str, Any]:
    """The agent's turn: what the user heard and its tool calls (with their ids)."""
    msg: dict[str, Any] = {"role": "assistant", "content": text, "source": AGENT}
    if calls:
        msg["tool_calls"] = [
            {"id": i, "type": "function",
             "function": {"name": c.name, "arguments": json.dumps(dict(c.args),
                                                                   ensure_ascii=False)}}
            for c, i in zip(calls, ids, strict=True)
        ]
    return msg


def tool_message(result: ToolResult, call_id: str) -> dict[str, Any]:
    """The result of one call, answering ``call_id``."""
    payload: dict[str, Any] = {"ok": result.ok, "message": result.message}
    if result.data:
        payload["data"] = dict(result.data)
    return {"role": "tool", "tool_call_id": call_id, "name": result.name,
            "content": json.dumps(payload, ensure_ascii=False, default=str), "source": TOOL}


def tool_payload(message: Mapping[str, Any]) -> dict[str, Any]:
    """The ``{"ok", "message", "data"}`` object of a tool message (``data`` defaults to {})."""
    if message.get("role") != "tool":
        raise ValueError(f"not a tool message: role={message.get('role')!r}")
    payload = json.loads(message["content"])
    payload.setdefault("data", {})
    return payload


def texts(messages: Iterable[Mapping[str, Any]], role: str) -> list[str]:
    """The contents of the messages of one ``role``, in order.

    An assistant message's tool calls follow its text in inline syntax
    (``text [name key=value]``), the form the text transcript records.
    """
    out = []
    for m in messages:
        if m.get("role") != role:
            continue
        parts = [m["content"]] if m.get("content") else []
        for c in m.get("tool_calls") or ():
            fn = c["function"]
            args = fn.get("arguments") or {}
            args = json.loads(args) if isinstance(args, str) else args
            parts.append(ToolCall(fn["name"], args, "").render())
        out.append(" ".join(parts))
    return out


#: dialog-gym's own message keys, which :func:`plain` drops
EXTRA_KEYS = ("source", "data")


def plain(messages: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The messages without dialog-gym's ``source`` and ``data`` keys (pure OpenAI format).

    The system message's ``data`` says nothing its text does not; a model reads the text.
    """
    return [{k: v for k, v in m.items() if k not in EXTRA_KEYS} for m in messages]


def validate(messages: Any) -> str | None:
    """Why ``messages`` is not a well-formed chat-message list, or ``None`` if it is."""
    if not isinstance(messages, list):
        return f"messages must be a list, got {type(messages).__name__}"
    for i, m in enumerate(messages):
        if not isinstance(m, Mapping):
            return f"message {i} is a {type(m).__name__}, not a dict"
        role = m.get("role")
        if role not in ROLES:
            return f"message {i} has role {role!r}; expected one of {ROLES}"
        content = m.get("content")
        if not isinstance(content, str) and not (role == "assistant" and content is None):
            return f"message {i} ({role}) has content of type {type(content).__name__}"
        if role == "tool" and not isinstance(m.get("tool_call_id"), str):
            return f"message {i} (tool) has no tool_call_id"
        if "data" in m:
            if role != "system":
                return (f"message {i} ({role}) has 'data'; only the system message carries "
                        "it (tool results carry theirs in their JSON content)")
            if not isinstance(m["data"], Mapping):
                return f"message {i} (system) has data of type {type(m['data']).__name__}"
        calls = m.get("tool_calls")
        if calls is not None:
            if role != "assistant" or not isinstance(calls, list):
                return f"message {i} ({role}) has malformed tool_calls"
            for c in calls:
                fn = c.get("function") if isinstance(c, Mapping) else None
                if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str) \
                        or not isinstance(c.get("id"), str):
                    return f"message {i} has a malformed tool call {c!r:.80}"
    return None
