"""End to end: plain `nbgrader autograde` from a course root, with our config, gives the same per-part scores."""

from __future__ import annotations

import sqlite3

import pytest

from autograder.batch import autograde
from autograder.demo import stage_course
from conftest import EXPECTED_SCORES, SAMPLES

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def scores(course, tmp_path_factory):
    samples = [SAMPLES / f"{name}.ipynb" for name in sorted(EXPECTED_SCORES)]
    broken = tmp_path_factory.mktemp("broken") / "truncated.ipynb"
    broken.write_text((SAMPLES / "solution.ipynb").read_text(encoding="utf-8")[:500], encoding="utf-8")
    scratch = stage_course(course, tmp_path_factory.mktemp("course") / "course", [*samples, broken])
    batch = autograde(scratch)
    return scratch, {row.student: row for row in batch.scores}, batch.failures


def test_every_submission_is_graded_or_has_a_reason(scores):
    _, rows, failures = scores
    assert set(rows) == set(EXPECTED_SCORES)
    assert all(row.graded for row in rows.values())
    assert set(failures) == {"truncated"} and "truncado" in failures["truncated"]


@pytest.mark.parametrize("name", sorted(EXPECTED_SCORES))
def test_nbgrader_scores_match_autograder_grade(scores, name):
    _, rows, _ = scores
    assert rows[name].parts == EXPECTED_SCORES[name]


def test_gradebook_is_a_real_nbgrader_database(scores):
    scratch, _, _ = scores
    with sqlite3.connect(scratch.gradebook) as db:
        (count,) = db.execute("select count(*) from submitted_assignment").fetchone()
    assert count >= len(EXPECTED_SCORES)
    assert (scratch.root / "autograded" / "solution" / "activation_maxpool" / "activation_maxpool.ipynb").is_file()
