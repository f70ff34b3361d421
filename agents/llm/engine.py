"""Training engines: DeepSpeed (``deepspeed.initialize``) or plain PyTorch, one interface.

:func:`make_engine` wraps a module with its optimizer, LR schedule (linear warmup, then
constant or linear decay), gradient clipping and gradient accumulation:

- **DeepSpeed** from a JSON file or a dict (:func:`deepspeed_config` writes the default):
  ZeRO stage 0-3, optimizer/parameter offload, bf16/fp16, ``"auto"`` values filled from
  the trainer's settings. A single process needs no launcher (the rendezvous variables
  are set with ``setdefault``, so ``deepspeed --num_gpus N`` overrides them); torch's
  AdamW is used (``torch_adam``) unless the config asks for DeepSpeed's fused Adam, which
  is compiled just in time.
- **Plain PyTorch** (``--no-deepspeed``): ``torch.optim.AdamW`` + ``LambdaLR``.

Both expose ``engine(**batch)``, ``backward(loss)``, ``step()`` (an optimizer step every
``grad_accum`` micro-batches), ``lr``, ``save_model(path)`` (full weights, gathered
under ZeRO-3) and ``optimizer_state()`` / ``load_optimizer_state()`` for checkpoints.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from dialog_gym.error import ConfigError


@dataclass
class OptimSettings:
    """What a trainer asks of its engine (fills a DeepSpeed config's ``"auto"`` values).

    Attributes:
        lr: Peak learning rate.
        weight_decay: Decoupled weight decay (AdamW's L2).
        betas: Adam momentum coefficients.
        eps: Adam epsilon.
        warmup_steps: Linear warmup (optimizer steps).
        total_steps: Optimizer steps of the run (for ``schedule="linear"``).
        schedule: ``"constant"`` (after warmup) or ``"linear"`` (decay to 0).
        grad_clip: Max gradient norm (0: off).
        micro_batch: Sequences per forward/backward.
        grad_accum: Micro-batches per optimizer step.
    """

    lr: float = 1e-4
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    warmup_steps: int = 0
    total_steps: int = 1000
    schedule: str = "constant"
    grad_clip: float = 1.0
    micro_batch: int = 8
    grad_accum: int = 1


def deepspeed_config(*, zero_stage: int = 0, bf16: bool = False, fp16: bool = False,
                     offload: bool = False) -> dict[str, Any]:
    """A DeepSpeed config with ``"auto"`` where the trainer's settings go.

    Example:
        >>> cfg = deepspeed_config(zero_stage=2, bf16=True)
        >>> cfg["zero_optimization"]["stage"], cfg["bf16"]["enabled"], cfg["optimizer"]["type"]
        (2, True, 'AdamW')
    """
    if zero_stage not in (0, 1, 2, 3):
        raise ConfigError(f"zero_stage must be 0, 1, 2 or 3, got {zero_stage!r}")
    zero: dict[str, Any] = {"stage": zero_stage}
    if offload and zero_stage > 0:
        zero["offload_optimizer"] = {"device": "cpu"}
        if zero_stage == 3:
            zero["offload_param"] = {"device": "cpu"}
    return {
        "train_micro_batch_size_per_gpu": "auto",
        "gradient_accumulation_steps": "auto",
        "gradient_clipping": "auto",
        "optimizer": {"type": "AdamW", "params": {
            "lr": "auto", "betas": "auto", "eps": "auto", "weight_decay": "auto",
            "torch_adam": "auto"}},
        "scheduler": {"type": "auto", "params": {}},
        "zero_optimization": zero,
        "bf16": {"enabled": bool(bf16)},
        "fp16": {"enabled": bool(fp16), "initial_scale_power": 12},
        "zero_force_ds_cpu_optimizer": False,
        "steps_per_print": 1_000_000,
        "wall_clock_breakdown": False,
    }


def load_ds_config(config: str | os.PathLike[str] | Mapping[str, Any] | None) -> dict[str, Any]:
    """A DeepSpeed config from a JSON file, a dict, or the default (ZeRO 0, fp32)."""
    if config is None:
        return deepspeed_config()
    if isinstance(config, Mapping):
        return copy.deepcopy(dict(config))
    path = os.fspath(config)
    if not os.path.isfile(path):
        raise ConfigError(f"DeepSpeed config {path!r} does not exist; pass a JSON file "
                          "(see `dialog-gym train ppo --help`) or omit --deepspeed")
    with open(path, encoding="utf-8") as fh:
        try:
            return json.load(fh)
        except json.JSONDecodeError as e:
            raise ConfigError(f"DeepSpeed config {path!r} is not valid JSON: {e}") from e


def fill_auto(cfg: Mapping[str, Any], opt: OptimSettings, *, world_size: int = 1
              ) -> dict[str, Any]:
    """Replace ``"auto"`` entries of a DeepSpeed config with the trainer's settings."""
    cfg = copy.deepcopy(dict(cfg))
    on_cpu = not torch.cuda.is_available()

    def auto(d: dict[str, Any], key: str, value: Any) -> None:
        if d.get(key, "auto") == "auto":
            d[key] = value

    auto(cfg, "train_micro_batch_size_per_gpu", opt.micro_batch)
    auto(cfg, "gradient_accumulation_steps", opt.grad_accum)
    auto(cfg, "gradient_clipping", opt.grad_clip)
    if cfg.get("train_batch_size") == "auto":
        cfg["train_batch_size"] = (cfg["train_micro_batch_size_per_gpu"]
                                   * cfg["gradient_accumulation_steps"] * world_size)
    optim = cfg.setdefault("optimizer", {"type": "AdamW", "params": {}})
    params = optim.setdefault("params", {})
    auto(params, "lr", opt.lr)
    auto(params, "betas", list(opt.betas))
    auto(params, "eps", opt.eps)
    auto(params, "weight_decay", opt.weight_decay)
    # torch's AdamW by default: DeepSpeed's fused Adam is compiled just in time (CPU: a
    # compiler; CUDA: nvcc, and its arch parsing rejects torch's "9.0a"-style entries on
    # Hopper), and the models this trainer builds are too small to gain from it. A config
    # that sets "torch_adam": false gets the fused op on GPUs.
    auto(params, "torch_adam", True)
    if on_cpu:
        params["torch_adam"] = True  # the fused CPU Adam op needs a compiler
    sched = cfg.get("scheduler")
    if sched is not None:
        warm = max(1, opt.warmup_steps)
        if sched.get("type", "auto") == "auto":
            sched["type"] = "WarmupDecayLR" if opt.schedule == "linear" else "WarmupLR"
        p = sched.setdefault("params", {})
        auto(p, "warmup_min_lr", 0.0)
        auto(p, "warmup_max_lr", opt.lr)
        auto(p, "warmup_num_steps", warm)
        auto(p, "warmup_type", "linear")
        if sched["type"] == "WarmupDecayLR":
            auto(p, "total_num_steps", max(opt.total_steps, warm + 1))
    for key in ("bf16", "fp16"):
        if cfg.get(key, {}).get("enabled") == "auto":
            cfg[key]["enabled"] = False
    return cfg


def init_distributed_env() -> None:
    """Rendezvous variables for a single process without the launcher (launcher wins)."""
    if "MASTER_PORT" not in os.environ:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            os.environ["MASTER_PORT"] = str(s.getsockname()[1])
    for k, v in (("MASTER_ADDR", "127.0.0.1"), ("RANK", "0"), ("WORLD_SIZE", "1"),
                 ("LOCAL_RANK", "0")):
        os.environ.setdefault(k, v)


def world() -> tuple[int, int]:
    """``(rank, world_size)`` of this process."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def barrier() -> None:
    """Wait for every rank (a no-op in a single process)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()


def device_for_rank() -> torch.device:
    """The accelerator of this rank (``cuda:LOCAL_RANK``) or the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device("cpu")


class Engine:
    """A module with its optimizer; see the module docstring."""

    module: nn.Module
    uses_deepspeed: bool = False

    def __call__(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D102 - the module's forward
        raise NotImplementedError

    def backward(self, loss: torch.Tensor) -> None:
        """Accumulate gradients of ``loss`` (scaled for accumulation)."""
        raise NotImplementedError

    def step(self) -> bool:
        """Count a micro-batch; on an accumulation boundary, clip, step and zero the grads.

        Returns:
            Whether the optimizer stepped.
        """
        raise NotImplementedError

    @property
    def lr(self) -> float:
        """Current learning rate."""
        raise NotImplementedError

    @property
    def dtype(self) -> torch.dtype:
        """Parameter dtype of the wrapped module."""
        return next(self.module.parameters()).dtype

    @property
    def device(self) -> torch.device:
        """Where the module's inputs go."""
        return device_for_rank()

    def train(self) -> None:
        """Training mode (dropout stays off when the module has none)."""
        self.module.train()

    def eval(self) -> None:
        """Evaluation mode."""
        self.module.eval()

    @contextlib.contextmanager
    def gathered(self) -> Iterator[None]:
        """Full parameters available inside (ZeRO-3 gathers them)."""
        yield

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Full (gathered) weights, on the CPU."""
        with self.gathered():
            return {k: v.detach().cpu().clone() for k, v in self.module.state_dict().items()}

    def save_model(self, path: str) -> None:
        """``save_pretrained`` (safetensors, float32) of the full module; rank 0 writes.

        Call it on every rank: ZeRO-3 gathers the partitions collectively.
        """
        rank, _ = world()
        with self.gathered():
            if rank == 0:
                os.makedirs(path, exist_ok=True)
                save_module(self.module, path)

    def optimizer_state(self) -> dict[str, Any]:
        """Everything needed to continue training: optimizer, scheduler, counters."""
        raise NotImplementedError

    def load_optimizer_state(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`optimizer_state`."""
        raise NotImplementedError


def save_module(module: nn.Module, path: str) -> None:
    """Save a Hugging Face model, a wrapper holding one (``.model``) or a value model.

    LoRA adapters are merged into a copy first, so the folder loads without peft;
    weights are written in float32.
    """
    from dialog_gym.agents.llm.modeling import ValueModel

    if isinstance(module, ValueModel):
        module.save_pretrained(path)
        return
    target = module.model if not hasattr(module, "save_pretrained") and hasattr(
        module, "model") else module
    if hasattr(target, "merge_and_unload") and hasattr(target, "peft_config"):
        target = copy.deepcopy(target).merge_and_unload()
    state = {k: v.detach().float().cpu() if v.is_floating_point() else v.detach().cpu()
             for k, v in target.state_dict().items()}
    target.save_pretrained(path, state_dict=state)


class TorchEngine(Engine):
    """Plain PyTorch: AdamW, warmup schedule, clipping, accumulation."""

    def __init__(self, module: nn.Module, opt: OptimSettings) -> None:
        self.module = module.to(device_for_rank())
        self.settings = opt
        params = [p for p in module.parameters() if p.requires_grad]
        decay = [p for p in params if p.ndim >= 2]
        no_decay = [p for p in params if p.ndim < 2]
        self.optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": opt.weight_decay},
             {"params": no_decay, "weight_decay": 0.0}],
            lr=opt.lr, betas=opt.betas, eps=opt.eps)
        warm = max(1, opt.warmup_steps)
        total = max(opt.total_steps, warm + 1)

        def factor(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            if opt.schedule == "linear":
                return max(0.0, (total - step) / max(1, total - warm))
            return 1.0

        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, factor)
        self.micro_steps = 0
        self.global_steps = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D102 - the module's forward
        return self.module(*args, **kwargs)

    def backward(self, loss: torch.Tensor) -> None:
        """Backward of ``loss / grad_accum``."""
        (loss / self.settings.grad_accum).backward()

    def step(self) -> bool:
        """Step every ``grad_accum`` micro-batches."""
        self.micro_steps += 1
        if self.micro_steps % self.settings.grad_accum:
            return False
        if self.settings.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(
                [p for p in self.module.parameters() if p.requires_grad],
                self.settings.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.global_steps += 1
        return True

    @property
    def lr(self) -> float:
        """Learning rate of the first parameter group."""
        return float(self.optimizer.param_groups[0]["lr"])

    def optimizer_state(self) -> dict[str, Any]:
        """AdamW + scheduler state and step counters."""
        return {"optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "micro_steps": self.micro_steps, "global_steps": self.global_steps}

    def load_optimizer_state(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`optimizer_state`."""
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.micro_steps = int(state["micro_steps"])
        self.global_steps = int(state["global_steps"])


def _no_shared_memory_collectives() -> None:
    """Skip DeepSpeed's CPU shared-memory collective op when this process is alone.

    On the CPU accelerator, DeepSpeed's communication backend compiles a C++ extension
    (``deepspeed_shm_comm``, with gcc, minutes on 2 cores, silently) the first time it
    starts, to speed up collectives between processes of one node. A single process has
    no peers to reduce with, so the op is never used: it is not built. Several processes
    (the ``deepspeed`` launcher) keep it.
    """
    import importlib

    # (by module name: the attribute deepspeed.comm.torch is PyTorch itself)
    ds_torch = importlib.import_module("deepspeed.comm.torch")
    ds_torch.build_shm_op = lambda: None


class DeepSpeedEngine(Engine):
    """``deepspeed.initialize`` around a module."""

    uses_deepspeed = True

    def __init__(self, module: nn.Module, opt: OptimSettings,
                 config: str | os.PathLike[str] | Mapping[str, Any] | None) -> None:
        init_distributed_env()
        from dialog_gym.extras import require

        deepspeed = require("deepspeed", "the DeepSpeed engine (or pass --no-deepspeed)")
        _, ws = world()
        if ws == 1:
            _no_shared_memory_collectives()
        cfg = fill_auto(load_ds_config(config), opt, world_size=ws)
        self.config = cfg
        self.zero_stage = int(cfg.get("zero_optimization", {}).get("stage", 0))
        params = [p for p in module.parameters() if p.requires_grad]
        engine, optimizer, _, scheduler = deepspeed.initialize(
            model=module, model_parameters=params, config=cfg)
        self.engine = engine
        self.module = engine.module
        self.optimizer = optimizer
        self.scheduler = scheduler

    def __call__(self, *args: Any, **kwargs: Any) -> Any:  # noqa: D102 - the module's forward
        return self.engine(*args, **kwargs)

    def backward(self, loss: torch.Tensor) -> None:
        """``engine.backward`` (scales for accumulation and fp16 itself)."""
        self.engine.backward(loss)

    def step(self) -> bool:
        """``engine.step`` (steps on the accumulation boundary)."""
        boundary = self.engine.is_gradient_accumulation_boundary()
        self.engine.step()
        return bool(boundary)

    @property
    def lr(self) -> float:
        """Learning rate reported by the engine."""
        return float(self.engine.get_lr()[0])

    @property
    def global_steps(self) -> int:
        """Optimizer steps taken."""
        return int(self.engine.global_steps)

    @contextlib.contextmanager
    def gathered(self) -> Iterator[None]:
        """Gather ZeRO-3 partitions (a no-op for stages 0-2)."""
        if self.zero_stage == 3:
            import deepspeed

            with deepspeed.zero.GatheredParameters(list(self.module.parameters()),
                                                   modifier_rank=None):
                yield
        else:
            yield

    def optimizer_state(self) -> dict[str, Any]:
        """The DeepSpeed optimizer's state dict, scheduler and engine counters."""
        e = self.engine
        return {"optimizer": e.optimizer.state_dict(),
                "scheduler": e.lr_scheduler.state_dict() if e.lr_scheduler else None,
                "global_steps": int(e.global_steps), "micro_steps": int(e.micro_steps),
                "global_samples": int(e.global_samples),
                "skipped_steps": int(getattr(e, "skipped_steps", 0))}

    def load_optimizer_state(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`optimizer_state` (ZeRO optimizers take a list of rank states)."""
        e = self.engine
        sd = dict(state["optimizer"])
        current = e.optimizer.state_dict()
        for key in ("loss_scaler",):  # keep live objects; restore their numbers
            if key in sd and key in current and hasattr(current[key], "__dict__"):
                live = current[key]
                if isinstance(sd[key], type(live)):
                    live.__dict__.update(sd[key].__dict__)
                sd[key] = live
        if isinstance(e.optimizer, torch.optim.Optimizer) and not hasattr(
                e.optimizer, "loss_scaler"):
            e.optimizer.load_state_dict(sd)
        else:
            e.optimizer.load_state_dict([sd], load_optimizer_states=True,
                                        load_from_fp32_weights=True)
        if e.lr_scheduler is not None and state.get("scheduler") is not None:
            e.lr_scheduler.load_state_dict(state["scheduler"])
        e.global_steps = int(state["global_steps"])
        e.micro_steps = int(state["micro_steps"])
        e.global_samples = int(state["global_samples"])
        e.skipped_steps = int(state.get("skipped_steps", 0))


def make_engine(module: nn.Module, opt: OptimSettings, *, use_deepspeed: bool = True,
                config: str | os.PathLike[str] | Mapping[str, Any] | None = None) -> Engine:
    """A DeepSpeed or plain PyTorch engine around ``module``."""
    if use_deepspeed:
        return DeepSpeedEngine(module, opt, config)
    return TorchEngine(module, opt)


def config_dtype(config: str | os.PathLike[str] | Mapping[str, Any] | None,
                 use_deepspeed: bool) -> torch.dtype:
    """The dtype the engine trains in (bf16/fp16 when the DeepSpeed config says so)."""
    if not use_deepspeed:
        return torch.float32
    cfg = load_ds_config(config)
    if cfg.get("bf16", {}).get("enabled") is True:
        return torch.bfloat16
    if cfg.get("fp16", {}).get("enabled") is True:
        return torch.float16
    return torch.float32


def zero_stage_of(config: str | os.PathLike[str] | Mapping[str, Any] | None) -> int:
    """The ZeRO stage a config asks for (0 when none)."""
    return int(load_ds_config(config).get("zero_optimization", {}).get("stage", 0))
