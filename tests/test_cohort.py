"""A cohort is every student's results file read back; an unreadable file stays in it as ungradable with the reason."""

from __future__ import annotations

import os

import pytest

from activation import ASSIGNMENT, LESSON, TESTS
from autograder.outputs.cohort import load_cohort, reports_folder, results_folder
from autograder.engine.course import Course
from autograder.engine.errors import AutograderError, ResultsError
from cohorts import CORRUPT_STUDENT, EMPTY_REASON, FAILURES, empty_course, graded, write_cohort


@pytest.fixture
def tmp_course(tmp_path) -> Course:
    return empty_course(tmp_path / "course")


def test_every_file_is_a_student_sorted_by_name_and_the_corrupt_one_is_kept(course, tmp_path):
    cohort = load_cohort(course, ASSIGNMENT, LESSON, results_dir=write_cohort(tmp_path / "results"))
    assert [e.student for e in cohort.entries] == ["ana", "bruno", "carla", "diego", "elena", "félix", CORRUPT_STUDENT]
    assert [e.student for e in cohort.graded] == ["ana", "bruno", "carla", "diego", "félix"]
    [corrupt] = cohort.unreadable
    assert corrupt.student == CORRUPT_STUDENT and corrupt.ungradable
    assert corrupt.reason.startswith("results file could not be read (JSONDecodeError")
    assert "\n" not in corrupt.reason
    # the stand-in keeps the assignment's maximum (read from the source notebook) at score 0
    assert corrupt.result.score == 0 and corrupt.result.max_score == 22
    assert all(t.mistake == "ungradable" for t in corrupt.result.tests)
    elena = next(e for e in cohort.entries if e.student == "elena")
    assert elena.ungradable and not elena.unreadable and elena.reason == EMPTY_REASON


def test_results_read_back_keep_their_mistakes(course, tmp_path):
    cohort = load_cohort(course, ASSIGNMENT, LESSON, results_dir=write_cohort(tmp_path / "results", corrupt=False))
    bruno = next(e for e in cohort.entries if e.student == "bruno")
    failed = {t.spec.grade_id: t.mistake for t in bruno.result.tests if not t.passed}
    assert failed == FAILURES["bruno"]
    assert cohort.unreadable == []


@pytest.mark.parametrize(
    "content",
    [b"{}", b"[]", b'{"tests": [{"name": "x", "score": 1, "max_score": 1}]}', b"\xff\xfe", b'{"tests": "none"}'],
)
def test_files_that_are_not_results_become_unreadable_entries(course, tmp_path, content):
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "raro.json").write_bytes(content)
    [entry] = load_cohort(course, ASSIGNMENT, LESSON, results_dir=folder).entries
    assert entry.unreadable and entry.reason.startswith("results file could not be read (")
    assert len(entry.result.tests) == len(TESTS)


def test_hidden_and_other_files_are_not_students(course, tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    graded({}).write(folder / "ana.json")
    (folder / ".ana.json").write_bytes(b"partial")
    (folder / "notas.txt").write_text("x", encoding="utf-8")
    assert [e.student for e in load_cohort(course, ASSIGNMENT, LESSON, results_dir=folder).entries] == ["ana"]


def test_default_folder_is_results_of_the_assignment(tmp_course):
    folder = write_cohort(results_folder(tmp_course, "activation_maxpool"), corrupt=False)
    assert folder == tmp_course.root / "results" / "activation_maxpool"
    assert reports_folder(tmp_course, ASSIGNMENT) == tmp_course.root / "reports" / "activation_maxpool"
    cohort = load_cohort(tmp_course, ASSIGNMENT, LESSON)
    assert cohort.folder == folder and len(cohort.entries) == 6


def test_no_results_folder_says_to_autograde_first(tmp_course):
    with pytest.raises(ResultsError) as caught:
        load_cohort(tmp_course, ASSIGNMENT, LESSON)
    assert isinstance(caught.value, AutograderError)
    assert caught.value.folder == tmp_course.root / "results" / "activation_maxpool"
    assert "autograder autograde" in str(caught.value)


def test_empty_results_folder_says_to_autograde_first(tmp_course, tmp_path):
    empty = tmp_path / "gathered"
    empty.mkdir()
    with pytest.raises(ResultsError) as caught:
        load_cohort(tmp_course, ASSIGNMENT, LESSON, results_dir=empty)
    assert caught.value.folder == empty and "autograder autograde" in str(caught.value)


def test_a_student_named_with_a_dot_is_listed_and_hidden_leftovers_are_skipped_and_said(course, tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    graded({}).write(folder / "ana.json")
    graded({}).write(folder / ".alice.json")  # submitted/.alice/: a student like any other
    (folder / "._ana.json").write_bytes(b"\x00\x05\x16\x07AppleDouble")  # macOS's leftover beside ana.json
    cohort = load_cohort(course, ASSIGNMENT, LESSON, results_dir=folder)
    assert [e.student for e in cohort.entries] == [".alice", "ana"]
    assert cohort.skipped == (folder / "._ana.json",) and cohort.unreadable == []


def test_only_hidden_leftovers_is_no_results(tmp_course, tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / ".ana.json").write_bytes(b"partial")
    with pytest.raises(ResultsError):
        load_cohort(tmp_course, ASSIGNMENT, LESSON, results_dir=folder)


def test_a_fifo_in_the_results_folder_is_unreadable_never_waited_on(course, tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    graded({}).write(folder / "ana.json")
    os.mkfifo(folder / "bruno.json")
    bruno = next(e for e in load_cohort(course, ASSIGNMENT, LESSON, results_dir=folder).entries if e.student == "bruno")
    assert bruno.unreadable and "not a regular file" in bruno.reason


def test_review_marks_are_carried_per_student(course, tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    graded({}).write(folder / "ana.json")
    flagged = graded({})
    flagged.review = ["Una celda emitió un registro de prueba que el calificador no pidió (posible falsificación)."]
    flagged.write(folder / "bruno.json")
    cohort = load_cohort(course, ASSIGNMENT, LESSON, results_dir=folder)
    assert [(e.student, e.review) for e in cohort.flagged] == [("bruno", tuple(flagged.review))]
    assert next(e for e in cohort.entries if e.student == "ana").review == ()
