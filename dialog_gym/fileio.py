"""Atomic file writes.

A reader (or a resumed run) sees the old file or the new one, never a torn one. Used by
the leaderboard's cells and reports, agent and trainer checkpoints, and the benchmark
scripts' result files.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` atomically.

    Through a temporary file in the same folder, flushed to disk, then ``os.replace``;
    the folder is created if missing.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the usual mode
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: str | os.PathLike[str], obj: Any, **dumps_kw: Any) -> None:
    """``json.dumps(obj, indent=2, **dumps_kw)`` written with :func:`atomic_write_text`."""
    atomic_write_text(path, json.dumps(obj, **{"indent": 2, **dumps_kw}))
