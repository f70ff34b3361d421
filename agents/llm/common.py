"""Helpers shared by the SFT, reward-model and RL trainers."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np

from dialog_gym.error import ConfigError

T = TypeVar("T")

DEFAULT_ENV = "Dialog-CustomerService-v0"


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def set_threads(threads: int) -> None:
    """Torch intra-op threads (0 keeps torch's default)."""
    import torch

    if threads and threads > 0:
        torch.set_num_threads(int(threads))


def length_batches(lengths: Sequence[int], batch_size: int, rng: np.random.Generator,
                   *, bucket: int = 8) -> list[list[int]]:
    """Shuffled batches of indices, each drawn from items of similar length.

    Items are shuffled, cut into windows of ``bucket * batch_size``, sorted by length
    inside a window and split into batches; the batches are shuffled again. Padding
    waste drops while every epoch still sees each item once in random company.

    Example:
        >>> b = length_batches([5, 1, 9, 3], 2, np.random.default_rng(0))
        >>> sorted(i for batch in b for i in batch)
        [0, 1, 2, 3]
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    order = rng.permutation(len(lengths)).tolist()
    window = max(batch_size, bucket * batch_size)
    batches: list[list[int]] = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start:start + window], key=lambda i: lengths[i])
        batches.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    perm = rng.permutation(len(batches)).tolist()
    return [batches[i] for i in perm]


def chunks(items: Sequence[T], size: int) -> Iterator[list[T]]:
    """Consecutive slices of ``size``."""
    for i in range(0, len(items), size):
        yield list(items[i:i + size])


class Timer:
    """Wall-clock budget: ``Timer(600).expired`` after ten minutes (0: never)."""

    def __init__(self, budget_s: float = 0.0) -> None:
        self.t0 = time.time()
        self.budget = float(budget_s)

    @property
    def elapsed(self) -> float:
        """Seconds since start."""
        return time.time() - self.t0

    @property
    def expired(self) -> bool:
        """Whether the budget is spent."""
        return self.budget > 0 and self.elapsed >= self.budget


def finish_model_folder(path: str, tokenizer: Any, meta: Mapping[str, Any]) -> None:
    """Write the tokenizer and the dialog-gym metadata next to saved weights."""
    from dialog_gym.agents.llm.prompt import write_meta

    tokenizer.save_pretrained(path)
    write_meta(path, meta)


def require_model_dir(path: str, what: str) -> str:
    """A model folder or a Hub id string; a clear error for a missing local path."""
    if os.path.sep in path or path.startswith("."):
        if not os.path.isdir(path):
            raise ConfigError(
                f"{what} {path!r} is not a folder; pass a model folder written by "
                "`dialog-gym train ...` or a Hugging Face id available offline")
    return path


def apply_lora(model: Any, r: int, alpha: float, dropout: float = 0.0) -> Any:
    """Wrap a causal LM with LoRA adapters on every linear layer (peft)."""
    from dialog_gym.extras import require

    require("peft", "LoRA (--lora-r)")
    from peft import LoraConfig, get_peft_model

    cfg = LoraConfig(r=int(r), lora_alpha=float(alpha), lora_dropout=float(dropout),
                     target_modules="all-linear", task_type="CAUSAL_LM",
                     fan_in_fan_out=getattr(model.config, "model_type", "") == "gpt2")
    return get_peft_model(model, cfg)


def rank_zero_first(marker: str, fn: Any) -> None:
    """Run ``fn`` on rank 0 only (then write ``marker``); other ranks wait for the marker.

    For work done before the process group exists (exporting demonstrations, building
    the embedded model) when several ranks share one output folder.
    """
    rank = int(os.environ.get("RANK", "0"))
    if rank == 0:
        if os.path.exists(marker):
            os.unlink(marker)
        fn()
        with open(marker, "w", encoding="utf-8") as fh:
            fh.write("done\n")
        return
    deadline = time.time() + 3600
    while not os.path.exists(marker):
        if time.time() > deadline:
            raise TimeoutError(f"rank {rank}: rank 0 did not finish {marker!r} in an hour")
        time.sleep(0.5)
