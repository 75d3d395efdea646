"""The split between grader and kernel, end to end: the kernel never holds the grader's checks, and inputs change per grading."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from activation import ASSIGNMENT, LESSON
from autograder.engine.course import Course
from autograder.adapter.pipeline import grade_notebook
from autograder.isolation.zygote import Zygote

SOLUTION = Path(__file__).parent / "samples" / "solution.ipynb"

# What the student's relu saw, printed at the end of the notebook; and what the kernel can find of the grader.
SPY_RELU = '''\
_seen = []
_carried = set()


def relu(z):
    _seen.append(round(float(z.detach().double().sum()), 6))
    _content = get_ipython().kernel.get_parent()["content"]  # the test cell's execute request
    _carried.add(('"calls"' in _content["code"], '"calls"' in _content.get("autograder_request", "")))
    return torch.where(z > 0, z, torch.zeros_like(z))
'''
REPORT = '''\
import sys
print("SEEN", _seen)
print("CARRIED", sorted(_carried))
import autograder_stub.sourcememo as _memo
_stub_calls = any(t.startswith("__import__('autograder_stub.runner')") for t in _memo._transformed)
_secret = any("_seen" in t or "HIDDEN" in t for t in _memo._transformed)  # the student's own, hidden tests
print("PREPARED", _memo.hits > 0, _stub_calls, _secret)
for _name in ("autograder", "autograder.engine.checks", "autograder.lessons.activation_maxpool.relu", "autograder.lessons.activation_maxpool.inputs"):
    try:
        __import__(_name)
        print("IMPORTED", _name)
    except Exception as _error:
        print("REFUSED", _name, type(_error).__name__)
print("MODULES", sorted(m for m in sys.modules if m == "autograder" or m.startswith("autograder.")))
import autograder_stub
print("STUB FILES", sorted(p.name for p in __import__("pathlib").Path(autograder_stub.__file__).parent.iterdir()))
print("SIBLINGS", sorted(p.name for p in __import__("pathlib").Path(autograder_stub.__file__).parent.parent.iterdir()))
'''


def _spy_notebook(folder: Path) -> Path:
    notebook = nbformat.read(SOLUTION, as_version=4)
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "relu_impl":
            cell.source = SPY_RELU
    notebook.cells.append(nbformat.v4.new_code_cell(REPORT))
    path = folder / "spy.ipynb"
    nbformat.write(notebook, path)
    return path


def _printed(graded) -> str:
    outputs = graded.notebook.cells[-1].get("outputs", [])
    return "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")


@pytest.fixture(scope="module")
def two_gradings(course: Course, tmp_path_factory) -> tuple:
    path = _spy_notebook(tmp_path_factory.mktemp("spy"))
    return grade_notebook(path, course, ASSIGNMENT, LESSON), grade_notebook(path, course, ASSIGNMENT, LESSON)


@pytest.mark.e2e
def test_two_gradings_draw_different_inputs_and_give_the_same_score(two_gradings):
    first, second = two_gradings
    assert first.result.score == second.result.score == 22
    seen = [json.loads(_printed(g).split("SEEN ", 1)[1].splitlines()[0]) for g in two_gradings]
    assert len(seen[0]) == len(seen[1]) > 10
    assert seen[0] != seen[1]
    assert first.result.review == second.result.review == []
    # A test cell's inputs come in its execute request's content, never in the code IPython compiles
    # (relu also runs in cells with no request: the lesson's demos, the visible checks).
    for graded in two_gradings:
        carried = _printed(graded).split("CARRIED ", 1)[1].splitlines()[0]
        assert "(False, True)" in carried and "(True" not in carried


@pytest.mark.e2e
@pytest.mark.skipif(not Zygote.available(), reason="warm kernels need root with CAP_SYS_ADMIN")
def test_a_warm_kernel_was_prepared_for_the_instructors_cells_and_never_for_the_students(two_gradings):
    # The helpers and the test cells' code (with no request in it) came prepared from the zygote; the
    # student's relu and the hidden tests, which are no cells of the release, never reached it.
    for graded in two_gradings:
        assert _printed(graded).split("PREPARED ", 1)[1].splitlines()[0] == "True True False"


@pytest.mark.e2e
def test_the_kernel_cannot_import_or_read_the_graders_checks(two_gradings):
    text = _printed(two_gradings[0])
    assert "IMPORTED" not in text
    assert "REFUSED autograder.lessons.activation_maxpool.relu" in text
    assert "MODULES []" in text
    siblings = text.split("SIBLINGS ", 1)[1].splitlines()[0]
    assert "autograder_stub" in siblings and "'autograder'" not in siblings and "solutions" not in siblings
    files = text.split("STUB FILES ", 1)[1].splitlines()[0]
    assert "runner.py" in files and "relu.py" not in files
