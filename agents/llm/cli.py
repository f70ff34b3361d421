"""``dialog-gym`` subcommands of the LLM agent.

- ``dialog-gym export-demos --env ID --out FILE [--episodes N]``
- ``dialog-gym train sft|rm|ppo|a2c|reinforce --env ID [--model PATH] [--deepspeed CONFIG]
  --out DIR [--quick]``
- ``dialog-gym train pipeline --env ID --out DIR [--quick]`` (SFT -> RM -> PPO, leaving
  ``DIR/sft``, ``DIR/rm`` and ``DIR/ppo``)

Every option comes from a field of the trainer's config dataclass (its docstring is the
help text). Only argparse-level code runs at import; torch, transformers and DeepSpeed are
imported when a command runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import types
import typing
from collections.abc import Mapping
from typing import Any

from dialog_gym.agents.llm.config import (
    ALGOS,
    QUICK,
    PipelineConfig,
    RLConfig,
    RMConfig,
    SFTConfig,
    field_docs,
)

#: fields whose CLI name differs from the field name
_RENAME = {"env_id": "env"}


def _base_type(tp: Any) -> Any:
    """``int`` for ``int``/``int | None``; ``str`` for ``str | None``; else the type."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else str
    return tp


def _json_arg(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"expected JSON, got {text!r}: {e}") from e


def add_dataclass_options(parser: argparse.ArgumentParser, cls: type,
                          skip: tuple[str, ...] = ()) -> None:
    """One ``--option`` per field of ``cls`` (defaults suppressed, so presets can apply)."""
    docs = field_docs(cls)
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        flag = "--" + _RENAME.get(f.name, f.name).replace("_", "-")
        tp = _base_type(hints[f.name])
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else None)
        help_text = f"{docs.get(f.name, '')} (default: {default!r})"
        if tp is bool:
            action = argparse.BooleanOptionalAction if default else "store_true"
            parser.add_argument(flag, dest=f.name, action=action, default=argparse.SUPPRESS,
                                help=help_text)
        elif tp in (int, float, str):
            parser.add_argument(flag, dest=f.name, type=tp, default=argparse.SUPPRESS,
                                help=help_text)
        else:
            parser.add_argument(flag, dest=f.name, type=_json_arg, default=argparse.SUPPRESS,
                                metavar="JSON", help=help_text)


def build_config(cls: type, args: argparse.Namespace, preset: Mapping[str, Any] | None = None
                 ) -> Any:
    """Dataclass defaults <- ``--quick`` preset <- options given on the command line."""
    names = {f.name for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    if getattr(args, "quick", False) and preset:
        values.update({k: v for k, v in preset.items() if k in names})
    values.update({k: v for k, v in vars(args).items() if k in names})
    return cls(**values)


def _print_summary(metrics: Mapping[str, Any]) -> None:
    shown = {k: v for k, v in metrics.items() if k != "config" and not isinstance(v, dict)}
    print(json.dumps(shown, indent=2, default=str))


# ------------------------------------------------------------------ commands
def cmd_export_demos(args: argparse.Namespace) -> int:
    """Write expert demonstrations to a JSONL file."""
    from dialog_gym.agents.llm.demos import export_demos

    kw = dict(args.env_kw or {})
    summary = export_demos(args.env, args.out, episodes=args.episodes, seed=args.seed,
                           env_kwargs=kw)
    print(json.dumps(summary, indent=2))
    return 0


def cmd_sft(args: argparse.Namespace) -> int:
    """``dialog-gym train sft``."""
    from dialog_gym.agents.llm.sft import train_sft

    _print_summary(train_sft(build_config(SFTConfig, args, QUICK["sft"])))
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    """``dialog-gym train rm``."""
    from dialog_gym.agents.llm.rm import train_rm

    _print_summary(train_rm(build_config(RMConfig, args, QUICK["rm"])))
    return 0


def cmd_rl(args: argparse.Namespace) -> int:
    """``dialog-gym train ppo|a2c|reinforce``."""
    from dialog_gym.agents.llm.rl import train_rl

    cfg = build_config(RLConfig, args, {**QUICK["rl"], **QUICK.get(args.trainer, {})})
    cfg = dataclasses.replace(cfg, algo=args.trainer)
    _print_summary(train_rl(cfg))
    return 0


def cmd_pipeline(args: argparse.Namespace) -> int:
    """``dialog-gym train pipeline``."""
    from dialog_gym.agents.llm.pipeline import run_pipeline

    cfg = build_config(PipelineConfig, args)
    _print_summary(run_pipeline(cfg, quick=bool(args.quick)))
    return 0


def add_commands(sub: Any, train_sub: Any) -> None:
    """Register ``export-demos`` and ``train sft|rm|ppo|a2c|reinforce|pipeline``."""
    e = sub.add_parser("export-demos", help="write expert demonstrations (JSONL) for SFT/RM")
    e.add_argument("--env", default="Dialog-CustomerService-v0", help="environment id")
    e.add_argument("--out", required=True, help="output JSONL file")
    e.add_argument("--episodes", type=int, default=1000, help="episodes (default 1000)")
    e.add_argument("--seed", type=int, default=0, help="first env seed (default 0)")
    e.add_argument("--env-kw", type=_json_arg, default=None, metavar="JSON",
                   help="gym.make keyword arguments as a JSON object")
    e.set_defaults(fn=cmd_export_demos)

    quick_help = ("small preset counted in steps (same models on any machine): the whole "
                  "pipeline in about 15 min on a 2-core CPU")
    specs = [("sft", SFTConfig, cmd_sft, "supervised fine-tuning on expert demonstrations"),
             ("rm", RMConfig, cmd_rm, "reward model on pairwise comparisons")]
    for name, cls, fn, help_text in specs:
        p = train_sub.add_parser(name, help=f"LLM agent: {help_text}",
                                 description=(cls.__doc__ or "").strip())
        add_dataclass_options(p, cls)
        p.add_argument("--quick", action="store_true", help=quick_help)
        p.set_defaults(fn=fn)
    for algo in ALGOS:
        p = train_sub.add_parser(algo, help=f"LLM agent: {algo.upper()} on the env "
                                 "(multi-turn, DeepSpeed)", description=RLConfig.__doc__)
        add_dataclass_options(p, RLConfig, skip=("algo",))
        p.add_argument("--quick", action="store_true", help=quick_help)
        p.set_defaults(fn=cmd_rl)
    p = train_sub.add_parser("pipeline", help="LLM agent: SFT -> reward model -> RL",
                             description=PipelineConfig.__doc__)
    add_dataclass_options(p, PipelineConfig)
    p.add_argument("--quick", action="store_true", help=quick_help)
    p.set_defaults(fn=cmd_pipeline)


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - thin wrapper
    """Run ``dialog-gym`` (for ``python -m dialog_gym.agents.llm.cli``)."""
    from dialog_gym.cli import main as dg_main

    return dg_main(argv)


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.exit(main())
