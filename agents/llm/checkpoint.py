"""Atomic files and training checkpoints: safetensors for tensors, JSON for the rest.

A checkpoint is a folder ``checkpoint-<step>/`` holding model folders (safetensors
weights, saved like any Hugging Face model), ``state.safetensors`` (optimizer moments,
RNG states and any other tensors of the training state) and ``state.json`` (the same
state's structure and its non-tensor values: step, scheduler, KL controller, config).
It is written to a temporary folder and renamed into place, then ``latest`` (a one-line
file naming the newest checkpoint) is replaced atomically; a run killed at any moment
leaves either the previous checkpoint or the new one, never a torn one.

Non-tensor objects found inside an optimizer state (DeepSpeed's loss scaler, enums) are
stored as their class name and attribute dict and rebuilt only for classes of trusted
packages (``torch``, ``deepspeed``); nothing is unpickled.
"""

from __future__ import annotations

import enum
import importlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from typing import Any

import numpy as np

from dialog_gym.fileio import atomic_write_json as _write_json
from dialog_gym.fileio import atomic_write_text  # also imported from here by the trainers

_TRUSTED = ("torch.", "deepspeed.")


def atomic_write_json(path: str, obj: Any) -> None:
    """Write ``obj`` as indented JSON with sorted keys, atomically.

    Numpy scalars and arrays are written as numbers and lists.
    """
    _write_json(path, obj, sort_keys=True, default=_json_default)


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


# ------------------------------------------------------------------ state flattening
def flatten_state(obj: Any) -> tuple[Any, dict[str, Any]]:
    """Split a nested state into a JSON skeleton and a dict of tensors.

    Tensors are replaced by ``{"__tensor__": key}``; dict keys that are not strings
    are recorded so they come back with their type.

    Example:
        >>> import torch
        >>> skel, tensors = flatten_state({"step": 3, "m": torch.zeros(2), 0: [1.5]})
        >>> unflatten_state(skel, tensors)["m"].shape, unflatten_state(skel, tensors)[0]
        (torch.Size([2]), [1.5])
    """
    import torch

    tensors: dict[str, Any] = {}

    def walk(o: Any, path: str) -> Any:
        if isinstance(o, torch.Tensor):
            key = path or "root"
            tensors[key] = o.detach().to("cpu").contiguous()
            return {"__tensor__": key}
        if isinstance(o, Mapping):
            items = []
            for k, v in o.items():
                if isinstance(k, bool) or not isinstance(k, (str, int)):
                    raise TypeError(f"unsupported state key {k!r} at {path!r}")
                items.append([k, walk(v, f"{path}/{k}")])
            return {"__dict__": items}
        if isinstance(o, tuple):
            return {"__tuple__": [walk(v, f"{path}[{i}]") for i, v in enumerate(o)]}
        if isinstance(o, list):
            return [walk(v, f"{path}[{i}]") for i, v in enumerate(o)]
        if isinstance(o, torch.Size):
            return {"__size__": list(o)}
        if isinstance(o, enum.Enum):
            return {"__enum__": f"{type(o).__module__}:{type(o).__qualname__}",
                    "name": o.name}
        if isinstance(o, (np.integer, np.floating)):
            return o.item()
        if o is None or isinstance(o, (bool, int, float, str)):
            return o
        attrs = getattr(o, "__dict__", None)
        if attrs is None:
            raise TypeError(f"cannot store {type(o).__name__} at {path!r} in a checkpoint")
        return {"__object__": f"{type(o).__module__}:{type(o).__qualname__}",
                "attrs": walk(dict(attrs), path + ".")}

    return walk(obj, ""), tensors


def unflatten_state(skeleton: Any, tensors: Mapping[str, Any]) -> Any:
    """Inverse of :func:`flatten_state`."""
    if isinstance(skeleton, list):
        return [unflatten_state(v, tensors) for v in skeleton]
    if not isinstance(skeleton, dict):
        return skeleton
    if "__tensor__" in skeleton:
        return tensors[skeleton["__tensor__"]]
    if "__dict__" in skeleton:
        return {k: unflatten_state(v, tensors) for k, v in skeleton["__dict__"]}
    if "__tuple__" in skeleton:
        return tuple(unflatten_state(v, tensors) for v in skeleton["__tuple__"])
    if "__size__" in skeleton:
        import torch

        return torch.Size(skeleton["__size__"])
    if "__enum__" in skeleton:
        return getattr(_trusted_class(skeleton["__enum__"]), skeleton["name"])
    if "__object__" in skeleton:
        cls = _trusted_class(skeleton["__object__"])
        obj = cls.__new__(cls)
        obj.__dict__.update(unflatten_state(skeleton["attrs"], tensors))
        return obj
    return {k: unflatten_state(v, tensors) for k, v in skeleton.items()}


