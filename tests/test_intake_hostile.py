"""Hostile intake end to end: links, FIFOs and devices as submissions, a poison notebook in a batch, a dot-named student.

Every way in (`autograder grade`, `autograder autograde`, Gradescope's run_autograder) refuses what is not a
regular file with one clear reason and never follows a link: a link to the instructor's solution would score
22/22. A notebook whose metadata nests JSON too deep for the parser (a RecursionError) is that student's reason;
the rest of the batch is graded, filed and listed by export and report, students whose names start with a dot too.
"""

from __future__ import annotations

import csv
import faulthandler
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.commands.autograde import journal_path, load_journal, results_path
from activation import ASSIGNMENT
from autograder.cli import main
from autograder.engine.course import Course
from staging import stage_course
from autograder.outputs.gradescope import build
from autograder.engine.results import GradingResult
from conftest import ROOT, SAMPLES
from test_gradescope import run_autograder, unpack

NOTEBOOK = f"{ASSIGNMENT}.ipynb"
SOLUTION = ROOT / "solutions" / ASSIGNMENT / NOTEBOOK
LINK = "enlace simbólico"
FIFO = "FIFO"
DEEP = "anidados a demasiada profundidad"
# How deep the poison nests lists in a cell's metadata: far past the JSON parser's recursion limit.
POISON_DEPTH = 100_000
# A batch or a grading that blocks (on a FIFO, say) fails the test after this long instead of hanging the run.
WATCHDOG_S = 600


def poison(target: Path, depth: int = POISON_DEPTH) -> Path:
    """The full-marks sample with `depth` nested lists in its first cell's metadata (valid JSON, unreadable by json.loads)."""
    data = json.loads((SAMPLES / "solution.ipynb").read_text(encoding="utf-8"))
    data["cells"][0]["metadata"]["anidado"] = "@@"
    target.write_text(json.dumps(data).replace('"@@"', "[" * depth + "]" * depth), encoding="utf-8")
    return target


def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "autograder.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=WATCHDOG_S)


