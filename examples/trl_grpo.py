"""GRPO with TRL on a dialog-gym env, through ``environment_factory``, on CPU in minutes.

    python examples/trl_grpo.py --steps 2

What it does (nothing is downloaded):

1. Plays the env's expert through the TRL adapter for a few dozen seeds and records each
   episode the way TRL sees it: the reset observation as the user turn, then assistant
   turns that call ``respond`` or an env tool, and the tool results.
2. Builds a tiny model locally: a byte-level BPE trained on those conversations, with the
   adapter's Hermes chat and response templates (so TRL renders the tools and parses
   ``<tool_call>`` blocks), and a randomly initialised GPT-2.
3. Warms it up with a short supervised pass on the demonstrations' assistant tokens, so
   that it emits tool calls at all (a random model never does).
4. Runs ``trl.GRPOTrainer`` with ``environment_factory=environment_factory(env_id)``: the
   env owns the reward (``get_reward`` = the episode's return).

It prints TRL's log per step and a summary (tool calls that reached the env, reward mean
and spread). ``run()`` returns the same numbers (``tests/integrations/test_trl.py`` calls
it). With a real model, skip steps 1-3 and pass the model id and its tokenizer instead.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import tempfile
import time
from collections.abc import Sequence
from typing import Any

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

ENV_ID = "Dialog-CustomerService-v0"
CLOSING = "Goodbye."


def expert_demos(factory: Any, seeds: Sequence[int]) -> list[list[dict[str, Any]]]:
    """The expert's episodes as TRL conversations (one per seed), played through ``factory``.

    Each expert reply becomes one assistant turn per tool call, then a ``respond`` turn
    with its spoken text; the episode closes with a turn without a tool call.
    """
    from dialog_gym.agents import make_agent

    demos = []
    for seed in seeds:
        env = factory()
        expert = make_agent("expert", env_id=factory.env_id)
        if hasattr(expert, "reset"):
            expert.reset()
        convo = [{"role": "user", "content": env.reset(seed=seed)}]
        toolset = env.env.unwrapped.tools
        while not env.done:
            action = expert.act(env.observation)
            parsed = toolset.parse(action) if toolset else None
            steps = [(c.name, dict(c.args)) for c in (parsed.calls if parsed else ())]
            text = parsed.text if parsed else action
            if text or not steps:
                steps.append(("respond", {"message": text}))
            for name, args in steps:
                if env.done:
                    break
                result = getattr(env, name)(**args)
                call = {"type": "function", "function": {"name": name, "arguments": args}}
                convo.append({"role": "assistant", "content": "", "tool_calls": [call]})
                convo.append({"role": "tool", "name": name, "content": result})
        convo.append({"role": "assistant", "content": CLOSING})
        demos.append(convo)
    return demos


def build_tiny_model(out_dir: str, demos: Sequence[list[dict[str, Any]]], tools: list[Any], *,
                     vocab_size: int = 3000, n_embd: int = 96, n_layer: int = 2,
                     n_positions: int = 2048, seed: int = 0) -> str:
    """Train a BPE on the rendered demos and save it with a fresh tiny GPT-2 in ``out_dir``."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast
    from transformers.utils.chat_template_utils import render_jinja_template

    from dialog_gym.integrations.trl import (
        HERMES_CHAT_TEMPLATE,
        HERMES_TOKENS,
        add_hermes_templates,
    )

    rendered = render_jinja_template(conversations=list(demos), tools=tools,
                                     chat_template=HERMES_CHAT_TEMPLATE)[0]
    special = ["<|endoftext|>", *HERMES_TOKENS]
    bpe = Tokenizer(models.BPE())
    # digits one by one (ids, zips and amounts are copied digit by digit); merges may cross
    # word boundaries, so the constant parts of the prompt become few tokens
    bpe.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(rendered, trainer=trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=2, special_tokens=special, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>",
                                        pad_token="<|endoftext|>", bos_token="<|endoftext|>",
                                        clean_up_tokenization_spaces=False)
    tokenizer.padding_side = "left"
    add_hermes_templates(tokenizer)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=n_positions, n_embd=n_embd,
                        n_layer=n_layer, n_head=4, resid_pdrop=0.0, embd_pdrop=0.0,
                        attn_pdrop=0.0, bos_token_id=tokenizer.bos_token_id,
                        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    # the response template is not saved by every transformers version: keep a copy
    with open(os.path.join(out_dir, "response_template.json"), "w") as f:
        json.dump(tokenizer.response_template, f)
    return out_dir


