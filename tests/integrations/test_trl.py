"""The TRL adapter: environment_factory objects as GRPOTrainer sees them."""

from __future__ import annotations

import inspect
import json
import keyword
import math
import os
import re
import sys
from pathlib import Path

import gymnasium as gym
import pytest
from transformers.utils import get_json_schema

import dialog_gym
from dialog_gym.error import ConfigError
from dialog_gym.integrations.trl import (
    ENDED,
    HERMES_CHAT_TEMPLATE,
    DialogGymEnvironment,
    environment_factory,
)

CS = "Dialog-CustomerService-v0"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def factory():
    return environment_factory(CS)


def trl_tools(env):
    """The tool methods exactly as GRPOTrainer collects them (public functions of the class)."""
    return {name: getattr(env, name)
            for name, _ in inspect.getmembers(type(env), predicate=inspect.isfunction)
            if name not in ("reset", "get_reward") and not name.startswith("_")}


def byte_tokenizer():
    """A byte-level tokenizer (no merges) with the adapter's Hermes templates."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from dialog_gym.integrations.trl import add_hermes_templates

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(["a byte-level alphabet"], trainer=trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>"], show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>",
                                  pad_token="<|endoftext|>")
    return add_hermes_templates(tok)


def test_tools_are_respond_and_every_env_tool_with_their_schemas(factory):
    env = factory()
    tools = trl_tools(env)
    env_schemas = {s["function"]["name"]: s["function"] for s in
                   gym.make(CS).unwrapped.tool_schemas}
    assert set(tools) == {"respond", *env_schemas}
    for name, spec in env_schemas.items():
        schema = get_json_schema(tools[name])["function"]
        assert schema["name"] == name
        params = spec["parameters"]
        assert set(schema["parameters"]["properties"]) == set(params["properties"])
        assert sorted(schema["parameters"].get("required", [])) == sorted(params["required"])
        for key, prop in params["properties"].items():
            assert schema["parameters"]["properties"][key]["type"] == prop["type"], (name, key)
        assert spec["description"].lower().rstrip(".") in schema["description"].lower()
    refund = get_json_schema(tools["refund"])["function"]["parameters"]
    assert refund["properties"]["amount"]["type"] == "number"
    assert "item" not in refund["required"]
    respond = get_json_schema(tools["respond"])["function"]
    assert respond["parameters"]["required"] == ["message"]
    assert respond["parameters"]["properties"]["message"]["type"] == "string"


def test_reset_from_a_row_gives_the_first_user_message_deterministically(factory):
    a, b = factory(), factory()
    row = {"prompt": [{"role": "user", "content": ""}], "env_id": CS, "seed": 7}
    text = a.reset(**row)
    assert text == b.reset(**row)
    env = gym.make(CS)
    obs, _ = env.reset(seed=7)
    opening = obs["messages"][1]["content"]
    assert opening in text and obs["context"] in text
    assert a.messages[1]["content"] == opening
    # env_id may be left out when the factory fixed it; another seed, another scenario
    assert a.reset(seed=7) == text
    assert a.reset(seed=8) != text
    assert a.turn_rewards == [] and a.get_reward() == 0.0 and not a.done


def test_an_env_tool_call_runs_in_the_env_and_respond_returns_the_reply(factory):
    env = factory()
    env.reset(seed=0)
    reply = env.respond("Could you share the email and billing zip code on your account?")
    env_reply = env.messages[-1]
    assert env_reply["role"] == "user" and env_reply["content"] == reply and reply
    email = re.search(r"[\w.]+@[\w.]+\.test", reply).group(0)
    zip_code = re.search(r"\b\d{5}\b", reply).group(0)
    world = env.env.unwrapped.world
    assert not world.get("verified")
    result = json.loads(env.verify_identity(email=email, zip=zip_code))
    assert result["ok"] is True, result
    assert world.get("verified"), world
    assert env.tool_calls == ["verify_identity"]
    msgs = env.messages
    assert msgs[-3]["tool_calls"][0]["function"]["name"] == "verify_identity"
    assert msgs[-3]["content"] == ""  # nothing said to the user with a tool call
    assert result["user"] == msgs[-1]["content"]
    # a wrong argument is an error result from the env, not an exception
    bad = json.loads(env.refund(order="A1", amount="lots"))
    assert bad["ok"] is False and "amount" in bad["message"]


def test_get_reward_is_the_env_return_and_per_turn_rewards_are_kept(factory):
    env = factory()
    env.reset(seed=0)
    reply = env.respond("Could you share the email and billing zip code on your account?")
    email = re.search(r"[\w.]+@[\w.]+\.test", reply).group(0)
    zip_code = re.search(r"\b\d{5}\b", reply).group(0)
    env.verify_identity(email=email, zip=zip_code)
    env.reset_password(email=email)
    last = env.respond(f"I have sent a password reset link to {email}.")
    assert env.done and "ended" in last
    summary = env.infos[-1]["episode_summary"]
    assert math.isclose(env.get_reward(), summary["return"])
    assert math.isclose(env.get_reward(), env.env.unwrapped.episode_summary()["return"])
    assert len(env.turn_rewards) == len(env.scores) == 4 == summary["turns"]
    assert math.isclose(sum(env.turn_rewards), env.get_reward())
    assert summary["success"] and env.get_reward() > 1.0
    for name, total in summary["scores"].items():
        assert math.isclose(sum(s[name] for s in env.scores), total), name
    # after the end, calls say so and run nothing
    steps = env.totals["env_steps"]
    assert env.respond("hello?") == ENDED
    assert json.loads(env.refund(order="A1", amount=1.0))["done"] is True
    assert env.totals["env_steps"] == steps and math.isclose(env.get_reward(), summary["return"])


def test_bad_input_fails_clearly(factory):
    with pytest.raises(ConfigError, match="unknown env id"):
        environment_factory("Dialog-Nope-v0")
    with pytest.raises(TypeError, match="environment_factory"):
        DialogGymEnvironment(CS)
    env = factory()
    assert "reset" in env.respond("hi")  # before reset
    with pytest.raises(ConfigError, match="seed"):
        env.reset(seed="x")
    with pytest.raises(ConfigError, match="tools"):
        env.reset(env_id="Dialog-QA-v0", seed=0)


def test_importing_without_trl_names_the_extra(monkeypatch):
    import dialog_gym.integrations.trl as mod
    from dialog_gym.error import DependencyNotInstalled

    monkeypatch.setitem(sys.modules, "trl", None)
    monkeypatch.delitem(sys.modules, mod.__name__)
    with pytest.raises(DependencyNotInstalled, match=r"dialog-gym\[trl\]"):
        import dialog_gym.integrations.trl  # noqa: F401


def test_trl_accepts_the_factory_and_parses_tool_calls(factory, tmp_path):
    """The real trl pieces GRPOTrainer runs on the factory and the Hermes templates."""
    from trl.chat_template_utils import (
        is_chat_template_prefix_preserving,
        parse_response,
        supports_tool_calling,
    )

    tok = byte_tokenizer()
    assert tok.chat_template == HERMES_CHAT_TEMPLATE and tok.eos_token == "<|im_end|>"
    assert supports_tool_calling(tok) and is_chat_template_prefix_preserving(tok)
    env = factory()
    tools = list(trl_tools(env).values())
    prompt = [{"role": "user", "content": env.reset(seed=3)}]
    text = tok.apply_chat_template(prompt, tools=tools, add_generation_prompt=True,
                                   tokenize=False)
    assert '"name": "verify_identity"' in text and '"name": "respond"' in text
    prefix = tok.apply_chat_template(prompt, tools=tools, add_generation_prompt=True,
                                     return_dict=False)
    gen = tok('<tool_call>{"name": "verify_identity", "arguments": {"email": "a@b.test", '
              '"zip": "12345"}}</tool_call><|im_end|>')["input_ids"]
    parsed = parse_response(tok, gen, prefix=prefix, tools=tools)
    call = parsed["tool_calls"][0]["function"]
    assert call == {"name": "verify_identity", "arguments": {"email": "a@b.test",
                                                             "zip": "12345"}}
    # TRL runs the call as tool_dict[name](**arguments)
    result = json.loads(trl_tools(env)[call["name"]](**call["arguments"]))
    assert result["ok"] is False and "user" in result
    assert env.tool_calls == ["verify_identity"]
    plain = parse_response(tok, tok("All done.<|im_end|>")["input_ids"], prefix=prefix,
                           tools=tools)
    assert plain == {"role": "assistant", "content": "All done."}


def test_the_documented_rollout_func_recipe_runs_as_written():
    """The docs' rollout_func block, executed with a tiny random model and a stub trainer."""
    import types

    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    doc = (Path(__file__).resolve().parents[2] / "docs" / "integrations" / "trl.md").read_text()
    block = re.search(r"```python\n(# recipe: rollout_func\n.*?)```", doc, re.DOTALL).group(1)
    ns: dict = {}
    exec(compile(block, "docs/integrations/trl.md", "exec"), ns)  # noqa: S102
    rows = ns["make_rows"]([0, 1])
    tok = byte_tokenizer()
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tok), n_positions=8192, n_embd=32,
                                       n_layer=1, n_head=2, eos_token_id=tok.eos_token_id))
    trainer = types.SimpleNamespace(processing_class=tok, model=model,
                                    accelerator=types.SimpleNamespace(unwrap_model=lambda m: m),
                                    max_completion_length=24)
    prompts = [rows[0]["prompt"], rows[0]["prompt"], rows[1]["prompt"]]
    out = ns["rollout_func"](prompts, trainer, max_new_tokens=12)
    assert {"prompt_ids", "completion_ids", "logprobs"} <= set(out)
    assert len(out["prompt_ids"]) == len(out["completion_ids"]) == len(out["env_mask"]) == 3
    assert out["prompt_ids"][0] == out["prompt_ids"][1] != out["prompt_ids"][2]
    for ids, mask in zip(out["completion_ids"], out["env_mask"], strict=True):
        assert len(ids) == len(mask) and mask[0] == 1 and sum(mask) >= 1
    # a masked run of env tokens holds the user's reply
    first = out["completion_ids"][0]
    env_text = tok.decode([t for t, m in zip(first, out["env_mask"][0], strict=True) if not m])
    assert "<|im_start|>user" in env_text or len(first) == sum(out["env_mask"][0])
    assert all(isinstance(r, float) for r in out["env_return"])
    assert ns["env_return"]([None] * 3, out["env_return"]) == out["env_return"]


