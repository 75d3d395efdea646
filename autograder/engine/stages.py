"""Where one submission's grading time went, stage by stage: what `autograde --timings` writes and the benchmark prints."""

from __future__ import annotations

import statistics
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Mapping

# The stages of one submission, in the order they happen. A worker times the steps that decide the grade
# (SETUP to the autograde steps, each by its class name, GuardedExecute split into the three KERNEL ones);
# the batch adds the time the submission waited for a worker and the time it took to file.
QUEUE = "queue"  # submitted to the pool, not yet picked up by a worker (waiting)
SETUP = "setup"  # read and check the notebook, stage its folder, copy the registered scratch gradebook
SANITIZE = "sanitize"  # nbgrader's sanitize chain (ClearOutput ... CheckCellMetadata)
KERNEL_START = "kernel_start"  # Execute's start, kernel start and sandbox, up to the first cell's request
CELLS = "cells"  # every cell's round trip to the kernel, replays after faults included
KERNEL_STOP = "kernel_stop"  # after the last cell: kernel shutdown and cleanup
RETURN = "return"  # the outcome's way back from the worker to the batch (pickling, the pool's queues)
FILING = "filing"  # nbgrader's Autograde filing it into gradebook.db and autograded/, results file, journal

# Where GuardedExecute leaves its split: resources["autograder"]["kernel_stages"] = {KERNEL_START: s, CELLS: s, KERNEL_STOP: s}.
KERNEL_STAGES_KEY = "kernel_stages"
EXECUTE_STEP = "GuardedExecute"


@dataclass
class Stopwatch:
    """Seconds per stage of one submission; a stage timed twice adds up."""

    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + max(0.0, seconds)

    @contextmanager
    def time(self, stage: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.add(stage, time.monotonic() - started)

    def split(self, step: str, parts: Mapping[str, float]) -> None:
        """Replace a step's total by its parts; what the parts do not cover stays under the step's name."""
        total = self.seconds.pop(step, None)
        if total is None:
            return
        for stage, seconds in parts.items():
            self.add(stage, seconds)
        rest = total - sum(parts.values())
        if rest > 0.0005:
            self.add(step, rest)


ORDER = (QUEUE, SETUP, SANITIZE, KERNEL_START, CELLS, KERNEL_STOP, RETURN, FILING)


def ordered(names: Iterable[str]) -> list[str]:
    """Stage names in the order they happen; steps of a course's own chain (class names) after the kernel's, by name."""
    names = set(names)
    known = [name for name in ORDER if name in names]
    steps = sorted(names - set(ORDER))
    cut = known.index(KERNEL_STOP) + 1 if KERNEL_STOP in known else len(known)
    return [*known[:cut], *steps, *known[cut:]]


@dataclass(frozen=True)
class StageSummary:
    """One stage across a batch's submissions: the mean and the median seconds per submission."""

    stage: str
    mean: float
    median: float


def summarize(per_submission: Mapping[str, Mapping[str, float]]) -> list[StageSummary]:
    """Mean and median per stage over the submissions (a stage a submission lacks counts as 0 for it), in stage order."""
    rows = list(per_submission.values())
    if not rows:
        return []
    out = []
    for stage in ordered({name for row in rows for name in row}):
        values = [row.get(stage, 0.0) for row in rows]
        out.append(StageSummary(stage, statistics.fmean(values), statistics.median(values)))
    return out
