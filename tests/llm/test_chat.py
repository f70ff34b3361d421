"""The LLM agent speaks chat: template with tools, messages-based prompts, real tool calls,
token faithfulness of multi-turn episodes."""

from __future__ import annotations

import json

import gymnasium as gym
import pytest

import dialog_gym  # noqa: F401
from dialog_gym.agents.llm.prompt import (
    ChatCodec,
    EntityTable,
    EpisodeTokens,
    PromptFormat,
    episode_from_messages,
    prepare_messages,
    read_meta,
)
from tests.llm.conftest import ENV, tiny_rl_kwargs

# A ChatML template with tools in the Hermes style (as Qwen 2.5's), written here: the
# codec must work with any append-only template, not only the embedded one.
CHATML = (
    "{% for m in messages %}"
    "{% if m.role == 'system' %}<|im_start|>system\n{{ m.content }}"
    "{% if tools %}\n# Tools\n<tools>{% for t in tools %}\n{{ t | tojson }}{% endfor %}\n"
    "</tools>{% endif %}<|im_end|>\n"
    "{% elif m.role == 'assistant' %}<|im_start|>assistant\n{{ m.content or '' }}"
    "{% for c in (m.tool_calls or []) %}\n<tool_call>\n{\"name\": \"{{ c.function.name }}\", "
    "\"arguments\": {% if c.function.arguments is string %}{{ c.function.arguments }}"
    "{% else %}{{ c.function.arguments | tojson }}{% endif %}}\n</tool_call>{% endfor %}"
    "<|im_end|>\n"
    "{% elif m.role == 'tool' %}<|im_start|>user\n<tool_response>\n{{ m.content }}\n"
    "</tool_response><|im_end|>\n"
    "{% else %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _tokenizer(sft_dir, template):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(sft_dir)
    if template == "chatml":
        tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
        tok.chat_template = CHATML
    return tok


def _codec(sft_dir, template="embedded", **fmt_kw):
    fmt = PromptFormat.from_dict(read_meta(sft_dir)["format"])
    if fmt_kw:
        fmt = PromptFormat(**{**fmt.to_dict(), "tools": fmt.tools, "drop_context_lines":
                              fmt.drop_context_lines, **fmt_kw})
    return ChatCodec(_tokenizer(sft_dir, template), fmt)


def _expert_episode(seed):
    from dialog_gym.agents import make_agent

    env = gym.make(ENV)
    expert = make_agent("expert", env_id=ENV)
    obs, _ = env.reset(seed=seed)
    expert.reset()
    observations, done = [obs], False
    while not done:
        obs, _, term, trunc, _ = env.step(expert.act(obs))
        observations.append(obs)
        done = term or trunc
    return observations, env.unwrapped.tool_schemas


def test_embedded_template_lists_tools_and_renders_hermes_calls_and_tool_turns(sft_dir):
    codec = _codec(sft_dir)
    tok = codec.tok
    observations, schemas = _expert_episode(3)
    assert [dict(t) for t in codec.fmt.tools] == json.loads(json.dumps(schemas, sort_keys=True))
    msgs = prepare_messages(observations[-1]["messages"], codec.fmt)
    text = codec.render(msgs, add_generation_prompt=False)
    system = text[: text.index("<|end|>")]
    for t in schemas:  # every tool and its arguments in the system turn
        fn = t["function"]
        assert f"\n{fn['name']}(" in system and fn["description"] in system
    assert system.count("\n", system.index("<tools>"), system.index("</tools>")) == len(schemas) + 1
    calls = [c for m in msgs if m["role"] == "assistant" for c in m.get("tool_calls", ())]
    tools = [m for m in msgs if m["role"] == "tool"]
    assert calls and len(tools) == len(calls) == text.count("<|tool|>")
    for c in calls:
        block = ('<tool_call>{"name": "' + c["function"]["name"] + '", "arguments": '
                 + c["function"]["arguments"] + "}</tool_call>")
        assert block in text
    # the call markers are atomic tokens that survive decoding
    ids = tok("x<tool_call>y</tool_call>", add_special_tokens=False)["input_ids"]
    assert tok.convert_ids_to_tokens(ids)[1] == "<tool_call>"
    assert codec.reply_text(ids)[0] == "x<tool_call>y</tool_call>"
    # transformers' parse_response reads the calls back out of a generation
    reply = next(m for m in msgs if m["role"] == "assistant" and m.get("tool_calls"))
    gen = codec.reply_ids(reply)
    parsed = tok.parse_response(gen, prefix="<|assistant|>")
    assert parsed["content"] == reply["content"]
    assert [c["function"]["name"] for c in parsed["tool_calls"]] == \
        [c["function"]["name"] for c in reply["tool_calls"]]


def test_prepared_messages_compact_and_delexicalise_contents_and_call_arguments():
    fmt = PromptFormat(drop_context_lines=("Rules: be nice",), delexicalize=True)
    msgs = [{"role": "system", "content": "Shop\nRules: be nice", "source": "env"},
            {"role": "user", "content": "refund 27.20 on A1", "source": "user_simulator"},
            {"role": "assistant", "content": "ok", "source": "agent", "tool_calls": [
                {"id": "c1", "type": "function", "function": {
                    "name": "refund", "arguments": '{"order": "A1", "amount": 27.2}'}}]},
            {"role": "tool", "tool_call_id": "c1", "name": "refund", "source": "tool",
             "content": '{"ok": true, "message": "refunded $27.20"}'}]
    table = EntityTable()
    out = prepare_messages(msgs, fmt, table)
    assert out[0] == {"role": "system", "content": "Shop"}
    assert out[1]["content"] == "refund <|e1|> on <|e2|>"
    assert out[2]["tool_calls"][0]["function"] == {
        "name": "refund", "arguments": '{"order": "<|e2|>", "amount": <|e1|>}'}
    assert out[3] == {"role": "tool", "name": "refund",
                      "content": '{"ok": true, "message": "refunded $<|e1|>"}'}
    assert all("source" not in m for m in out)
    # the relexicalised reply is valid JSON again
    assert json.loads(table.relex(out[2]["tool_calls"][0]["function"]["arguments"])) == \
        {"order": "A1", "amount": 27.2}


def test_generated_hermes_text_reaches_the_env_as_structured_tool_calls():
    """The policy's reply text is the action: the env parses its <tool_call> blocks."""
    env = gym.make(ENV)
    obs, _ = env.reset(seed=3)
    order = next(t for t in obs["messages"][1]["content"].split() if t.strip("(),.")[:1]
                 in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" and any(ch.isdigit() for ch in t)).strip("(),.")
    text = ('Let me check. <tool_call>{"name": "lookup_order", "arguments": {"order": "'
            + order + '"}}</tool_call>')
    obs, *_ = env.step(text)
    asst, result = obs["messages"][2], obs["messages"][3]
    assert asst["content"] == "Let me check."
    assert json.loads(asst["tool_calls"][0]["function"]["arguments"]) == {"order": order}
    assert result["role"] == "tool" and json.loads(result["content"])["ok"] is True
    # a malformed block: the env answers it with an error result, no exception
    obs, *_ = env.step('<tool_call>{"name": "lookup_order", "arguments": </tool_call>')
    assert json.loads(obs["messages"][-2]["content"])["ok"] is False


@pytest.mark.parametrize("template", ["embedded", "chatml"])
def test_expert_episodes_grow_token_by_token_like_a_full_rendering(sft_dir, template):
    """The continuation rendered after each reply is what re-rendering gives there."""
    codec = _codec(sft_dir, template, max_prompt_tokens=100_000)
    for seed in (0, 1, 2):
        observations, _ = _expert_episode(seed)
        ep = EpisodeTokens.start(codec, observations[0])
        for obs in observations[1:]:
            # the reply as the env recorded it, tokenized canonically (values numbered
            # on a copy of the table: add_observation numbers them for real)
            reply = prepare_messages([obs["messages"][ep.seen]], codec.fmt, ep.table.copy())[0]
            ep.add_reply(codec.reply_ids(reply), codec.end_token)
            ep.add_observation(codec, obs)
            full = codec.encode_text(codec.render(ep.messages, add_generation_prompt=True))
            assert ep.ids == full
        final = observations[-1]["messages"]
        assert ep.ids == episode_from_messages(codec, final).ids
        assert len(ep.reward_at) == sum(m["role"] == "assistant" for m in final)


def test_rl_trains_on_exactly_the_tokens_it_sampled_and_conditioned_on(tmp_path, sft_dir):
    from dialog_gym.agents.llm.rl import RLConfig, RLTrainer

    cfg = RLConfig(env_id=ENV, out=str(tmp_path / "ppo"), model=sft_dir, no_deepspeed=True,
                   **tiny_rl_kwargs(num_envs=3, turns_per_rollout=4, max_episode_turns=3,
                                    max_new_tokens=24, temperature=1.0))
    trainer = RLTrainer(cfg)
    trainer.setup()
    calls: list[tuple[list[list[int]], list[list[int]]]] = []
    sent: list[list] = []
    generate, step = trainer.policy.generate, trainer.envs.step

    def recording_generate(prompts, **kw):
        out = generate(prompts, **kw)
        calls.append(([list(p) for p in prompts], [list(g) for g in out]))
        return out

    def recording_step(actions):
        sent.append(list(actions))
        return step(actions)

    trainer.policy.generate = recording_generate
    trainer.envs.step = recording_step
    segments = []
    for _ in range(2):  # the second rollout continues episodes carried over
        segs, _ = trainer.rollout()
        segments.extend(segs)
    trainer.envs.close()
    assert len(calls) == 2 * cfg.turns_per_rollout
    for i in range(cfg.num_envs):
        mine = [s for s in segments if s.env_index == i]
        trained = [t for s in mine for t, a in zip(s.ids, s.agent, strict=True) if a]
        sampled = [t for _, gens in calls for t in gens[i]]
        assert trained == sampled  # every sampled token, verbatim, once
        # each prompt the policy saw, followed by its sample, is a prefix of the
        # sequence trained on for that reply (nothing before it was re-rendered)
        k = 0
        for prompts, gens in calls:
            seq = prompts[i] + gens[i]
            while k < len(mine) and mine[k].ids[:len(seq)] != seq:
                k += 1
            assert k < len(mine), "a prompt + reply is not a prefix of any segment"
    # the env received each reply's decoded text (it parses the <tool_call> blocks)
    assert [len(b) for b in sent] == [cfg.num_envs] * len(calls)
    assert all(isinstance(a, str) for batch in sent for a in batch)


def test_segments_never_exceed_the_model_length_and_keep_every_sampled_token():
    """Tool results after the last reply once took a segment past GPT-2's positions."""
    from dialog_gym.agents.llm.rl import RLConfig, RLTrainer

    trainer = RLTrainer(RLConfig())
    trainer.max_len = 10
    seq = EpisodeTokens(ids=list(range(15)), agent=[False] * 3 + [True] * 4 + [False] * 8,
                        reward_at=[6], rewards=[1.0])
    seg = trainer._segment(seq, 0, bootstrap=True)
    assert seg.ids == list(range(10)) and seg.agent == seq.agent[:10]
    assert seg.reward_at == [6] and sum(seg.agent) == 4
    short = trainer._segment(EpisodeTokens(ids=[1, 2], agent=[False, True]), 0, False)
    assert short.ids == [1, 2]
