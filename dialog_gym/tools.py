r"""Tool calls: one set of tools per environment, three ways to call them.

An agent changes the world by calling tools. Three forms carry the same calls, and give
identical results (every form is validated by the same code, :meth:`ToolSet.make_call`):

1. **OpenAI tool calls**: ``env.step({"role": "assistant", "content": "...",
   "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "refund",
   "arguments": '{"order": "A1234", "amount": 49.99}'}}]})`` (``arguments`` as a JSON
   string or a dict; several calls per turn). The schemas of the tools are
   :meth:`ToolSet.schemas` (``env.unwrapped.tool_schemas``).
2. **Hermes-style text**: ``<tool_call>{"name": "refund", "arguments": {...}}</tool_call>``
   inside a plain-string reply (what many open chat models emit).
3. **Inline calls** inside a plain-string reply::

    I've refunded the blender. [refund order=A1234 amount=49.99]
    [change_address order=B2231 address="12 Elm Street, Springfield 40231"]

A call is ``[name key=value ...]``: a tool name (lower case, digits, underscores), then
``key=value`` arguments separated by spaces; a value containing spaces or ``]`` is put in
double quotes (``\"`` escapes a quote). Bracketed prose such as ``[sic]`` is left alone:
a bracket counts as a call when its first word is a known tool or it holds a ``key=``
argument. The calls are removed from what the simulated user hears; their results are
shown to the agent in the next observation as ``System:`` lines. Malformed calls (unknown
tool, missing or unknown argument, bad value) produce an error result with the fix, never
an exception (the same holds for JSON calls: bad JSON, an unknown tool, a wrong type).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dialog_gym.error import ConfigError, did_you_mean

_BRACKET = re.compile(r"\[([^\[\]]*)\]")
_HEAD = re.compile(r"\s*([a-z][a-z0-9_]*)(?=\s|$)")
_ARG = re.compile(r'\s+([a-z][a-z0-9_]*)=(?:"((?:[^"\\]|\\.)*)"|([^\s"]+))')
_SPACES = re.compile(r"[ \t]{2,}")
_HERMES = re.compile(r"<tool_call>(.*?)(?:</tool_call>|$)", re.DOTALL)
_JSON_TYPES = {str: "string", float: "number", int: "integer"}


@dataclass(frozen=True)
class ToolParam:
    """One argument of a tool: its type (``str``, ``float``, ``int``), whether required, a doc."""

    type: type = str
    required: bool = True
    doc: str = ""


@dataclass(frozen=True)
class ToolCall:
    """A parsed call (or a malformed one, with ``error`` set).

    ``id`` is the ``tool_call_id`` the result answers: the one the agent gave in an
    OpenAI tool call, else ``None`` (the env then numbers the call).
    """

    name: str
    args: Mapping[str, Any]
    source: str
    error: str | None = None
    id: str | None = None

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

    def schema(self) -> dict[str, Any]:
        """The tool as an OpenAI Chat Completions function schema."""
        props = {k: {"type": _JSON_TYPES[p.type], **({"description": p.doc} if p.doc else {})}
                 for k, p in self.params.items()}
        return {"type": "function", "function": {
            "name": self.name,
            "description": self.doc,
            "parameters": {"type": "object", "properties": props,
                           "required": [k for k, p in self.params.items() if p.required],
                           "additionalProperties": False},
        }}


@dataclass(frozen=True)
class ParsedReply:
    """A reply split into what the user hears and the tool calls it contains."""

    raw: str
    text: str
    calls: tuple[ToolCall, ...]

    def inline(self) -> str:
        """The spoken text followed by the calls in inline syntax (malformed ones as written).

        The form a transcript records a reply in, whatever form carried its calls.
        """
        return " ".join([self.text] * bool(self.text)
                        + [c.render() if c.error is None else c.source for c in self.calls])


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
        """Split ``reply`` into spoken text and tool calls (malformed calls carry ``error``).

        Understands Hermes ``<tool_call>{...}</tool_call>`` blocks and inline
        ``[name key=value]`` calls, in order of appearance.
        """
        if "<tool_call>" in reply:
            return self._parse_hermes(reply)
        return self._parse_inline(reply)

    def parse_message(self, message: Mapping[str, Any]) -> ParsedReply:
        """Split an OpenAI assistant message into spoken text and tool calls.

        ``content`` is parsed as a string reply (it may hold Hermes or inline calls);
        each entry of ``tool_calls`` (``{"id", "type": "function", "function": {"name",
        "arguments"}}``, or the flat ``{"name", "arguments"}``) follows. Malformed entries
        become calls with ``error`` set, never exceptions.
        """
        content = message.get("content")
        if content is None:
            content = ""
        elif not isinstance(content, str):
            content = _content_text(content)
        parsed = self.parse(content)
        raw_calls = message.get("tool_calls") or []
        if not isinstance(raw_calls, list | tuple):
            raw_calls = [raw_calls]
        calls = list(parsed.calls)
        for entry in raw_calls:
            calls.append(self._from_openai(entry))
        return ParsedReply(parsed.raw, parsed.text, tuple(calls))

    def _from_openai(self, entry: Any) -> ToolCall:
        source = _dumps(entry)
        if not isinstance(entry, Mapping):
            return ToolCall("?", {}, source, error=(
                "a tool call must be an object {\"type\": \"function\", \"function\": "
                f"{{\"name\": ..., \"arguments\": {{...}}}}}}, got {type(entry).__name__}"))
        call_id = entry.get("id")
        call_id = str(call_id) if call_id is not None else None
        fn = entry.get("function", entry)
        if not isinstance(fn, Mapping):
            return ToolCall("?", {}, source, error="tool call 'function' must be an object",
                            id=call_id)
        return self._from_json(fn.get("name"), fn.get("arguments", fn.get("parameters")),
                               source, call_id)

    def _from_json(self, name: Any, arguments: Any, source: str,
                   call_id: str | None = None) -> ToolCall:
        if not isinstance(name, str) or not name:
            return ToolCall("?", {}, source, id=call_id, error=(
                f"tool call without a name; available tools: {', '.join(sorted(self.tools))}"))
        if arguments is None:
            arguments = {}
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except json.JSONDecodeError as e:
                return ToolCall(name, {}, source, id=call_id, error=(
                    f"arguments of {name} are not valid JSON ({e.msg} at char {e.pos}); "
                    f"expected an object like {self._example(name)}"))
        if not isinstance(arguments, Mapping):
            return ToolCall(name, {}, source, id=call_id, error=(
                f"arguments of {name} must be a JSON object, got {type(arguments).__name__}; "
                f"e.g. {self._example(name)}"))
        return self.make_call(name, arguments, source, call_id)

    def _example(self, name: str) -> str:
        tool = self.tools.get(name)
        if tool is None:
            return "{}"
        return "{" + ", ".join(f'"{k}": <{_JSON_TYPES[p.type]}>' for k, p in tool.params.items()) \
            + "}"

    def _parse_hermes(self, reply: str) -> ParsedReply:
        calls: list[ToolCall] = []
        pieces, last = [], 0
        for m in _HERMES.finditer(reply):
            pieces.append(reply[last:m.start()])
            last = m.end()
            body = m.group(1).strip()
            if not m.group(0).endswith("</tool_call>"):
                calls.append(ToolCall("?", {}, m.group(0), error=(
                    "unclosed <tool_call>: write <tool_call>{\"name\": ..., \"arguments\": "
                    "{...}}</tool_call>")))
                continue
            try:
                obj = json.loads(body)
            except json.JSONDecodeError as e:
                calls.append(ToolCall("?", {}, m.group(0), error=(
                    f"<tool_call> does not hold valid JSON ({e.msg} at char {e.pos}); write "
                    '<tool_call>{"name": ..., "arguments": {...}}</tool_call>')))
                continue
            if not isinstance(obj, Mapping):
                calls.append(ToolCall("?", {}, m.group(0), error=(
                    '<tool_call> must hold an object {"name": ..., "arguments": {...}}')))
                continue
            calls.append(self._from_json(obj.get("name"), obj.get("arguments",
                                                                  obj.get("parameters")),
                                         m.group(0)))
        pieces.append(reply[last:])
        rest = self._parse_inline(_SPACES.sub(" ", "".join(pieces)).strip())
        return ParsedReply(reply, rest.text, tuple(calls) + rest.calls)

    def _parse_inline(self, reply: str) -> ParsedReply:
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
            return self.make_call(name, {}, source)
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
            if key in args:
                return ToolCall(name, args, source, error=f"argument {key!r} given twice")
            args[key] = m.group(2).replace('\\"', '"') if m.group(2) is not None else m.group(3)
            pos = m.end()
        return self.make_call(name, args, source)

    def make_call(self, name: str, args: Mapping[str, Any], source: str,
                  call_id: str | None = None) -> ToolCall:
        """Validate a call, whatever form carried it: tool, argument names, types.

        ``args`` values may be strings (inline syntax) or JSON values; both are coerced
        the same way, so equal calls give equal results in every form.
        """
        tool = self.tools.get(name)
        if tool is None and not self.tools:
            return ToolCall(name, {}, source, id=call_id,
                            error="this environment has no tools; reply in words")
        if tool is None:
            return ToolCall(name, {}, source, id=call_id, error=(
                f"unknown tool {name!r}; available: {', '.join(sorted(self.tools))}."
                + did_you_mean(name, self.tools)
            ))
        out: dict[str, Any] = {}
        for key, value in args.items():
            if key not in tool.params:
                return ToolCall(name, out, source, id=call_id, error=(
                    f"unknown argument {key!r} for {name}; usage: {tool.usage()}."
                    + did_you_mean(str(key), tool.params)
                ))
            typ = tool.params[key].type
            try:
                if isinstance(value, bool) or not isinstance(value, str | int | float):
                    raise ValueError("not a scalar")
                out[key] = _coerce(str(value), typ)
            except ValueError:
                return ToolCall(name, out, source, id=call_id, error=(
                    f"argument {key}={value!r} is not a valid {typ.__name__}; "
                    f"usage: {tool.usage()}"
                ))
        missing = [k for k, p in tool.params.items() if p.required and k not in out]
        if missing:
            return ToolCall(name, out, source, id=call_id, error=(
                f"missing argument(s) {', '.join(missing)}; usage: {tool.usage()}"
            ))
        return ToolCall(name, out, source, id=call_id)

    def execute(self, call: ToolCall, world: MutableMapping[str, Any]) -> ToolResult:
        """Run a parsed call against ``world``; errors become ``ok=False`` results."""
        if call.error is not None:
            return ToolResult(call.name, False, call.error)
        return self.tools[call.name].handler(world, call.args)

    def schemas(self, format: str = "chat") -> list[dict[str, Any]]:
        """The tools as JSON schemas, from one definition.

        Args:
            format: ``"chat"`` (OpenAI Chat Completions ``{"type": "function",
                "function": {...}}``), ``"responses"`` (OpenAI Responses API, flat) or
                ``"mcp"`` (MCP ``tools/list`` entries with ``inputSchema``).
        """
        chat = [t.schema() for t in self.tools.values()]
        if format == "chat":
            return chat
        if format == "responses":
            return [{"type": "function", **c["function"]} for c in chat]
        if format == "mcp":
            return [{"name": c["function"]["name"], "description": c["function"]["description"],
                     "inputSchema": c["function"]["parameters"]} for c in chat]
        raise ConfigError(f"unknown schema format {format!r}; expected 'chat', 'responses' "
                          "or 'mcp'")

    def describe(self) -> str:
        """Documentation of the syntax and every tool, for the agent's context."""
        if getattr(self, "_describe", None) is None:
            self._describe = self._build_describe()
        return self._describe

    def _build_describe(self) -> str:
        lines = [
            "Tools: call them as function calls, or write them inline in your reply as "
            '[name key=value ...] (quote values with spaces: key="two words"); results '
            "appear as System lines next turn."
        ]
        for t in self.tools.values():
            lines.append(f"- {t.usage()}: {t.doc}")
        return "\n".join(lines)


def _dumps(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError):
        return repr(value)


def _content_text(content: Any) -> str:
    """The text of an OpenAI content value (a string or a list of ``{"type": "text"}`` parts)."""
    if isinstance(content, list | tuple):
        return "".join(p.get("text", "") if isinstance(p, Mapping) else str(p) for p in content)
    return str(content)


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
        f = float(value)
        if not f.is_integer():
            raise ValueError("not an integer")
        return int(f)
    raise ValueError(f"unsupported type {typ}")
