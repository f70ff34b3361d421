"""Test helpers: a local OpenAI-compatible chat server and the policies behind it.

``ChatServer(policy)`` serves ``POST /v1/chat/completions`` on 127.0.0.1 (FastAPI +
uvicorn in a thread). A policy maps the request's ``messages`` (and ``tools``) to an
assistant message dict. Two policies:

- :class:`ExpertPolicy`: the dialog-gym expert, acting on an observation rebuilt from
  the chat messages alone (context = the system message, the transcript from the
  user / assistant / tool messages), its inline calls returned as OpenAI ``tool_calls``.
  A chat API gets plain messages, without the system message's structured ``data``
  (which the expert reads where its env has any); the policy restores it from the env's
  reset that renders the same system text;
- :class:`TinyLMPolicy`: a tiny randomly initialised GPT-2 saved to a folder, generating
  from the chat template (a real model, arbitrary text).
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import Request

Policy = Callable[[list[dict[str, Any]], list[dict[str, Any]] | None], dict[str, Any]]


class ChatServer:
    """``/v1/chat/completions`` backed by ``policy``, on a free localhost port."""

    def __init__(self, policy: Policy, model: str = "stub") -> None:
        import uvicorn
        from fastapi import FastAPI

        self.policy = policy
        self.model = model
        self.requests: list[dict[str, Any]] = []
        app = FastAPI()

        @app.post("/v1/chat/completions")
        async def chat(request: Request) -> dict[str, Any]:
            body = await request.json()
            self.requests.append(body)
            message = self.policy(body["messages"], body.get("tools"))
            return {
                "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", self.model),
                "choices": [{"index": 0, "message": message,
                             "finish_reason": "tool_calls" if message.get("tool_calls")
                             else "stop"}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> ChatServer:
        self._thread.start()
        deadline = time.time() + 20
        while not self._server.started:
            if time.time() > deadline or not self._thread.is_alive():
                raise RuntimeError("the stub chat server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


# ---------------------------------------------------------------- expert behind chat


def observation_from_messages(env: Any, messages: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The observation a dialog-gym env would show for ``messages`` (chat format only)."""
    from dialog_gym.dialogue import AGENT, SYSTEM, USER, Dialogue, Turn
    from dialog_gym.tools import ToolResult

    base = env.unwrapped
    dialogue = Dialogue(labels=base.domain.labels)
    context = ""
    turns = 0
    for m in messages:
        role = m["role"]
        if role == "system":
            context = m["content"]
        elif role == "user":
            dialogue.append(Turn(USER, m["content"]))
        elif role == "assistant":
            raw, _, _ = base.parse_action({"role": "assistant", "content": m.get("content"),
                                           "tool_calls": m.get("tool_calls")})
            dialogue.append(Turn(AGENT, raw))
            turns += 1
        elif role == "tool":
            payload = json.loads(m["content"])
            dialogue.append(Turn(SYSTEM, ToolResult(m["name"], payload["ok"],
                                                    payload["message"]).render()))
    return {"context": context, "history": dialogue.render(base.max_history_chars),
            "turn": turns, "messages": [dict(m) for m in messages]}


class ExpertPolicy:
    """The env's scripted expert as a chat policy (a fresh expert per request)."""

    def __init__(self, env_id: str, **env_kwargs: Any) -> None:
        import gymnasium as gym

        from dialog_gym.registration import make_expert

        self.env = gym.make(env_id, **env_kwargs)
        self.env_id = env_id
        self._make_expert = lambda: make_expert(env_id)
        self.lock = threading.Lock()
        self._data: dict[str, dict[str, Any]] | None = None

    def context_data(self, system_text: str, seeds: range = range(64)) -> dict[str, Any]:
        """The ``data`` of the system message whose text is ``system_text`` (``{}`` if
        the env has none), found among the env's resets on ``seeds``."""
        if self._data is None:
            self._data = {}
            for seed in seeds:
                system = self.env.reset(seed=seed)[0]["messages"][0]
                self._data[system["content"]] = system.get("data", {})
        if system_text not in self._data:
            raise KeyError(f"no reset of {self.env_id} on seeds {seeds} shows this context")
        return self._data[system_text]

    def __call__(self, messages: list[dict[str, Any]], tools: Any) -> dict[str, Any]:
        with self.lock:
            messages = [{**m, "data": data} if m["role"] == "system"
                        and (data := self.context_data(m["content"])) else m
                        for m in messages]
            obs = observation_from_messages(self.env, messages)
            expert = self._make_expert()
            expert.reset()
            reply = expert.act(obs)
            return expert_message(self.env, reply, obs["turn"])


