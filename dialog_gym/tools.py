r"""Inline tool calls: one syntax for every environment.

An agent changes the world by writing tool calls inside its reply::

    I've refunded the blender. [refund order=A1234 amount=49.99]
    [change_address order=B2231 address="12 Elm Street, Springfield 40231"]

A call is ``[name key=value ...]``: a tool name (lower case, digits, underscores), then
``key=value`` arguments separated by spaces; a value containing spaces or ``]`` is put in
double quotes (``\"`` escapes a quote). Bracketed prose such as ``[sic]`` is left alone:
a bracket counts as a call when its first word is a known tool or it holds a ``key=``
argument. The calls are removed from what the simulated user hears; their results are
shown to the agent in the next observation as ``System:`` lines. Malformed calls (unknown
tool, missing or unknown argument, bad value) produce an error result with the fix, never
an exception.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dialog_gym.error import ConfigError, did_you_mean

_BRACKET = re.compile(r"\[([^\[\]]*)\]")
_HEAD = re.compile(r"\s*([a-z][a-z0-9_]*)(?=\s|$)")
_ARG = re.compile(r'\s+([a-z][a-z0-9_]*)=(?:"((?:[^"\\]|\\.)*)"|([^\s"]+))')
_SPACES = re.compile(r"[ \t]{2,}")


@dataclass(frozen=True)
class ToolParam:
    """One argument of a tool: its type (``str``, ``float``, ``int``), whether required, a doc."""

    type: type = str
    required: bool = True
    doc: str = ""


@dataclass(frozen=True)
class ToolCall:
    """A parsed call (or a malformed one, with ``error`` set)."""

    name: str
    args: Mapping[str, Any]
    source: str
    error: str | None = None

    def render(self) -> str:
        """The call in canonical syntax."""
        parts = [self.name]
        for k, v in self.args.items():
            s = str(v)
            parts.append(f'{k}="{s}"' if (" " in s or "]" in s or not s) else f"{k}={s}")
        return "[" + " ".join(parts) + "]"


@dataclass(frozen=True)
class ToolResult:
    """What a call did: ``ok``, a message for the agent, and structured ``data``."""

    name: str
    ok: bool
    message: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def render(self) -> str:
        """The ``System:`` line shown to the agent."""
        return f"[{self.name}] {'ok' if self.ok else 'error'}: {self.message}"


Handler = Callable[[MutableMapping[str, Any], Mapping[str, Any]], ToolResult]


@dataclass(frozen=True)
class Tool:
    """A tool: name, parameters, handler ``(world, args) -> ToolResult``, whether it writes."""

    name: str
    params: Mapping[str, ToolParam]
    handler: Handler
    doc: str = ""
    writes: bool = False

    def usage(self) -> str:
        """``[name key=<type> ...]`` with optional arguments in brackets."""
        args = []
        for k, p in self.params.items():
            a = f"{k}=<{p.type.__name__}>"
            args.append(a if p.required else f"({a})")
        return "[" + " ".join([self.name, *args]) + "]"


@dataclass(frozen=True)
class ParsedReply:
    """A reply split into what the user hears and the tool calls it contains."""

    raw: str
    text: str
    calls: tuple[ToolCall, ...]


class ToolSet:
    """The tools of one domain: parses replies, executes calls against a world.

    Args:
        tools: The domain's tools.
    """

    def __init__(self, tools: Sequence[Tool] = ()) -> None:
        self.tools: dict[str, Tool] = {}
        for t in tools:
            if t.name in self.tools:
                raise ConfigError(f"duplicate tool name {t.name!r}")
            self.tools[t.name] = t

    def __bool__(self) -> bool:
        return bool(self.tools)

    def __contains__(self, name: object) -> bool:
        return name in self.tools

    @property
    def write_tools(self) -> frozenset[str]:
        """Names of the tools that change the world."""
        return frozenset(n for n, t in self.tools.items() if t.writes)

    def parse(self, reply: str) -> ParsedReply:
        """Split ``reply`` into spoken text and tool calls (malformed calls carry ``error``)."""
        if "[" not in reply:
            return ParsedReply(reply, reply, ())
        calls: list[ToolCall] = []
        spans: list[tuple[int, int]] = []
        for m in _BRACKET.finditer(reply):
            body = m.group(1)
            head = _HEAD.match(body)
            if head is None:
                continue
            name = head.group(1)
            rest = body[head.end():]
            if name not in self.tools and "=" not in rest:
                continue  # bracketed prose, e.g. "[sic]"
            spans.append(m.span())
            calls.append(self._parse_call(name, rest, m.group(0)))
        if not spans:
            return ParsedReply(reply, reply, ())
        pieces, last = [], 0
        for a, b in spans:
            pieces.append(reply[last:a])
            last = b
        pieces.append(reply[last:])
        text = _SPACES.sub(" ", "".join(pieces)).strip()
        return ParsedReply(reply, text, tuple(calls))

    def _parse_call(self, name: str, rest: str, source: str) -> ToolCall:
        tool = self.tools.get(name)
        if tool is None:
            return ToolCall(name, {}, source, error=(
                f"unknown tool {name!r}; available: {', '.join(sorted(self.tools))}."
                + did_you_mean(name, self.tools)
            ))
        args: dict[str, Any] = {}
        pos = 0
        while pos < len(rest):
            if not rest[pos:].strip():
                break
            m = _ARG.match(rest, pos)
            if m is None:
                bad = rest[pos:].strip().split()[0]
                return ToolCall(name, args, source, error=(
                    f"malformed argument {bad!r}; write key=value, quoting values with "
                    f'spaces, e.g. {tool.usage()}'
                ))
            key = m.group(1)
            value = m.group(2).replace('\\"', '"') if m.group(2) is not None else m.group(3)
            if key not in tool.params:
                return ToolCall(name, args, source, error=(
                    f"unknown argument {key!r} for {name}; usage: {tool.usage()}."
                    + did_you_mean(key, tool.params)
                ))
            if key in args:
                return ToolCall(name, args, source, error=f"argument {key!r} given twice")
            try:
                args[key] = _coerce(value, tool.params[key].type)
            except ValueError:
                return ToolCall(name, args, source, error=(
                    f"argument {key}={value!r} is not a valid {tool.params[key].type.__name__}; "
                    f"usage: {tool.usage()}"
                ))
            pos = m.end()
        missing = [k for k, p in tool.params.items() if p.required and k not in args]
        if missing:
            return ToolCall(name, args, source, error=(
                f"missing argument(s) {', '.join(missing)}; usage: {tool.usage()}"
            ))
        return ToolCall(name, args, source)

    def execute(self, call: ToolCall, world: MutableMapping[str, Any]) -> ToolResult:
        """Run a parsed call against ``world``; errors become ``ok=False`` results."""
        if call.error is not None:
            return ToolResult(call.name, False, call.error)
        return self.tools[call.name].handler(world, call.args)

    def describe(self) -> str:
        """Documentation of the syntax and every tool, for the agent's context."""
        if getattr(self, "_describe", None) is None:
            self._describe = self._build_describe()
        return self._describe

    def _build_describe(self) -> str:
        lines = [
            "Tools: write calls inline in your reply as [name key=value ...] (quote values "
            'with spaces: key="two words"); results appear as System lines next turn.'
        ]
        for t in self.tools.values():
            lines.append(f"- {t.usage()}: {t.doc}")
        return "\n".join(lines)


def _coerce(value: str, typ: type) -> Any:
    if typ is str:
        if not value.strip():
            raise ValueError("empty")
        return value.strip()
    if typ is float:
        v = value.strip().lstrip("$€£").replace(",", "")
        f = float(v)
        if f != f or f in (float("inf"), float("-inf")):
            raise ValueError("not finite")
        return round(f, 2)
    if typ is int:
        return int(value)
    raise ValueError(f"unsupported type {typ}")