def _trusted_class(spec: str) -> type:
    mod, _, qual = spec.partition(":")
    if not mod.startswith(_TRUSTED):
        raise ValueError(f"refusing to rebuild {spec!r} from a checkpoint (not torch/deepspeed)")
    obj: Any = importlib.import_module(mod)
    for part in qual.split("."):
        obj = getattr(obj, part)
    return obj


def save_state(folder: str, state: Mapping[str, Any]) -> None:
    """Write ``state.json`` + ``state.safetensors`` into ``folder``."""
    from safetensors.torch import save_file

    skeleton, tensors = flatten_state(dict(state))
    # safetensors wants distinct storages; clone views
    save_file({k: v.clone() for k, v in tensors.items()},
              os.path.join(folder, "state.safetensors"))
    atomic_write_json(os.path.join(folder, "state.json"), skeleton)


def load_state(folder: str) -> dict[str, Any]:
    """Read a state written by :func:`save_state`."""
    from safetensors.torch import load_file

    with open(os.path.join(folder, "state.json"), encoding="utf-8") as fh:
        skeleton = json.load(fh)
    tensors = load_file(os.path.join(folder, "state.safetensors"))
    return unflatten_state(skeleton, tensors)


# ------------------------------------------------------------------ rng
def rng_state(np_rng: np.random.Generator | None = None) -> dict[str, Any]:
    """Python, NumPy and torch RNG states (and a NumPy generator's, if given)."""
    import random

    import torch

    py = random.getstate()
    out: dict[str, Any] = {
        "python": [py[0], list(py[1]), py[2]],
        "numpy_global": _np_legacy_state(),
        "torch": torch.get_rng_state(),
    }
    if np_rng is not None:
        out["numpy"] = np_rng.bit_generator.state
    return out


def _np_legacy_state() -> list[Any]:
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    return [name, keys.tolist(), int(pos), int(has_gauss), float(gauss)]


def set_rng_state(state: Mapping[str, Any], np_rng: np.random.Generator | None = None) -> None:
    """Restore states from :func:`rng_state`."""
    import random

    import torch

    v, internal, gauss = state["python"]
    random.setstate((v, tuple(internal), gauss))
    name, keys, pos, has_gauss, g = state["numpy_global"]
    np.random.set_state((name, np.array(keys, dtype=np.uint32), pos, has_gauss, g))
    torch.set_rng_state(state["torch"])
    if np_rng is not None and "numpy" in state:
        np_rng.bit_generator.state = state["numpy"]


# ------------------------------------------------------------------ checkpoint folders
class CheckpointDir:
    """The ``checkpoints/`` folder of a run: atomic saves, ``latest``, pruning.

    Args:
        root: The folder (created on first save).
        keep: How many checkpoints to keep (oldest removed first).
    """

    def __init__(self, root: str, keep: int = 2) -> None:
        self.root = root
        self.keep = keep

    def begin(self, step: int) -> str:
        """A fresh temporary folder to write checkpoint ``step`` into."""
        os.makedirs(self.root, exist_ok=True)
        return tempfile.mkdtemp(prefix=f".tmp-checkpoint-{step}-", dir=self.root)

    def commit(self, tmp: str, step: int) -> str:
        """Move a finished temporary folder into place and point ``latest`` at it."""
        final = os.path.join(self.root, f"checkpoint-{step}")
        if os.path.exists(final):
            shutil.rmtree(final)
        _fsync_tree(tmp)
        os.replace(tmp, final)
        atomic_write_text(os.path.join(self.root, "latest"), f"checkpoint-{step}\n")
        self._prune()
        return final

    def latest(self) -> str | None:
        """The newest complete checkpoint folder, or None."""
        f = os.path.join(self.root, "latest")
        if not os.path.isfile(f):
            return None
        with open(f, encoding="utf-8") as fh:
            name = fh.read().strip()
        path = os.path.join(self.root, name)
        return path if os.path.isdir(path) else None

    def _prune(self) -> None:
        steps = []
        for name in os.listdir(self.root):
            path = os.path.join(self.root, name)
            if name.startswith(".tmp-checkpoint-") and os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)  # left by a killed run
            elif name.startswith("checkpoint-") and name[11:].isdigit():
                steps.append(int(name[11:]))
        for s in sorted(steps)[: max(0, len(steps) - self.keep)]:
            shutil.rmtree(os.path.join(self.root, f"checkpoint-{s}"), ignore_errors=True)


def _fsync_tree(folder: str) -> None:
    for dirpath, _, files in os.walk(folder):
        for f in files:
            fd = os.open(os.path.join(dirpath, f), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