@pytest.fixture
def watchdog():
    """Dump every thread and exit if the test runs past WATCHDOG_S (a blocked read must fail, not hang)."""
    faulthandler.dump_traceback_later(WATCHDOG_S, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


# --- autograder grade: one notebook -------------------------------------------------------------------------


def _link(tmp_path: Path) -> Path:
    (tmp_path / NOTEBOOK).symlink_to(SOLUTION)
    return tmp_path / NOTEBOOK


def _fifo(tmp_path: Path) -> Path:
    os.mkfifo(tmp_path / NOTEBOOK)
    return tmp_path / NOTEBOOK


def _device(tmp_path: Path) -> Path:
    return Path("/dev/null")


@pytest.mark.parametrize(
    "make, reason",
    [(_link, LINK), (_fifo, FIFO), (_device, "dispositivo"), (lambda tmp: poison(tmp / NOTEBOOK), DEEP)],
    ids=["link-to-solution", "fifo", "device", "nested-json"],
)
def test_grade_refuses_with_one_line_exit_2_and_results(tmp_path, make, reason):
    notebook = make(tmp_path)
    results = tmp_path / "results.json"
    done = cli("grade", str(notebook), "--results", str(results))
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("autograder: cannot grade ") and reason in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    data = json.loads(results.read_text(encoding="utf-8"))
    assert data["score"] == 0 and data["max_score"] == 22 and reason in data["output"]


# --- autograder autograde: a batch --------------------------------------------------------------------------

# "+" sorts before "." and letters: the poison is the first student of the batch.
POISON = "+poison"
DOTTED = ".alice"
GRADED = {DOTTED: 22.0, "ellen": 0.0}  # full marks, and the blank template
REFUSED = {POISON: DEEP, "bob_link": LINK, "carol_linked_folder": LINK, "dave_fifo": FIFO}


@pytest.fixture(scope="module")
def hostile_batch(course, tmp_path_factory):
    """One real batch (`autograder autograde`) of the poison, two good notebooks and three refused submissions."""
    faulthandler.dump_traceback_later(WATCHDOG_S, exit=True)
    scratch = stage_course(course, tmp_path_factory.mktemp("course") / "course", [])
    submitted = scratch.root / "submitted"

    def folder(student: str) -> Path:
        path = submitted / student / ASSIGNMENT
        path.mkdir(parents=True)
        return path

    shutil.copy(SAMPLES / "solution.ipynb", folder(DOTTED) / NOTEBOOK)
    shutil.copy(SAMPLES / "blank.ipynb", folder("ellen") / NOTEBOOK)
    poison(folder(POISON) / NOTEBOOK)
    (folder("bob_link") / NOTEBOOK).symlink_to(scratch.root / "solutions" / ASSIGNMENT / NOTEBOOK)
    elsewhere = tmp_path_factory.mktemp("elsewhere") / ASSIGNMENT
    elsewhere.mkdir()
    shutil.copy(SAMPLES / "solution.ipynb", elsewhere / NOTEBOOK)
    (submitted / "carol_linked_folder").symlink_to(elsewhere.parent)
    os.mkfifo(folder("dave_fifo") / NOTEBOOK)
    argv = ["autograde", "--course", str(scratch.root), "--quiet", "--workers", "2"]
    code = main(argv)
    faulthandler.cancel_dump_traceback_later()
    return scratch, code, argv


def test_batch_files_every_student_the_poison_and_refusals_with_reasons(hostile_batch):
    scratch, code, _ = hostile_batch
    assert code == 2  # some not graded
    journal = load_journal(journal_path(scratch, ASSIGNMENT))
    assert set(journal) == set(GRADED) | set(REFUSED)
    for student, reason in REFUSED.items():
        assert journal[student].status == "failed" and reason in journal[student].reason, (student, journal[student])
    assert all(journal[student].status == "graded" for student in GRADED)
    for student in (*GRADED, *REFUSED):
        result = GradingResult.read(results_path(scratch, ASSIGNMENT, student))
        assert result.score == GRADED.get(student, 0.0) and result.max_score == 22
    # the graded ones are in nbgrader's own output, the refused ones never reach it
    assert (scratch.root / "autograded" / DOTTED / ASSIGNMENT / NOTEBOOK).is_file()
    assert not (scratch.root / "autograded" / "bob_link").exists()


def test_export_and_report_list_every_student_dotted_and_refused_ones_too(hostile_batch, capsys):
    scratch, _, _ = hostile_batch
    assert main(["export", "--course", str(scratch.root), "--format", "csv"]) == 0
    with open(scratch.root / "reports" / ASSIGNMENT / "grades.csv", encoding="utf-8", newline="") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    assert set(rows) == set(GRADED) | set(REFUSED)
    assert rows[DOTTED]["score"] == "22" and rows["ellen"]["score"] == "0" and rows[DOTTED]["error"] == ""
    assert all(reason in rows[student]["error"] for student, reason in REFUSED.items())
    assert main(["report", "--course", str(scratch.root)]) == 0
    out = capsys.readouterr().out
    assert "6 estudiantes: 2 calificados, 4 sin calificar" in out
    assert all(f"  {student}: " in out for student in REFUSED)


def test_a_resumed_batch_shows_review_marks_in_its_summary_export_and_report(hostile_batch, capsys):
    """A review mark in a graded student's results file (the grader saw tampering) reaches every instructor view, never the student's."""
    scratch, _, argv = hostile_batch
    path = results_path(scratch, ASSIGNMENT, "ellen")
    data = json.loads(path.read_text(encoding="utf-8"))
    mark = "Una celda emitió un registro de prueba que el calificador no pidió (posible falsificación)."
    data["extra_data"]["review"] = [mark, "Durante la calificación, el cuaderno leyó archivos del calificador."]
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    capsys.readouterr()
    assert main(argv) == 2  # resumes: the graded two are not regraded, the four refusals are refused again
    out = capsys.readouterr().out
    [line] = [line for line in out.splitlines() if "para revisar" in line and line.startswith("ellen")]
    assert mark in line and " | Durante la calificación" in line
    assert "reanudado: 2 ya calificados" in out and "1 para revisar" in out
    assert main(["export", "--course", str(scratch.root), "--format", "csv"]) == 0
    with open(scratch.root / "reports" / ASSIGNMENT / "grades.csv", encoding="utf-8", newline="") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    assert rows["ellen"]["review"] == f"{mark} | Durante la calificación, el cuaderno leyó archivos del calificador."
    assert rows[DOTTED]["review"] == ""
    assert main(["report", "--course", str(scratch.root)]) == 0
    report = capsys.readouterr().out
    assert "Para revisar:" in report and "  ellen:" in report.split("Para revisar:")[1]
    html = (scratch.root / "reports" / ASSIGNMENT / "report.html").read_text(encoding="utf-8")
    assert "Para revisar" in html and "posible falsificación" in html


# --- Gradescope: run_autograder on the unpacked zip ---------------------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(Course.at(ROOT), tmp_path_factory.mktemp("zip") / "autograder.zip", ASSIGNMENT).path


@pytest.mark.parametrize("kind", ["link-to-solution", "fifo", "nested-json"])
def test_run_autograder_refuses_and_writes_the_reason(built, tmp_path, kind, watchdog):
    root = unpack(built, tmp_path / "autograder")
    submission = root / "submission" / NOTEBOOK
    if kind == "link-to-solution":  # the instructor's solution, shipped in the zip: it would score 22/22
        submission.symlink_to(root / "source" / "course" / "solutions" / ASSIGNMENT / NOTEBOOK)
        reason = LINK
    elif kind == "fifo":
        os.mkfifo(submission)
        reason = FIFO
    else:
        poison(submission)
        reason = DEEP
    done, result, raw = run_autograder(root)
    assert done.returncode == 0, done.stdout + done.stderr
    assert raw["score"] == 0 and reason in raw["output"] and result.max_score == 22
    assert all(reason in test.output for test in result.tests)
    assert "Traceback" not in done.stdout + done.stderr