def load_tokenizer(model_dir: str) -> Any:
    """The tiny model's tokenizer, with the Hermes response template set."""
    from transformers import AutoTokenizer

    from dialog_gym.integrations.trl import add_hermes_templates

    return add_hermes_templates(AutoTokenizer.from_pretrained(model_dir))


def assistant_token_masks(tokenizer: Any, convo: list[dict[str, Any]], tools: list[Any]
                          ) -> tuple[list[int], list[int]]:
    """Token ids of ``convo`` and a 1/0 mask of the assistant turns' tokens (the loss)."""
    ids: list[int] = []
    mask: list[int] = []
    for i, m in enumerate(convo):
        full = tokenizer.apply_chat_template(convo[: i + 1], tools=tools, tokenize=True,
                                             return_dict=False)
        if m["role"] == "assistant":
            head = tokenizer.apply_chat_template(convo[:i], tools=tools, tokenize=True,
                                                 return_dict=False, add_generation_prompt=True)
            if full[: len(head)] != head or head[: len(ids)] != ids:
                raise ValueError("the chat template is not prefix-preserving")
            mask += [0] * (len(head) - len(ids)) + [1] * (len(full) - len(head))
        else:
            if full[: len(ids)] != ids:
                raise ValueError("the chat template is not prefix-preserving")
            mask += [0] * (len(full) - len(ids))
        ids = full
    return ids, mask


