"""One scoring pass: a batch's results files hold gradebook.db's scores, nbgrader's late penalty included.

With a due date in the gradebook and nbgrader's "zero" late-penalty method, a late submission scores 0 in
gradebook.db; `autograder export`, `autograder report`, results/<assignment>/<student>.json and
`nbgrader export` must all say so, and the on-time one keeps its 22.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys

import pytest

from activation import ASSIGNMENT, LESSON
from autograder.adapter.nbgrader_cli import open_gradebook, run_nbgrader
from autograder.engine.mistakes import LABELS_ES, LATE_SUBMISSION as LATE
from autograder.commands.autograde import (
    FiledResult,
    LateSubmission,
    delay_text,
    ensure_registered,
    journal_path,
    load_journal,
    penalized_tests,
    read_submission_scores,
    results_path,
    submissions_with_scores,
    take_penalty,
)
from autograder.engine.results import GradingResult, TestResult
from conftest import SAMPLES
from staging import stage_course, submit

ON_TIME, LATE_STUDENT = "ana_puntual", "bruno_tarde"
DUEDATE = "2026-01-01 12:00:00 UTC"
TIMESTAMPS = {ON_TIME: "2025-12-31 10:00:00.000000 UTC", LATE_STUDENT: "2026-01-02 10:00:00.000000 UTC"}
SECONDS_LATE = 22 * 3600  # 2026-01-01 12:00 to 2026-01-02 10:00
PARTS = ("kernel", "relu", "maxpool2d")
MAXIMA = {"kernel": 4, "relu": 6, "maxpool2d": 12}


# --- the penalty taken from a result's tests, without nbgrader ----------------------------------------------


def test_the_penalty_is_taken_from_the_last_test_back_and_never_below_zero():
    assert take_penalty({"a": 4.0, "b": 6.0, "c": 12.0}, 15) == {"a": 4.0, "b": 3.0, "c": 0.0}
    assert take_penalty({"a": 4.0, "b": 6.0}, 0) == {"a": 4.0, "b": 6.0}
    assert take_penalty({"a": 4.0, "b": 6.0}, 99) == {"a": 0.0, "b": 0.0}
    assert take_penalty({"a": 0.1 + 0.2}, 0.3) == {"a": 0.0}  # SQL-summed floats: no 5e-17 left over


def test_a_penalized_test_says_so_in_spanish_and_names_the_late_mistake():
    tests = [TestResult(spec, 2.0, 2.0, "Superada.") for spec in LESSON.tests[:2]]
    kept, lost = penalized_tests(tests, 1.5)
    assert kept == tests[0]
    assert lost.score == 0.5 and lost.mistake == LATE and not lost.passed
    assert lost.output.startswith("Superada.\n") and "fuera de plazo" in lost.output and "1.5 de sus 2 puntos" in lost.output
    assert penalized_tests(tests, 0.0) == tests


def test_the_late_penalty_is_a_field_of_the_results_file_and_a_sentence_for_the_student(tmp_path):
    tests = penalized_tests([TestResult(spec, 2.0, 2.0, "Superada.") for spec in LESSON.tests[:2]], 4.0)
    late = LateSubmission(SECONDS_LATE, 4.0, 4.0, "2026-01-02T10:00:00+00:00", "2026-01-01T12:00:00+00:00")
    FiledResult(notebook="x.ipynb", tests=tests, assignment=ASSIGNMENT, late=late).write(tmp_path / "r.json")
    data = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert data["score"] == 0 and data["extra_data"]["late_penalty"] == 4.0
    assert data["extra_data"]["late_submission"]["seconds_late"] == SECONDS_LATE
    assert "Entrega fuera de plazo: 22 h después de la fecha límite (2026-01-01 12:00 UTC)" in data["output"]
    assert "Penalización por retraso: 4 puntos (nota sin penalización: 4; nota final: 0)" in data["output"]
    assert GradingResult.read(tmp_path / "r.json").score == 0
    on_time = FiledResult(notebook="x.ipynb", tests=tests, late=LateSubmission(0.0, 0.0, 4.0))
    assert on_time.to_gradescope()["extra_data"]["late_submission"] is None
    assert "plazo" not in on_time.to_gradescope()["output"]


def test_delays_read_as_a_student_says_them():
    assert delay_text(40) == "40 s"
    assert delay_text(SECONDS_LATE) == "22 h"
    assert delay_text(86400 + 2 * 3600 + 300) == "1 día, 2 h y 5 min"
    assert delay_text(3 * 86400 + 60) == "3 días y 1 min"


# --- end to end: a due date, one late submission, every output agrees ---------------------------------------


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "autograder.cli", *args], capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def late_course(course, tmp_path_factory):
    """A scratch course with a due date and nbgrader's "zero" penalty, one submission on time and one late, autograded."""
    scratch = stage_course(course, tmp_path_factory.mktemp("late") / "course", [])
    for student, stamp in TIMESTAMPS.items():
        folder = submit(scratch.root, student, ASSIGNMENT, SAMPLES / "solution.ipynb")
        (folder / "timestamp.txt").write_text(stamp, encoding="utf-8")  # as `nbgrader collect` leaves it
    with (scratch.root / "nbgrader_config.py").open("a", encoding="utf-8") as config:
        # nbgrader's LateSubmissionPlugin (the plugin AssignLatePenalties runs) reads the method from here.
        config.write('\nc.LateSubmissionPlugin.penalty_method = "zero"\n')
    ensure_registered(scratch, ASSIGNMENT)
    run_nbgrader(scratch.root, "db", "assignment", "add", ASSIGNMENT, f"--duedate={DUEDATE}")
    timings = scratch.root / "timings" / "batch.json"  # a folder that does not exist yet
    graded = cli("autograde", ASSIGNMENT, "--course", str(scratch.root), "--quiet", "--timings", str(timings))
    assert graded.returncode == 0, graded.stderr + graded.stdout
    return scratch, graded.stdout


