"""docs/adding-a-lesson.md, followed literally: a second lesson built from the page, graded beside the shipped one.

Every `# file:` block of the page is written, every `# append to:` block appended, every bash line
run (as `python -m autograder.cli` for `autograder`), in a scratch copy of the course. Then one
`autograder autograde` grades three assignments side by side in one run: the shipped lesson, the
same lesson released under another name, and the page's lesson; export and report follow.
"""

from __future__ import annotations

import csv
import json
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from activation import ASSIGNMENT
from conftest import ROOT, SAMPLES
from staging import stage_course, submit
from autograder.engine.course import Course

pytestmark = pytest.mark.e2e

DOC = ROOT / "docs" / "adding-a-lesson.md"
NEW = "sigmoide"
RENAMED = f"{ASSIGNMENT}_b"
_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.M | re.S)


def blocks() -> list[tuple[str, str]]:
    """The page's fenced blocks, in order: (language, text)."""
    return [(m.group(1), m.group(2)) for m in _BLOCK.finditer(DOC.read_text(encoding="utf-8"))]


def write_block(root: Path, text: str) -> bool:
    """Write a `# file:` block or append an `# append to:` block of the page under `root`; False for any other block."""
    first, _, body = text.partition("\n")
    if first.startswith("# file: "):
        target = root / first.removeprefix("# file: ").strip()
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body, encoding="utf-8")
        return True
    if first.startswith("# append to: "):
        target = root / first.removeprefix("# append to: ").strip()
        target.write_text(target.read_text(encoding="utf-8") + "\n" + body, encoding="utf-8")
        return True
    return False


def command(line: str) -> list[str]:
    """A bash line of the page as argv: `autograder` and `python` are this environment's."""
    words = shlex.split(line)
    if words[0] == "autograder":
        return [sys.executable, "-m", "autograder.cli", *words[1:]]
    if words[0] == "python":
        return [sys.executable, *words[1:]]
    raise AssertionError(f"the page runs something this test does not know: {line!r}")


def follow(root: Path, before_autograde) -> dict[str, subprocess.CompletedProcess[str]]:
    """Do what the page says, in `root`; `before_autograde()` runs just before the first `autograder autograde`."""
    ran = {}
    for language, text in blocks():
        if write_block(root, text):
            continue
        if language == "bash":
            for line in filter(None, (line.strip() for line in text.splitlines())):
                if line == "autograder autograde":
                    before_autograde()
                started = time.monotonic()
                done = subprocess.run(command(line), cwd=root, capture_output=True, text=True, timeout=900)
                print(f"{line}: exit {done.returncode} in {time.monotonic() - started:.1f} s")  # shown with -s
                ran[line] = done
    return ran


def sigmoid_submission(root: Path, name: str, body: str) -> Path:
    """The source notebook with the sigmoide answer replaced by `body` (the rest as the student received it)."""
    nb = nbformat.read(root / "solutions" / NEW / f"{NEW}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "sigmoide_impl":
            cell.source = body
    path = root.parent / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def followed(tmp_path_factory):
    root = tmp_path_factory.mktemp("course") / "course"
    course = stage_course(Course.at(ROOT), root, [])

    def submissions() -> None:
        (root / "solutions" / RENAMED).mkdir()
        shutil.copy(root / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", root / "solutions" / RENAMED / f"{RENAMED}.ipynb")
        config = root / "nbgrader_config.py"
        config.write_text(
            config.read_text(encoding="utf-8") + f'\nc.Lessons.assignments["{RENAMED}"] = "autograder.lessons.{ASSIGNMENT}"\n',
            encoding="utf-8",
        )
        for assignment in (ASSIGNMENT, RENAMED):
            submit(root, "ana", assignment, SAMPLES / "solution.ipynb")
            submit(root, "beto", assignment, SAMPLES / "leaky_relu.ipynb")
        submit(root, "ana", NEW, root / "solutions" / NEW / f"{NEW}.ipynb")
        submit(root, "beto", NEW, sigmoid_submission(root, "beto", "def sigmoide(z):\n    return torch.sigmoid(z)"))

    ran = follow(root, submissions)
    return course, ran


def test_every_command_of_the_page_does_what_it_says(followed):
    course, ran = followed
    for line, done in ran.items():
        expected = 1 if line.startswith("autograder check") else 0  # the template's answers are unwritten
        assert done.returncode == expected, f"{line}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    assert "sigmoide" in ran[f"autograder check assignments/{NEW}/{NEW}.ipynb"].stdout
    released = course.root / "assignments" / NEW
    assert (released / "datos.csv").is_file() and "return 1 / (1 + torch.exp(-z))" not in (released / f"{NEW}.ipynb").read_text(encoding="utf-8")
    graded = json.loads((course.root / "sigmoide-results.json").read_text(encoding="utf-8"))
    assert (graded["score"], graded["max_score"]) == (4, 4)


def test_three_assignments_graded_side_by_side_in_one_batch(followed):
    course, ran = followed
    table = ran["autograder autograde"].stdout
    assert all(f"== {name}" in table for name in (ASSIGNMENT, RENAMED, NEW))
    scores = {}
    for assignment in (ASSIGNMENT, RENAMED, NEW):
        for student in ("ana", "beto"):
            data = json.loads((course.root / "results" / assignment / f"{student}.json").read_text(encoding="utf-8"))
            scores[assignment, student] = (data["score"], data["max_score"])
            assert data["extra_data"]["assignment"] == assignment
    assert scores[ASSIGNMENT, "ana"] == scores[RENAMED, "ana"] == (22, 22)
    assert scores[ASSIGNMENT, "beto"] == scores[RENAMED, "beto"] == (16, 22)
    assert scores[NEW, "ana"] == (4, 4)
    assert scores[NEW, "beto"] == (1, 4)  # torch.sigmoid is the taught operation: both sigmoide tests fail


def test_the_same_lesson_under_another_name_grades_exactly_alike(followed):
    course, _ = followed

    def tests(assignment: str) -> list[tuple]:
        data = json.loads((course.root / "results" / assignment / "beto.json").read_text(encoding="utf-8"))
        # Scores and mistakes; the messages quote inputs drawn afresh for every grading.
        return [(t["name"], t["score"], t["extra_data"]["mistake"], t["visibility"]) for t in data["tests"]]

    assert tests(ASSIGNMENT) == tests(RENAMED)


def test_the_new_lessons_export_and_report_have_its_own_parts(followed):
    course, ran = followed
    rows = list(csv.reader((course.root / "reports" / NEW / "grades.csv").read_text(encoding="utf-8").splitlines()))
    assert rows[0] == ["student", "score", "max_score", "media", "sigmoide", "error", "review"]
    assert rows[1][:5] == ["ana", "4", "4", "1", "3"] and rows[2][:5] == ["beto", "1", "4", "1", "0"]
    report = ran[f"autograder report --assignment {NEW}"].stdout
    assert "sigmoide (máx. 3)" in report and "usó la operación enseñada (torch.sigmoid" in report
    assert "    quiénes: beto" in report.splitlines()
    assert "relu" not in report and (course.root / "reports" / NEW / "report.html").is_file()
