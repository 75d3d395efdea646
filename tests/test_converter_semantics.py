"""nbgrader's converter semantics in every path: the assignment's files beside the notebook, NBGRADER_EXECUTION set.

The submission reads the assignment's data file and works only when NBGRADER_EXECUTION is
"autograde"; `autograder grade`, `autograder autograde` and plain `nbgrader autograde` (from the
course root, with our preprocessors from nbgrader_config.py) must all give it the same full marks.
The lesson is the one docs/adding-a-lesson.md builds (its files, written as the page says).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT
from staging import stage_course, submit
from test_adding_a_lesson import NEW, blocks, write_block
from autograder.adapter.nbgrader_cli import open_gradebook
from autograder.engine.course import Course

pytestmark = pytest.mark.e2e

STUDENT = "carla"
# Correct only while graded the way nbgrader's autograde runs it, and only with datos.csv beside it.
SIGMOIDE_WHEN_GRADED = '''import os
def sigmoide(z):
    if os.environ.get("NBGRADER_EXECUTION") != "autograde":
        raise RuntimeError("solo al calificar")
    return 1 / (1 + torch.exp(-z))'''


def write_lesson(root: Path) -> None:
    """The page's files (not its commands), and the source notebook its script builds."""
    for _, text in blocks():
        write_block(root, text)
    subprocess.run([sys.executable, "lessons/sigmoide/make_notebook.py"], cwd=root, check=True, timeout=60)


def cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "autograder.cli", *args], cwd=root, capture_output=True, text=True, timeout=900
    )


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Course:
    root = tmp_path_factory.mktemp("semantics") / "course"
    course = stage_course(Course.at(ROOT), root, [])
    write_lesson(root)
    nb = nbformat.read(root / "solutions" / NEW / f"{NEW}.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "sigmoide_impl":
            cell.source = SIGMOIDE_WHEN_GRADED
    notebook = root.parent / f"{NEW}.ipynb"
    nbformat.write(nb, notebook)
    submit(root, STUDENT, NEW, notebook)
    return course


def test_grade_autograde_and_plain_nbgrader_give_the_same_full_marks(course):
    root = course.root
    notebook = root / "submitted" / STUDENT / NEW / f"{NEW}.ipynb"

    graded = cli(root, "grade", str(notebook), "--assignment", NEW, "--results", str(root / "grade.json"))
    assert graded.returncode == 0, graded.stderr[-2000:]
    single = json.loads((root / "grade.json").read_text(encoding="utf-8"))

    batch = cli(root, "autograde", NEW)
    assert batch.returncode == 0, batch.stderr[-2000:]
    filed = json.loads((root / "results" / NEW / f"{STUDENT}.json").read_text(encoding="utf-8"))
    with open_gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        ours = gradebook.find_submission(NEW, STUDENT).score

    plain = subprocess.run(
        [str(Path(sys.executable).parent / "nbgrader"), "autograde", NEW, "--force", "--student", STUDENT],
        cwd=root, capture_output=True, text=True, timeout=900,
    )
    assert plain.returncode == 0, plain.stderr[-3000:]
    with open_gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        stock = gradebook.find_submission(NEW, STUDENT).score

    assert single["score"] == filed["score"] == ours == stock == 4, (single["tests"], filed["tests"])
    # The data file reached the kernel read-only and the student's notebook could not change the source's copy.
    autograded = root / "autograded" / STUDENT / NEW
    assert (autograded / "datos.csv").read_text(encoding="utf-8") == (root / "solutions" / NEW / "datos.csv").read_text(encoding="utf-8")
