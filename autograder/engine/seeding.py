"""Seed every random number generator a notebook may use, at kernel start, so a regrade draws the same numbers."""

from __future__ import annotations

import json

# The kernel side lives in the stub (the only grader code a kernel can import).
from autograder_stub.seeding import seed, seed_before_first_cell

__all__ = ["exec_lines_option", "seed", "seed_before_first_cell", "seed_line"]


def seed_line(value: int) -> str:
    """The line, run at kernel start, that seeds every generator right before the first cell."""
    return f"__import__('autograder_stub.seeding').seeding.seed_before_first_cell({int(value)})"


def exec_lines_option(lines: list[str]) -> str:
    """The kernel option that runs `lines` at start, before any cell (IPython's exec_lines: one option for all)."""
    return "--IPKernelApp.exec_lines=" + json.dumps(lines)