def warm_up(model_dir: str, demos: Sequence[list[dict[str, Any]]], tools: list[Any], *,
            steps: int = 120, lr: float = 3e-3, batch_size: int = 8, seed: int = 0) -> float:
    """Supervised pass on the demos' assistant tokens; saves the model; returns the last loss."""
    import torch
    from transformers import AutoModelForCausalLM

    tokenizer = load_tokenizer(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    data = [assistant_token_masks(tokenizer, c, tools) for c in demos]
    longest = max(len(ids) for ids, _ in data)
    if longest > model.config.n_positions:
        raise ValueError(f"a demo has {longest} tokens, more than the model's "
                         f"{model.config.n_positions} positions")
    rng = random.Random(seed)
    torch.manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    model.train()
    loss_value = math.nan
    for step in range(steps):
        batch = rng.sample(data, min(batch_size, len(data)))
        n = max(len(ids) for ids, _ in batch)
        input_ids = torch.full((len(batch), n), tokenizer.pad_token_id)
        labels = torch.full((len(batch), n), -100)
        attn = torch.zeros((len(batch), n), dtype=torch.long)
        for row, (ids, mask) in enumerate(batch):
            t = torch.tensor(ids)
            input_ids[row, : len(ids)] = t
            attn[row, : len(ids)] = 1
            labels[row, : len(ids)] = torch.where(torch.tensor(mask) == 1, t, -100)
        loss = model(input_ids=input_ids, attention_mask=attn, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        for group in opt.param_groups:  # linear decay
            group["lr"] = lr * (1 - step / steps)
        opt.step()
        loss_value = float(loss.detach())
    model.save_pretrained(model_dir)
    return loss_value


def run(*, env_id: str = ENV_ID, steps: int = 2, out_dir: str | None = None,
        demo_seeds: int = 96, warmup_steps: int = 400, num_generations: int = 4,
        prompts_per_step: int = 2, max_completion_length: int = 256, seed: int = 0,
        verbose: bool = True) -> dict[str, Any]:
    """Demos -> tiny model -> warm-up -> ``steps`` GRPO steps; returns what happened.

    Returns:
        ``log_history`` (TRL's logs), ``reward_key`` (the env reward's log name),
        ``env_tool_calls`` / ``respond_calls`` / ``episodes`` (totals over every
        environment object TRL used), ``rewards`` (each rollout's return), ``warmup_loss``.
    """
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from dialog_gym.integrations.trl import environment_factory

    out_dir = out_dir or tempfile.mkdtemp(prefix="dialog_gym_trl_")
    model_dir = os.path.join(out_dir, "model")
    t0 = time.perf_counter()
    factory = environment_factory(env_id)
    probe = factory()
    tools = [getattr(probe, n) for n in ("respond", *probe.tool_names)]
    # the demos are played on objects of their own, so the totals below count TRL's only
    demos = expert_demos(environment_factory(env_id), range(1000, 1000 + demo_seeds))
    build_tiny_model(model_dir, demos, tools, seed=seed)
    loss = warm_up(model_dir, demos, tools, steps=warmup_steps, seed=seed)
    if verbose:
        print(f"warm-up on {len(demos)} expert episodes: final loss {loss:.3f} "
              f"({time.perf_counter() - t0:.0f} s)")

    # rollouts are scored by the env: record each one's return as TRL asks for it
    rewards: list[float] = []
    original = factory.env_class.get_reward

    def get_reward(self: Any) -> float:
        value = original(self)
        rewards.append(value)
        return value

    factory.env_class.get_reward = get_reward
    n_rows = max(steps * prompts_per_step, 1)
    dataset = Dataset.from_dict({
        "prompt": [[{"role": "user", "content": ""}]] * n_rows,
        "env_id": [env_id] * n_rows,
        "seed": list(range(n_rows)),
    })
    args = GRPOConfig(
        output_dir=os.path.join(out_dir, "grpo"), max_steps=steps,
        per_device_train_batch_size=num_generations * prompts_per_step,
        num_generations=num_generations, max_completion_length=max_completion_length,
        max_tool_calling_iterations=8, learning_rate=1e-4, temperature=1.0, beta=0.0,
        logging_steps=1, report_to="none", use_cpu=True, save_strategy="no", seed=seed,
        shuffle_dataset=False, disable_tqdm=True, dataloader_num_workers=0)
    trainer = GRPOTrainer(model=model_dir, args=args, train_dataset=dataset,
                          processing_class=load_tokenizer(model_dir),
                          environment_factory=factory)
    trainer.train()
    objs = [o for o in factory.instances if o is not probe]
    totals = {k: sum(o.totals[k] for o in objs) for k in ("tool_calls", "respond_calls",
                                                          "episodes", "env_steps")}
    summary = {
        "log_history": trainer.state.log_history,
        "reward_key": f"rewards/{factory.env_class.__name__}/mean",
        "env_tool_calls": totals["tool_calls"], "respond_calls": totals["respond_calls"],
        "episodes": totals["episodes"], "env_steps": totals["env_steps"],
        "rewards": rewards, "warmup_loss": loss,
    }
    if verbose:
        for entry in trainer.state.log_history:
            print({k: round(v, 4) if isinstance(v, float) else v for k, v in entry.items()})
        mean = sum(rewards) / max(len(rewards), 1)
        spread = (sum((r - mean) ** 2 for r in rewards) / max(len(rewards), 1)) ** 0.5
        print(f"{len(rewards)} rollouts: {totals['tool_calls']} env tool calls and "
              f"{totals['respond_calls']} respond calls reached the env; "
              f"return mean {mean:.3f}, std {spread:.3f}")
    return summary


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: ``--steps``, ``--env``, ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2, help="GRPO steps")
    parser.add_argument("--env", default=ENV_ID, help="env id")
    parser.add_argument("--out", default=None, help="output folder (default: a temp folder)")
    parser.add_argument("--warmup-steps", type=int, default=400,
                        help="supervised steps on the expert's episodes before GRPO")
    parser.add_argument("--demo-seeds", type=int, default=96,
                        help="expert episodes to warm up on")
    a = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    run(env_id=a.env, steps=a.steps, out_dir=a.out, warmup_steps=a.warmup_steps,
        demo_seeds=a.demo_seeds)


if __name__ == "__main__":
    main()