@pytest.mark.e2e
def test_the_timings_file_says_where_each_submissions_time_went(late_course):
    scratch, _ = late_course
    (batch,) = json.loads((scratch.root / "timings" / "batch.json").read_text(encoding="utf-8"))["batches"]
    assert batch["assignment"] == ASSIGNMENT and batch["graded"] == len(TIMESTAMPS)
    assert set(batch["submissions"]) == set(TIMESTAMPS)
    for stages in batch["submissions"].values():
        assert {"kernel_start", "cells", "kernel_stop", "Verify", "filing"} <= set(stages)
    assert [row["stage"] for row in batch["summary"]][:2] == ["queue", "setup"]
    assert 0 < batch["first_result_seconds"] <= batch["seconds"]
    # A timings path that cannot be written is one line after the batch's own outcome, never a traceback.
    again = cli("autograde", ASSIGNMENT, "--course", str(scratch.root), "--quiet", "--timings", str(scratch.root / "timings"))
    assert again.returncode == 0, again.stderr
    assert "could not write the timings" in again.stderr and "Traceback" not in again.stderr


@pytest.mark.e2e
def test_the_due_date_is_in_the_gradebook(late_course):
    scratch, _ = late_course
    with open_gradebook(f"sqlite:///{scratch.gradebook}") as gradebook:
        assert str(gradebook.find_assignment(ASSIGNMENT).duedate) == "2026-01-01 12:00:00"
        assert gradebook.find_submission(ASSIGNMENT, LATE_STUDENT).total_seconds_late == SECONDS_LATE
        assert gradebook.find_submission(ASSIGNMENT, ON_TIME).total_seconds_late == 0


@pytest.mark.e2e
def test_scores_read_with_their_submissions_equal_nbgraders_lazy_reads_in_three_statements(late_course):
    from sqlalchemy import event

    scratch, _ = late_course
    statements: list[str] = []
    with open_gradebook(f"sqlite:///{scratch.gradebook}") as gradebook:
        lazy = {s.student.id: read_submission_scores(s, LESSON) for s in gradebook.assignment_submissions(ASSIGNMENT)}
        gradebook.db.expire_all()
        event.listen(gradebook.db.get_bind(), "before_cursor_execute", lambda *args: statements.append(args[2]))
        loaded = {s.student.id: read_submission_scores(s, LESSON) for s in submissions_with_scores(gradebook, ASSIGNMENT)}
        assert len(statements) == 3, statements  # whatever the number of students
        one = read_submission_scores(submissions_with_scores(gradebook, ASSIGNMENT, LATE_STUDENT).one(), LESSON)
        assert submissions_with_scores(gradebook, ASSIGNMENT, "nadie").one_or_none() is None
    assert loaded == lazy and set(loaded) == set(TIMESTAMPS)
    assert one == lazy[LATE_STUDENT] and one.late.seconds_late == SECONDS_LATE and one.late.penalty > 0


