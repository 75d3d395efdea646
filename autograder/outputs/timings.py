"""`autograde --timings FILE`: where each submission's grading time went, as JSON an instructor or a benchmark reads."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from autograder.engine.stages import ORDER, summarize

if TYPE_CHECKING:
    from autograder.commands.autograde import BatchResult

TIMINGS_VERSION = 1


def write_timings(path: Path, batches: Sequence[tuple[str, "BatchResult", int | None]]) -> None:
    """Write every batch's stage seconds per submission, and their mean and median, for (assignment, batch, workers).

    `workers` is None for a batch graded on a Dask cluster (its workers are the cluster's; "queue" and
    "return" are then not measured, the machines' clocks being different).
    """
    data = {
        "version": TIMINGS_VERSION,
        "stage_order": list(ORDER),
        "batches": [
            {
                "assignment": assignment,
                "workers": workers,
                "seconds": batch.seconds,
                "first_result_seconds": batch.first_result,
                "graded": len(batch.stages),
                "summary": [asdict(row) for row in summarize(batch.stages)],
                "submissions": batch.stages,
            }
            for assignment, batch, workers in batches
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False), encoding="utf-8")
