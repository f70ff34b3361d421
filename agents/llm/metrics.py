"""Namespaced training metrics to stdout, JSON lines and TensorBoard.

Names follow CleanRL: ``rollout/return``, ``rollout/success_rate``,
``rollout/response_length``, ``losses/policy_loss``, ``losses/value_loss``,
``losses/approx_kl``, ``losses/clipfrac``, ``kl/ref``, ``kl/beta``, ``charts/lr``, ...
Each :meth:`MetricsLogger.log` call writes one JSON line ``{"step": n, "time": s,
name: value, ...}`` to ``metrics.jsonl`` and, when ``tensorboard`` is installed, the same
scalars to ``tb/``. Text (sample transcripts) goes to ``samples.jsonl`` and TensorBoard.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Mapping
from typing import Any


class MetricsLogger:
    """Write metrics of a run folder.

    Args:
        out_dir: Run folder (``metrics.jsonl``, ``samples.jsonl``, ``tb/``).
        tensorboard: Also write TensorBoard events when the package is installed.
        stdout: Print a one-line summary per call.
        enabled: False on non-zero ranks (nothing written).
        resume: Keep lines of earlier runs with a step below the resume step.
    """

    def __init__(self, out_dir: str, *, tensorboard: bool = True, stdout: bool = True,
                 enabled: bool = True, resume_step: int | None = None) -> None:
        self.out_dir = out_dir
        self.enabled = enabled
        self.stdout = stdout and enabled
        self.t0 = time.time()
        self.tb = None
        if not enabled:
            return
        os.makedirs(out_dir, exist_ok=True)
        self.path = os.path.join(out_dir, "metrics.jsonl")
        self.samples_path = os.path.join(out_dir, "samples.jsonl")
        if resume_step is None:
            for p in (self.path, self.samples_path):
                if os.path.exists(p):
                    os.unlink(p)
        else:
            _truncate_after(self.path, resume_step)
            _truncate_after(self.samples_path, resume_step)
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except Exception:  # tensorboard not installed: JSON lines only
                self.tb = None
            else:
                self.tb = SummaryWriter(os.path.join(out_dir, "tb"))

    def log(self, step: int, metrics: Mapping[str, Any], *, prefix: str = "") -> None:
        """Record scalars at ``step``."""
        if not self.enabled:
            return
        row: dict[str, Any] = {"step": int(step), "time": round(time.time() - self.t0, 3)}
        for k, v in metrics.items():
            name = f"{prefix}{k}"
            try:
                fv = float(v)
            except (TypeError, ValueError):
                row[name] = v
                continue
            row[name] = fv if math.isfinite(fv) else None
            if self.tb is not None and math.isfinite(fv):
                self.tb.add_scalar(name, fv, step)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
        if self.stdout:
            shown = [f"{k}={_fmt(v)}" for k, v in row.items() if k not in ("step", "time")
                     and isinstance(v, (int, float))]
            print(f"[{row['time']:7.1f}s] step {step}: " + " ".join(shown[:14]),
                  file=sys.stdout, flush=True)

    def text(self, step: int, name: str, text: str) -> None:
        """Record a text sample (e.g. a transcript)."""
        if not self.enabled:
            return
        with open(self.samples_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"step": int(step), "name": name, "text": text}) + "\n")
        if self.tb is not None:
            self.tb.add_text(name, "    " + text.replace("\n", "\n    "), step)

    def close(self) -> None:
        """Flush TensorBoard."""
        if self.tb is not None:
            self.tb.flush()
            self.tb.close()
            self.tb = None


def _fmt(v: float) -> str:
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) < 1e6):
        return str(int(v))
    return f"{v:.4g}"


def _truncate_after(path: str, step: int) -> None:
    """Drop lines logged after checkpoint ``step`` (a resumed run writes them again)."""
    if not os.path.exists(path):
        return
    keep = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                if json.loads(line).get("step", 0) <= step:
                    keep.append(line)
            except json.JSONDecodeError:
                continue  # a line torn by a kill
    with open(path, "w", encoding="utf-8") as fh:
        fh.writelines(keep)


def read_jsonl(path: str) -> list[dict[str, Any]]:
    """All rows of a ``metrics.jsonl``."""
    rows = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    return rows