@pytest.mark.e2e
def test_export_report_results_and_nbgrader_export_agree(late_course, tmp_path):
    scratch, table = late_course
    expected = {ON_TIME: (22.0, 0.0), LATE_STUDENT: (0.0, 22.0)}  # score after the penalty, the penalty

    # nbgrader's own export, from gradebook.db
    run_nbgrader(scratch.root, "export", "--to", str(tmp_path / "nbgrader.csv"))
    with (tmp_path / "nbgrader.csv").open(encoding="utf-8") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert {s: (float(r["score"]), float(r["late_submission_penalty"])) for s, r in rows.items()} == expected
    assert all(float(row["raw_score"]) == 22 and float(row["max_score"]) == 22 for row in rows.values())

    # the results files
    for student, (score, penalty) in expected.items():
        data = json.loads(results_path(scratch, ASSIGNMENT, student).read_text(encoding="utf-8"))
        assert (data["score"], data["max_score"], data["extra_data"]["late_penalty"]) == (score, 22, penalty), student
        assert sum(test["score"] for test in data["tests"]) == score
        assert GradingResult.read(results_path(scratch, ASSIGNMENT, student), LESSON).score == score

    # autograder export (CSV)
    exported = cli("export", "--course", str(scratch.root), "--assignment", ASSIGNMENT, "--format", "csv", "--output", str(tmp_path / "g.csv"))
    assert exported.returncode == 0, exported.stderr
    with (tmp_path / "g.csv").open(encoding="utf-8") as handle:
        ours = {row["student"]: row for row in csv.DictReader(handle)}
    assert {s: float(r["score"]) for s, r in ours.items()} == {s: score for s, (score, _) in expected.items()}
    assert {part: float(ours[ON_TIME][part]) for part in PARTS} == MAXIMA
    assert {part: float(ours[LATE_STUDENT][part]) for part in PARTS} == dict.fromkeys(PARTS, 0.0)
    assert not ours[LATE_STUDENT]["error"]  # penalized, not ungradable

    # autograder report (its text table): per part, one full mark and one zero
    reported = cli("report", "--course", str(scratch.root), "--assignment", ASSIGNMENT, "--output-dir", str(tmp_path / "report"))
    assert reported.returncode == 0, reported.stderr
    assert "2 estudiantes: 2 calificados, 0 sin calificar" in reported.stdout
    for part, maximum in MAXIMA.items():
        block = reported.stdout.split(f"{part} (máx. {maximum}): notas de 2 calificados\n", 1)[1]
        assert re.match(rf"  media {maximum / 2:g}\s+mediana {maximum / 2:g}\s+con la nota máxima: 1 \(50 %\)\s+con cero: 1", block), (part, block[:200])
    assert re.search(rf"\n  {LABELS_ES[LATE]}\s+1\n    quiénes: {LATE_STUDENT}\n", reported.stdout)

    # the batch's own table (from gradebook.db)
    assert re.search(rf"{ON_TIME}\s+4/4\s+6/6\s+12/12\s+22/22", table), table
    assert re.search(rf"{LATE_STUDENT}\s+0/4\s+0/6\s+0/12\s+0/22", table), table


@pytest.mark.e2e
def test_the_late_student_reads_why_in_spanish_and_the_penalty_is_a_field(late_course):
    scratch, _ = late_course
    late = json.loads(results_path(scratch, ASSIGNMENT, LATE_STUDENT).read_text(encoding="utf-8"))
    assert late["extra_data"]["late_submission"] == {
        "seconds_late": SECONDS_LATE,
        "penalty": 22.0,
        "raw_score": 22.0,
        "timestamp": "2026-01-02T10:00:00+00:00",
        "duedate": "2026-01-01T12:00:00+00:00",
    }
    assert "Entrega fuera de plazo: 22 h después de la fecha límite (2026-01-01 12:00 UTC)" in late["output"]
    assert all("fuera de plazo" in test["output"] and test["extra_data"]["mistake"] == LATE for test in late["tests"])
    on_time = json.loads(results_path(scratch, ASSIGNMENT, ON_TIME).read_text(encoding="utf-8"))
    assert on_time["extra_data"]["late_submission"] is None and on_time["extra_data"]["late_penalty"] == 0
    assert all(test["output"] == "Superada." for test in on_time["tests"])


@pytest.mark.e2e
def test_a_second_run_resumes_and_leaves_the_penalized_results_alone(late_course):
    scratch, _ = late_course
    before = {s: results_path(scratch, ASSIGNMENT, s).read_bytes() for s in TIMESTAMPS}
    again = cli("autograde", ASSIGNMENT, "--course", str(scratch.root), "--quiet")
    assert again.returncode == 0, again.stderr
    assert "reanudado: 2 ya calificados y sin cambios" in again.stdout
    assert re.search(rf"{LATE_STUDENT}\s+0/4\s+0/6\s+0/12\s+0/22", again.stdout), again.stdout
    assert {s: results_path(scratch, ASSIGNMENT, s).read_bytes() for s in TIMESTAMPS} == before
    assert {s: e.status for s, e in load_journal(journal_path(scratch, ASSIGNMENT)).items()} == dict.fromkeys(TIMESTAMPS, "graded")
