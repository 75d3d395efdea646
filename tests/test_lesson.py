"""The lesson notebook itself, run as a student or an instructor runs it: in a plain Jupyter kernel, top to bottom."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from activation import ASSIGNMENT
from autograder.engine.course import Course
from autograder.commands.check import PENDING_MIME

pytestmark = pytest.mark.e2e

# The solution draws every figure: the activation flow, image and kernel, the map Z (all with its Gx), ReLU, its
# relu beside torch.relu, pooling with stride 1 and None, and its maxpool2d beside nn.MaxPool2d for both strides.
FIGURE_CELLS = 9
# The untouched release draws only what needs no answer: ReLU of the lesson's map and pooling with stride 1 and None.
RELEASE_FIGURES = 3


def run_notebook(path: Path, monkeypatch: pytest.MonkeyPatch, figures_flag: str | None) -> nbformat.NotebookNode:
    """Execute a notebook in a fresh local kernel; AUTOGRADER_FIGURES set as given (None: unset)."""
    if figures_flag is None:
        monkeypatch.delenv("AUTOGRADER_FIGURES", raising=False)
    else:
        monkeypatch.setenv("AUTOGRADER_FIGURES", figures_flag)
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    return notebook


def figures(notebook: nbformat.NotebookNode) -> int:
    return sum("image/png" in output.get("data", {}) for cell in notebook.cells for output in cell.get("outputs", []))


def errors(notebook: nbformat.NotebookNode) -> list[str]:
    return [o.get("ename", "") for cell in notebook.cells for o in cell.get("outputs", []) if o.output_type == "error"]


def test_solution_runs_clean_and_draws_every_figure(course: Course, monkeypatch: pytest.MonkeyPatch):
    executed = run_notebook(course.source_notebook(ASSIGNMENT), monkeypatch, None)
    assert errors(executed) == []
    assert figures(executed) >= FIGURE_CELLS


def test_figure_helpers_draw_nothing_while_grading(course: Course, monkeypatch: pytest.MonkeyPatch):
    executed = run_notebook(course.source_notebook(ASSIGNMENT), monkeypatch, "0")
    assert errors(executed) == []
    assert figures(executed) == 0


def test_release_runs_all_with_no_error_and_says_what_is_unwritten(course: Course, monkeypatch: pytest.MonkeyPatch):
    """A student's first "Run All": the whole lesson, the figures that need no answer, and a "sin implementar" line per answer."""
    executed = run_notebook(course.release_notebook(ASSIGNMENT), monkeypatch, None)
    assert errors(executed) == []
    assert figures(executed) == RELEASE_FIGURES
    pending = [
        o["data"][PENDING_MIME]["answer"]
        for cell in executed.cells
        for o in cell.get("outputs", [])
        if PENDING_MIME in o.get("data", {})
    ]
    assert set(pending) == {"Gx", "relu", "maxpool2d"}
    assert all("Sin implementar" in o["data"]["text/plain"] for c in executed.cells for o in c.get("outputs", []) if PENDING_MIME in o.get("data", {}))
