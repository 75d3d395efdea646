"""A regrade gives the same grades: serial or parallel, batch or one notebook, every score and mistake identical.

Each grading draws its random inputs from a secret of its own, so a failure's message (which shows the
inputs that failed) may differ between gradings; what it is graded on never does.
"""

from __future__ import annotations

import json

import pytest

from activation import ASSIGNMENT, LESSON
from autograder.commands.autograde import autograde, results_path, scores
from autograder.cli import grade
from staging import stage_course
from autograder.engine.results import GradingResult, environment
from conftest import EXPECTED_SCORES, SAMPLES

NAMES = ("solution", "stride1_when_none", "max_started_at_zero", "leaky_relu")


def outcome(result: GradingResult) -> list[tuple]:
    """Everything a grade consists of, without timings: per test its score, maximum and mistake (and a pass's message)."""
    return [(t.spec.grade_id, t.score, t.max_score, t.output if t.passed else "", t.mistake) for t in result.tests]


def batch_outcomes(course) -> dict[str, list[tuple]]:
    return {name: outcome(GradingResult.read(results_path(course, "activation_maxpool", name))) for name in NAMES}


@pytest.mark.e2e
def test_serial_and_parallel_batches_and_single_gradings_agree(course, tmp_path):
    scratch = stage_course(course, tmp_path / "course", [SAMPLES / f"{name}.ipynb" for name in NAMES])

    serial = autograde(scratch, ASSIGNMENT, LESSON, workers=1)
    assert not serial.failures
    first = batch_outcomes(scratch)
    first_scores = {row.student: row.parts for row in scores(scratch, ASSIGNMENT, LESSON)}

    parallel = autograde(scratch, ASSIGNMENT, LESSON, force=True, workers=2)
    assert not parallel.failures
    assert batch_outcomes(scratch) == first
    assert {row.student: row.parts for row in scores(scratch, ASSIGNMENT, LESSON)} == first_scores
    assert first_scores == {name: EXPECTED_SCORES[name] for name in NAMES}

    single = grade(SAMPLES / "max_started_at_zero.ipynb", tmp_path / "single.json", course.root)
    assert outcome(single) == first["max_started_at_zero"]

    recorded = json.loads((tmp_path / "single.json").read_text(encoding="utf-8"))["extra_data"]["environment"]
    assert recorded == environment() and recorded["torch"].startswith("2.13.0")
