"""End to end: every sample submission graded by `autograder grade` with a real kernel and real nbgrader."""

from __future__ import annotations

import gc

import pytest

from activation import LESSON, PARTS
from autograder.cli import grade
from autograder.engine.results import GradingResult
from conftest import EXPECTED_SCORES, SAMPLES
from test_typical_mistakes import unclean

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def graded(course, tmp_path_factory) -> dict[str, GradingResult]:
    out = tmp_path_factory.mktemp("results")
    return {name: grade(SAMPLES / f"{name}.ipynb", out / f"{name}.json", course.root) for name in EXPECTED_SCORES}


@pytest.mark.parametrize("name", sorted(EXPECTED_SCORES))
def test_sample_scores_per_part(graded, name):
    result = graded[name]
    assert result.error is None
    assert {p.part.name: p.score for p in result.parts()} == EXPECTED_SCORES[name]


def test_solution_earns_full_marks_and_blank_none(graded):
    assert graded["solution"].score == graded["solution"].max_score == 22
    assert graded["blank"].score == 0 and graded["blank"].max_score == 22


def test_grading_leaves_the_cyclic_collector_on(graded):
    assert gc.isenabled()  # paused only while grade() imported nbgrader and torch (autograder.engine.heap)


def test_blank_template_feedback_says_not_implemented(graded):
    outputs = {t.spec.grade_id: t.output for t in graded["blank"].tests}
    assert "NotImplementedError" in outputs["relu_batch"] or "implementada" in outputs["relu_batch"]
    assert "Gx" in outputs["kernel_values"]


def test_reference_op_feedback_explains_why(graded):
    outputs = {t.spec.grade_id: t.output for t in graded["calls_torch_relu"].tests}
    assert "torch.relu" in outputs["relu_batch"] and "operaciones elementales" in outputs["relu_batch"]
    assert "aten::" not in outputs["relu_batch"]


def test_stride_none_feedback_has_the_hint(graded):
    outputs = {t.spec.grade_id: t.output for t in graded["stride1_when_none"].tests}
    assert "stride es None" in outputs["maxpool2d_stride_none"]


def test_results_name_tests_after_their_part(graded):
    for test in graded["solution"].tests:
        assert test.spec.name.split(":")[0] in {p.name for p in PARTS}


@pytest.mark.parametrize("entry", LESSON.catalogue, ids=lambda entry: f"{entry.part}-{entry.name}")
def test_each_catalogued_sample_is_graded_with_its_own_mistake_and_hint(graded, entry):
    failed = [t for t in graded[entry.sample].tests if not t.passed]
    assert failed and {(t.spec.part.name, t.mistake) for t in failed} == {(entry.part, entry.name)}
    assert all(entry.hint in t.output for t in failed)


def test_no_feedback_shows_internal_names_or_long_numbers(graded):
    for name, result in graded.items():
        for test in result.tests:
            assert not unclean(test.output), f"{name} {test.spec.grade_id}: {unclean(test.output)}"
