"""One graded notebook's student feedback as HTML, rendered the way `nbgrader generate_feedback` renders it, without a gradebook."""

from __future__ import annotations

import copy
from pathlib import Path

from nbconvert.exporters import HTMLExporter
from nbformat import NotebookNode
from nbgrader.converters.generate_feedback import GenerateFeedback
from nbgrader.preprocessors import GetGrades
from traitlets.config import Config

from autograder.adapter.lesson_of import hand_down
from autograder.engine.lesson import Lesson
from autograder.engine.results import GradingResult
from autograder.outputs.outfiles import write_bytes


def feedback_html(notebook: NotebookNode, result: GradingResult, config: Config, name: str, lesson: Lesson | None = None) -> str:
    """The feedback page of a graded notebook: the course's feedback chain and template (GenerateFeedback's config).

    The chain is the course's GenerateFeedback.preprocessors (so HideHiddenTests keeps the hidden
    tests' code out, and FeedbackSummary names each test) except GetGrades: the scores come from
    `result`, as there is no gradebook. The lesson, when not given, is found from result.assignment.
    """
    nb = _with_scores(notebook, result)
    resources = {
        "nbgrader": {
            "notebook": name, "assignment": result.assignment,
            "score": result.score, "max_score": result.max_score, "late_penalty": 0,
        }
    }
    if lesson is not None:
        hand_down(resources, lesson)
    converter = GenerateFeedback(config=config)  # its config: the feedback template, the course's settings
    # The converter as parent: settings the course scopes to it (c.GenerateFeedback.HTMLExporter.*) apply.
    exporter = HTMLExporter(parent=converter, config=converter.config)
    for preprocessor in converter.preprocessors:
        if not (isinstance(preprocessor, type) and issubclass(preprocessor, GetGrades)):
            exporter.register_preprocessor(preprocessor)
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    return body


def write_feedback(
    path: Path, notebook: NotebookNode, result: GradingResult, config: Config, name: str, lesson: Lesson | None = None
) -> None:
    """Write the feedback page to `path`; OutputError (one clear line) when it cannot be written."""
    write_bytes(Path(path), feedback_html(notebook, result, config, name, lesson).encode("utf-8"))


def _with_scores(notebook: NotebookNode, result: GradingResult) -> NotebookNode:
    """A copy of the notebook whose graded cells carry their score and points, as GetGrades leaves them."""
    nb = copy.deepcopy(notebook)
    tests = {test.spec.grade_id: test for test in result.tests}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if not meta.get("grade"):
            continue
        test = tests.get(meta.get("grade_id"))
        meta["score"] = test.score if test else 0.0
        meta["points"] = test.max_score if test else float(meta.get("points", 0))
    return nb
