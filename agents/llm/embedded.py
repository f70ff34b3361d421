"""The embedded default model: a tiny GPT-2 and a byte-level BPE trained on the env corpus.

With no model named, the pipeline builds one locally (nothing is downloaded): a
byte-level BPE tokenizer trained with ``tokenizers`` on the demonstrations' contexts and
transcripts (digits split one by one, so ids, amounts and zip codes are copied digit by
digit), a chat template with tool support (:func:`chat_template`: ``<|system|>
<|user|> <|assistant|> <|tool|> <|end|>`` markers, the tools listed in the system turn,
assistant tool calls as Hermes ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``
blocks, ``tool`` messages in their own turn), a ``response_template`` so that
``tokenizer.parse_response`` (transformers) reads the calls back out of a generation, and
a randomly initialised GPT-2 (dropout off). Both are saved with ``save_pretrained`` and
load back with ``AutoTokenizer`` / ``AutoModelForCausalLM`` like any Hugging Face model.
Same demonstrations and seed -> identical files.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from dialog_gym.agents.llm.prompt import (
    PLACEHOLDERS,
    PromptFormat,
    constant_lines,
    prepare_messages,
    write_meta,
)

SPECIAL_TOKENS = ("<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>",
                  "<|tool|>")

#: tool-call markers: atomic tokens, but not special ones (decoding keeps them)
TOOL_CALL_TOKENS = ("<tool_call>", "</tool_call>")

_TOOLS = (
    "{{ '\\n<tools>' }}{% for t in tools %}{% set f = t.function if t.function is defined "
    "else t %}{% set p = f.parameters if f.parameters is defined else {} %}"
    "{% set req = p.required if p.required is defined else [] %}"
    "{{ '\\n' }}{{ f.name }}({% for k, v in (p.properties if p.properties is defined "
    "else {}).items() %}{{ k }}{% if k not in req %}?{% endif %}: {{ v.type }}"
    "{% if not loop.last %}, {% endif %}{% endfor %}): {{ f.description or '' }}{% endfor %}"
    "{{ '\\n</tools>' }}"
)


def chat_template(end: str = "<|end|>") -> str:
    """The embedded chat template; ``end`` closes every turn (Jinja text allowed).

    ``<|role|>content<|end|>`` per message; the tools (OpenAI function schemas passed as
    ``tools=``) are listed in the system turn as ``name(arg: type, opt?: type):
    description`` lines between ``<tools>`` and ``</tools>``; an assistant message's
    ``tool_calls`` follow its content as ``<tool_call>{"name": ..., "arguments": ...}
    </tool_call>`` blocks (arguments given as JSON text are written as they are); a
    ``tool`` message is a ``<|tool|>`` turn holding its content.
    """
    return (
        "{% for m in messages %}"
        "{% if loop.first and tools and m.role != 'system' %}<|system|>" + _TOOLS + end +
        "{% endif %}"
        "{% if m.role == 'system' %}<|system|>{{ m.content }}{% if tools %}" + _TOOLS +
        "{% endif %}" + end +
        "{% elif m.role == 'assistant' %}<|assistant|>{{ m.content or '' }}"
        "{% for c in (m.tool_calls or []) %}{% set f = c.function if c.function is defined "
        "else c %}<tool_call>{\"name\": {{ f.name | tojson }}, \"arguments\": "
        "{% if f.arguments is string %}{{ f.arguments }}{% else %}{{ f.arguments | tojson }}"
        "{% endif %}{{ '}' }}</tool_call>{% endfor %}" + end +
        "{% else %}<|{{ m.role }}|>{{ m.content }}" + end + "{% endif %}"
        "{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}"
    )


CHAT_TEMPLATE = chat_template()

#: how ``tokenizer.parse_response`` reads a generation of the embedded template
RESPONSE_TEMPLATE = {
    "defaults": {"role": "assistant"},
    "start_anchor": "<|assistant|>",
    "fields": {
        "tool_calls": {"open_pattern": r"\s*<tool_call>", "close": "</tool_call>",
                       "repeats": True, "content": "json",
                       "transform": {"type": "function", "function": "{content}"}},
        "content": {"close_pattern": r"\s*(?:<\|end\|>|<\|endoftext\|>)", "content": "text"},
    },
}


@dataclass(frozen=True)
class EmbeddedSpec:
    """Size of the embedded model and tokenizer.

    Attributes:
        vocab_size: BPE vocabulary size (special tokens included).
        n_embd: Hidden size.
        n_layer: Transformer blocks.
        n_head: Attention heads.
        n_positions: Longest sequence (an episode's tokens must fit).
        max_prompt_tokens: Longest prompt of the policy.
        seed: Seed of the weight initialisation.
        arch: ``"gpt2"`` (learned absolute positions) or ``"llama"`` (rotary positions,
            RMSNorm, SwiGLU; same width and depth).
        delexicalize: Prompt format with value placeholders
            (:attr:`~dialog_gym.agents.llm.prompt.PromptFormat.delexicalize`).
    """

    vocab_size: int = 1024
    n_embd: int = 128
    n_layer: int = 4
    n_head: int = 4
    n_positions: int = 1024
    max_prompt_tokens: int = 768
    seed: int = 0
    arch: str = "gpt2"
    delexicalize: bool = True


def train_tokenizer(texts: Sequence[str], vocab_size: int, *, regex: bool = False) -> Any:
    """A byte-level BPE (``PreTrainedTokenizerFast``) with the chat and response templates.

    With ``regex=False`` merges may cross word boundaries (frequent phrases become one
    token, which shortens the templated replies of a domain a lot); digits are always
    single tokens.
    """
    from tokenizers import (
        Regex,
        Tokenizer,
        decoders,
        models,
        pre_tokenizers,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        # ids, emails, amounts and dates stand alone (never merged into a phrase), so a
        # value is the same tokens wherever it appears and can be copied token by token
        pre_tokenizers.Split(Regex(r"[^\s\[\]=(),;]*[\d@][^\s\[\]=(),;]*"),
                             behavior="isolated"),
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=regex),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        # value placeholders (delexicalisation) are atomic tokens, never merged
        vocab_size=vocab_size, min_frequency=2,
        special_tokens=[*SPECIAL_TOKENS, *PLACEHOLDERS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(list(texts), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>",
        bos_token="<|endoftext|>", unk_token=None, clean_up_tokenization_spaces=False)
    fast.add_tokens(list(TOOL_CALL_TOKENS))
    fast.chat_template = CHAT_TEMPLATE
    fast.response_template = RESPONSE_TEMPLATE
    fast.padding_side = "left"
    return fast


def model_config(spec: EmbeddedSpec, tokenizer: Any) -> tuple[type, Any]:
    """The model class and config of ``spec`` (dropout off)."""
    from dialog_gym.error import ConfigError

    ids = {"bos_token_id": tokenizer.eos_token_id, "eos_token_id": tokenizer.eos_token_id,
           "pad_token_id": tokenizer.pad_token_id, "tie_word_embeddings": True}
    if spec.arch == "gpt2":
        from transformers import GPT2Config, GPT2LMHeadModel

        return GPT2LMHeadModel, GPT2Config(
            vocab_size=len(tokenizer), n_positions=spec.n_positions, n_embd=spec.n_embd,
            n_layer=spec.n_layer, n_head=spec.n_head, resid_pdrop=0.0, embd_pdrop=0.0,
            attn_pdrop=0.0, **ids)
    if spec.arch == "llama":
        from transformers import LlamaConfig, LlamaForCausalLM

        return LlamaForCausalLM, LlamaConfig(
            vocab_size=len(tokenizer), hidden_size=spec.n_embd,
            intermediate_size=spec.n_embd * 8 // 3 // 16 * 16 or 4 * spec.n_embd,
            num_hidden_layers=spec.n_layer, num_attention_heads=spec.n_head,
            num_key_value_heads=spec.n_head, max_position_embeddings=spec.n_positions,
            attention_dropout=0.0, rope_theta=10000.0, **ids)
    raise ConfigError(f"arch must be 'gpt2' or 'llama', got {spec.arch!r}")


def build_embedded(demos: Sequence[dict[str, Any]], out_dir: str,
                   spec: EmbeddedSpec | None = None) -> str:
    """Train the tokenizer on ``demos`` and save a fresh tiny GPT-2 into ``out_dir``.

    Returns:
        ``out_dir``, a model folder loadable by :class:`~dialog_gym.agents.llm.policy.Policy`.
    """
    import torch

    spec = spec or EmbeddedSpec()
    from transformers.utils.chat_template_utils import render_jinja_template

    contexts = [d["context"] for d in demos]
    labels = dict(demos[0].get("labels") or PromptFormat().labels)
    fmt = PromptFormat(labels=labels, drop_context_lines=constant_lines(contexts),
                       max_prompt_tokens=spec.max_prompt_tokens,
                       delexicalize=spec.delexicalize, tools=tuple(demos[0].get("tools", ())))
    # the corpus is the text the model will read: each demonstration rendered by the
    # template, tools included (markers are special tokens, so they never merge)
    tools = [dict(t) for t in fmt.tools] or None
    corpus = []
    for d in demos:
        rendered, _ = render_jinja_template(
            conversations=[prepare_messages(d["messages"], fmt)], tools=tools,
            chat_template=CHAT_TEMPLATE)
        corpus.append(rendered[0])
    tokenizer = train_tokenizer(corpus, spec.vocab_size)
    model_cls, config = model_config(spec, tokenizer)
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(spec.seed)
        model = model_cls(config)
    finally:
        torch.random.set_rng_state(state)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    write_meta(out_dir, {"kind": "policy", "stage": "init", "format": fmt.to_dict(),
                         "embedded": asdict(spec),
                         "env_id": demos[0].get("env_id")})
    return out_dir
