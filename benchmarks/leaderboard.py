"""The leaderboard as a script: the same as ``dialog-gym leaderboard``.

    python benchmarks/leaderboard.py --quick --out results/leaderboard
"""

from __future__ import annotations

import argparse
import sys

from dialog_gym.leaderboard_cli import add_arguments, cmd_leaderboard


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="dialog-gym leaderboard (agents x envs x seeds)")
    add_arguments(p)
    return cmd_leaderboard(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