def expert_message(env: Any, reply: str, turn: int) -> dict[str, Any]:
    """An inline-call reply as an assistant message with OpenAI ``tool_calls``."""
    parsed = env.unwrapped.tools.parse(reply)
    message: dict[str, Any] = {"role": "assistant", "content": parsed.text}
    if parsed.calls:
        message["tool_calls"] = [
            {"id": f"call_{turn}_{i}_{uuid.uuid4().hex[:6]}", "type": "function",
             "function": {"name": c.name, "arguments": json.dumps(dict(c.args))}}
            for i, c in enumerate(parsed.calls)
        ]
    return message


def play_expert_directly(env_id: str, seed: int, **env_kwargs: Any) -> dict[str, Any]:
    """The expert's episode on ``seed`` played with ``gym`` alone (string actions)."""
    import gymnasium as gym

    from dialog_gym.registration import make_expert

    env = gym.make(env_id, **env_kwargs)
    expert = make_expert(env_id)
    obs, _ = env.reset(seed=seed)
    expert.reset()
    rewards, done, info = [], False, {}
    while not done:
        obs, r, term, trunc, info = env.step(expert.act(obs))
        rewards.append(r)
        done = term or trunc
    summary = env.unwrapped.episode_summary()
    env.close()
    return {"rewards": rewards, "return": sum(rewards), "success": summary["success"],
            "scores": summary["scores"], "turns": summary["turns"]}


# ---------------------------------------------------------------- a tiny real model


def build_tiny_lm(out_dir: str, env_id: str, seeds: range = range(6)) -> str:
    """A randomly initialised tiny GPT-2 and a BPE trained on the env's reset messages."""
    import gymnasium as gym
    import torch

    from dialog_gym.agents.llm.embedded import EmbeddedSpec, model_config, train_tokenizer

    env = gym.make(env_id)
    texts = []
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        texts += [m["content"] for m in obs["messages"]]
    tokenizer = train_tokenizer(texts, 400)
    spec = EmbeddedSpec(vocab_size=400, n_embd=32, n_layer=1, n_head=2, n_positions=512)
    model_cls, config = model_config(spec, tokenizer)
    torch.manual_seed(0)
    model = model_cls(config)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


class TinyLMPolicy:
    """Generates a short reply with a Hugging Face causal LM loaded from a folder."""

    def __init__(self, model_dir: str, max_new_tokens: int = 12, seed: int = 0) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
        self.max_new_tokens = max_new_tokens
        self.generator = torch.Generator().manual_seed(seed)
        self.lock = threading.Lock()
        self.replies: list[str] = []

    def __call__(self, messages: list[dict[str, Any]], tools: Any) -> dict[str, Any]:
        import torch

        chat = [{"role": m["role"], "content": m.get("content") or ""} for m in messages]
        ids = self.tokenizer.apply_chat_template(chat, add_generation_prompt=True,
                                                 tokenize=True, return_dict=True,
                                                 return_tensors="pt")["input_ids"]
        limit = self.model.config.n_positions - self.max_new_tokens
        ids = ids[:, -limit:]
        with self.lock, torch.no_grad():
            torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,),
                                                generator=self.generator)))
            out = self.model.generate(ids, attention_mask=torch.ones_like(ids),
                                      max_new_tokens=self.max_new_tokens, do_sample=True,
                                      pad_token_id=self.tokenizer.pad_token_id)
            text = self.tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
            self.replies.append(text)
        return {"role": "assistant", "content": text}
