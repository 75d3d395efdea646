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
    scratch = stage_course(course, tmp_path_factory.mktemp("course") / "course", samples)
    return scratch, {row.student: row for row in autograde(scratch)}


def test_every_submission_is_in_the_gradebook(scores):
    _, rows = scores
    assert set(rows) == set(EXPECTED_SCORES)
    assert all(row.graded for row in rows.values())


@pytest.mark.parametrize("name", sorted(EXPECTED_SCORES))
def test_nbgrader_scores_match_autograder_grade(scores, name):
    _, rows = scores
    assert rows[name].parts == EXPECTED_SCORES[name]


def test_gradebook_is_a_real_nbgrader_database(scores):
    scratch, _ = scores
    with sqlite3.connect(scratch.gradebook) as db:
        (count,) = db.execute("select count(*) from submitted_assignment").fetchone()
    assert count == len(EXPECTED_SCORES)
    assert (scratch.root / "autograded" / "solution" / "activation_maxpool" / "activation_maxpool.ipynb").is_file()
