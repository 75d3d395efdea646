"""`autograder autograde` grades students in parallel, journals each one as it is filed, and resumes after `kill -9`."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.commands.autograde import (
    FAILED,
    GRADED,
    JournalEntry,
    autograde,
    fingerprint,
    journal_path,
    load_journal,
    pending,
    save_journal,
)
from activation import ASSIGNMENT, LESSON
from autograder.engine.course import Course
from staging import stage_course
from autograder.engine.errors import CourseError
from conftest import EXPECTED_SCORES, ROOT, SAMPLES

GRADED_SAMPLES = ("blank", "leaky_relu", "solution")  # started in this (sorted) order, two at a time
BROKEN = "zz_truncated"  # sorts last: it starts only after a graded sample finished, so the kill lands before it


def entry(digest: str, status: str = GRADED) -> JournalEntry:
    """A journal entry with a fixed time."""
    return JournalEntry(digest, status, "2024-01-01T00:00:00+00:00", "" if status == GRADED else "roto")


# --- the journal and the fingerprint, without nbgrader ------------------------------------------


def test_fingerprint_changes_with_content_and_new_files(tmp_path):
    folder = tmp_path / "submitted" / "ana" / ASSIGNMENT
    folder.mkdir(parents=True)
    (folder / f"{ASSIGNMENT}.ipynb").write_text("{}", encoding="utf-8")
    first = fingerprint(folder)
    assert fingerprint(folder) == first
    (folder / f"{ASSIGNMENT}.ipynb").write_text("{ }", encoding="utf-8")
    second = fingerprint(folder)
    assert second != first
    (folder / "data").mkdir()
    (folder / "data" / "extra.csv").write_text("1,2\n", encoding="utf-8")
    assert fingerprint(folder) != second
    (folder / "data" / "extra.csv").unlink()
    (folder / "link").symlink_to("/dev/zero")  # a link is fingerprinted by its target, never read
    assert fingerprint(folder) not in {first, second}


def test_pending_regrades_changed_failed_and_missing_grades_and_everything_with_force():
    submissions = {"same": "a", "changed": "b2", "failed": "c", "new": "d", "lost_grades": "e"}
    journal = {
        "same": entry("a"),
        "changed": entry("b1"),
        "failed": entry("c", FAILED),
        "lost_grades": entry("e"),  # journalled, but gradebook.db (or autograded/) no longer has it
        "gone": entry("z"),  # no longer in submitted/: ignored
    }
    graded = {"same", "changed", "failed"}
    assert pending(submissions, journal, graded) == ["changed", "failed", "lost_grades", "new"]
    assert pending(submissions, journal, graded, force=True) == sorted(submissions)
    assert pending(submissions, {}, graded) == sorted(submissions)


def test_journal_round_trip_is_atomic(tmp_path):
    path = tmp_path / "autograded" / ".autograder-batch-x.json"
    entries = {"ana": entry("a"), "bob": entry("b", FAILED)}
    save_journal(path, "x", entries)
    assert load_journal(path) == entries
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind
    assert json.loads(path.read_text(encoding="utf-8"))["assignment"] == "x"


@pytest.mark.parametrize(
    "content",
    [b"", b'{"version": 1, "students": {"ana": {"fingerp', b"\x00\xff\xfe binary", b"[]", b'{"version": 99, "students": {}}', b'{"students": []}', b"null"],
)
def test_corrupted_journal_is_empty_not_a_crash(tmp_path, content):
    path = tmp_path / "journal.json"
    path.write_bytes(content)
    assert load_journal(path) == {}


def test_malformed_journal_entries_are_dropped_one_by_one(tmp_path):
    path = tmp_path / "journal.json"
    good = {"fingerprint": "a", "status": GRADED, "at": "t", "reason": ""}
    students = {"ok": good, "list": [], "extra_key": {**good, "x": 1}, "bad_status": {**good, "status": "done"}, "int": {**good, "fingerprint": 3}}
    path.write_text(json.dumps({"version": 1, "students": students}), encoding="utf-8")
    assert load_journal(path) == {"ok": JournalEntry("a", GRADED, "t")}
    assert load_journal(tmp_path / "missing.json") == {}


def test_a_second_batch_on_the_same_course_is_refused(tmp_path):
    course = Course(tmp_path)
    lock = journal_path(course, ASSIGNMENT).with_suffix(".lock")
    lock.parent.mkdir(parents=True)
    with lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(CourseError, match="another `autograder autograde`"):
            autograde(course, ASSIGNMENT, LESSON)


# --- end to end: kill -9 mid-batch, then resume ---------------------------------------------------


def run_cli(course: Course, *extra: str, **popen) -> subprocess.Popen[str]:
    """`autograder autograde --course COURSE` as a child process, its output captured."""
    command = [sys.executable, "-m", "autograder.cli", "autograde", "--course", str(course.root), *extra]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def finished(course: Course) -> dict[str, dict]:
    """The students the journal lists as done, as written (read while the batch runs)."""
    try:
        students = json.loads(journal_path(course, ASSIGNMENT).read_text(encoding="utf-8"))["students"]
    except FileNotFoundError:
        return {}
    return {name: raw for name, raw in students.items() if raw["status"] == GRADED}


def autograded_notebook(course: Course, student: str) -> Path:
    """The notebook nbgrader wrote for this student."""
    return course.root / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"


def stamp(path: Path) -> tuple[int, int]:
    """Inode and mtime: they change when nbgrader writes the file again."""
    info = path.stat()
    return info.st_ino, info.st_mtime_ns


def gradebook_rows(course: Course) -> dict[str, int]:
    """How many submissions gradebook.db holds per student."""
    with sqlite3.connect(course.gradebook) as db:
        return dict(db.execute("select student_id, count(*) from submitted_assignment group by student_id").fetchall())


def kill_after_first_student(course: Course, timeout: float = 600) -> None:
    """Start a batch in its own process group and SIGKILL the whole group once one student is journalled as done."""
    batch = run_cli(course, start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while not finished(course):
            assert batch.poll() is None, f"the batch ended before it was killed:\n{batch.communicate()}"
            assert time.monotonic() < deadline, "no student finished in time"
            time.sleep(0.2)
    finally:
        os.killpg(batch.pid, signal.SIGKILL)  # the CLI, nbgrader and everything they started in the group
        batch.communicate()
    assert batch.returncode == -signal.SIGKILL


@pytest.fixture(scope="module")
def resumed(course, tmp_path_factory):
    broken = tmp_path_factory.mktemp("broken") / f"{BROKEN}.ipynb"
    broken.write_text((SAMPLES / "solution.ipynb").read_text(encoding="utf-8")[:500], encoding="utf-8")
    samples = [SAMPLES / f"{name}.ipynb" for name in GRADED_SAMPLES]
    scratch = stage_course(course, tmp_path_factory.mktemp("resume") / "course", [*samples, broken])

    started = time.monotonic()
    kill_after_first_student(scratch)
    before = finished(scratch)
    first = sorted(before)[0]
    first_stamp = stamp(autograded_notebook(scratch, first))
    killed_after = time.monotonic() - started

    second = run_cli(scratch)
    out, err = second.communicate()
    return scratch, first, before, first_stamp, second.returncode, out, err, killed_after


@pytest.mark.e2e
def test_killed_batch_resumes_without_regrading_or_losing_anyone(resumed):
    scratch, first, before, first_stamp, returncode, out, err, killed_after = resumed
    assert before and set(before) <= set(GRADED_SAMPLES), f"killed after {killed_after:.0f} s with {before}"
    assert returncode == 2, out + err  # the truncated submission is not graded: exit 2
    assert f"reanudado: {len(before)} ya calificados" in out
    for name in GRADED_SAMPLES:  # progress lines name exactly the students graded by this run
        assert (f"estudiante={name} " in err) == (name not in before), err
    for name in GRADED_SAMPLES:
        line = next(line for line in out.splitlines() if line.startswith(name))
        assert "sin calificar" not in line
    assert f"{BROKEN}" in out and "truncado" in out

    journal = finished(scratch)
    assert sorted(journal) == sorted(GRADED_SAMPLES)
    assert journal[first] == before[first]  # its journal entry was not rewritten
    assert stamp(autograded_notebook(scratch, first)) == first_stamp  # nor its autograded notebook
    assert load_journal(journal_path(scratch, ASSIGNMENT))[BROKEN].status == FAILED


@pytest.mark.e2e
def test_gradebook_is_consistent_after_the_kill(resumed):
    scratch = resumed[0]
    assert gradebook_rows(scratch) == {name: 1 for name in [*GRADED_SAMPLES, BROKEN]}
    batch = autograde(scratch, ASSIGNMENT, LESSON)  # nothing changed: only the failed submission is tried again
    assert sorted(batch.skipped) == sorted(GRADED_SAMPLES)
    assert {row.student: row.parts for row in batch.scores} == {name: EXPECTED_SCORES[name] for name in GRADED_SAMPLES}
    assert list(batch.failures) == [BROKEN] and "truncado" in batch.failures[BROKEN]
    assert gradebook_rows(scratch) == {name: 1 for name in [*GRADED_SAMPLES, BROKEN]}


@pytest.mark.e2e
def test_changed_submission_is_regraded_on_the_next_run(resumed):
    scratch = resumed[0]
    submission = scratch.submitted / "blank" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    shutil.copy(SAMPLES / "solution.ipynb", submission)  # blank resubmits a full solution
    unchanged = stamp(autograded_notebook(scratch, "leaky_relu"))
    batch = autograde(scratch, ASSIGNMENT, LESSON)
    assert sorted(batch.skipped) == ["leaky_relu", "solution"]
    assert list(batch.failures) == [BROKEN]
    assert {row.student: row.parts for row in batch.scores}["blank"] == EXPECTED_SCORES["solution"]
    assert stamp(autograded_notebook(scratch, "leaky_relu")) == unchanged
    assert gradebook_rows(scratch) == {name: 1 for name in [*GRADED_SAMPLES, BROKEN]}


@pytest.mark.e2e
def test_student_regrades_only_that_student_and_leaves_the_others_alone(resumed):
    scratch = resumed[0]
    before = load_journal(journal_path(scratch, ASSIGNMENT))
    stamps = {name: stamp(autograded_notebook(scratch, name)) for name in GRADED_SAMPLES}
    batch = autograde(scratch, ASSIGNMENT, LESSON, students=["leaky_relu"])  # unchanged and graded: regraded all the same
    assert [row.student for row in batch.scores] == ["leaky_relu"] and batch.only == ["leaky_relu"]
    assert batch.scores[0].parts == EXPECTED_SCORES["leaky_relu"]
    assert batch.failures == {} and batch.skipped == []  # the failed submission was not tried again
    assert stamp(autograded_notebook(scratch, "leaky_relu")) != stamps["leaky_relu"]
    assert {name: stamp(autograded_notebook(scratch, name)) for name in ("blank", "solution")} == {n: stamps[n] for n in ("blank", "solution")}
    after = load_journal(journal_path(scratch, ASSIGNMENT))
    assert {s: e for s, e in after.items() if s != "leaky_relu"} == {s: e for s, e in before.items() if s != "leaky_relu"}
    assert after["leaky_relu"].status == GRADED and after["leaky_relu"].at != before["leaky_relu"].at
    assert gradebook_rows(scratch) == {name: 1 for name in [*GRADED_SAMPLES, BROKEN]}


@pytest.mark.e2e
def test_an_unknown_student_is_one_line_and_nothing_is_touched(resumed):
    scratch = resumed[0]
    journal = journal_path(scratch, ASSIGNMENT).read_bytes()
    with pytest.raises(CourseError, match="no submission from 'nadie'"):
        autograde(scratch, ASSIGNMENT, LESSON, students=["solution", "nadie"])
    cli = run_cli(scratch, ASSIGNMENT, "--student", "solution", "--student", "nadie")
    out, err = cli.communicate()
    assert cli.returncode == 1 and err.count("\n") == 1 and "'nadie'" in err and "Traceback" not in err, err
    assert out == "" and journal_path(scratch, ASSIGNMENT).read_bytes() == journal


@pytest.mark.e2e
def test_cli_student_summary_speaks_of_that_student_in_the_chosen_language(resumed):
    scratch = resumed[0]
    cli = run_cli(scratch, "--student", "solution", "--language", "en")
    out, err = cli.communicate()
    assert cli.returncode == 0, out + err
    lines = out.splitlines()
    assert lines[0].split() == ["student", "kernel", "relu", "maxpool2d", "total"]
    assert [line.split()[0] for line in lines[1:-2]] == ["solution"]
    assert lines[-2] == "only solution (--student): every other submission was left as it was"
    assert lines[-1] == "1 graded, 0 not graded, in gradebook.db"
    assert "graded 1/1 student=solution score=22/22" in err
