"""Seed every random number generator a notebook may use, right before its first cell, so a regrade draws the same numbers."""

from __future__ import annotations

import random


def seed(value: int) -> None:
    """Python's, torch's and numpy's global generators, seeded with `value`."""
    random.seed(value)
    import numpy
    import torch

    torch.manual_seed(value)
    numpy.random.seed(value)


def seed_before_first_cell(value: int) -> None:
    """Seed right before the first cell runs: the kernel's own start-up draws from `random` a varying number of times."""
    from IPython import get_ipython

    shell = get_ipython()

    def once(*_: object) -> None:
        shell.events.unregister("pre_run_cell", once)
        seed(value)

    shell.events.register("pre_run_cell", once)