@pytest.mark.slow
def test_grpo_trainer_runs_through_the_factory(tmp_path):
    """GRPO for 2 steps on CPU with a tiny warmed-up model: env tools and respond run."""
    sys.path.insert(0, str(EXAMPLES))
    try:
        import trl_grpo
    finally:
        sys.path.remove(str(EXAMPLES))
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    out = trl_grpo.run(env_id=CS, steps=2, out_dir=str(tmp_path), verbose=False)
    calls = {k: out[k] for k in ("env_tool_calls", "respond_calls", "env_steps")}
    # every call TRL parsed out of a generation is an env step (respond or an env tool)
    assert out["env_tool_calls"] + out["respond_calls"] == out["env_steps"] > 0, calls
    # the env's own tools (lookup_order, verify_identity, ...) ran, not only respond
    assert out["env_tool_calls"] > 0 and out["respond_calls"] > 0, calls
    assert out["episodes"] == len(out["rewards"]) == 16
    steps = [e for e in out["log_history"] if out["reward_key"] in e]
    assert len(steps) == 2
    assert all(math.isfinite(e[out["reward_key"]]) for e in steps)
    assert any(e["tools/call_frequency"] > 0 for e in steps)
    assert len(set(round(r, 6) for r in out["rewards"])) > 1  # nonzero variance
    assert max(e["reward_std"] for e in steps) > 0


@pytest.mark.parametrize("env_id", dialog_gym.env_ids())
def test_every_env_id_gets_a_factory_whose_tools_trl_can_read(env_id):
    """Argument names that are Python keywords (convert's ``from``) get a trailing ``_``."""
    obj = environment_factory(env_id)()
    schemas = {s["function"]["name"]: s for s in gym.make(env_id).unwrapped.tool_schemas}
    for name, schema in schemas.items():
        got = get_json_schema(getattr(obj, name))["function"]["parameters"]
        want = schema["function"]["parameters"]
        rename = {k: k + "_" if keyword.iskeyword(k) else k for k in want["properties"]}
        assert set(got["properties"]) == set(rename.values())
        assert set(got.get("required", [])) == {rename[k] for k in want["required"]}


def test_a_keyword_argument_reaches_the_env_under_its_own_name():
    obj = environment_factory("Dialog-VirtualAssistant-v0")()
    obj.reset(seed=2)
    out = json.loads(obj.convert(value=22, from_="c", to="f"))
    assert out["ok"] is True and out["data"]["result"] == 71.6
