"""What a feedback page shows besides the notebook: the total, the score per part, each test by its name with its message.

Built from the graded notebook's cells (the scores nbgrader's GetGrades, or `autograder grade`, left in
their metadata, manual grades included) and the lesson's catalogue (each test's Spanish title and part),
then handed to the course's feedback template through the exporter's resources.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Mapping

from nbformat import NotebookNode

from autograder.engine import messages as msg
from autograder.engine.lesson import Lesson
from autograder.outputs.feedback import cell_output


def points(value: float) -> str:
    """A score as a Spanish reader writes it: at most two decimals, a decimal comma, no trailing zeros."""
    return f"{round(float(value), 2):g}".replace(".", ",")


@dataclass(frozen=True)
class TestLine:
    """One graded cell's line on the page: its title, its score and, when it failed, its message."""

    __test__ = False  # not a pytest test class

    grade_id: str
    title: str
    score: float
    max_score: float
    message: str = ""  # empty when it passed

    @property
    def passed(self) -> bool:
        return self.score >= self.max_score

    @property
    def score_text(self) -> str:
        return f"{points(self.score)} / {points(self.max_score)}"


@dataclass(frozen=True)
class PartSection:
    """The tests of one part, in notebook order, with their sum."""

    name: str
    tests: tuple[TestLine, ...]

    @property
    def score(self) -> float:
        return sum(test.score for test in self.tests)

    @property
    def max_score(self) -> float:
        return sum(test.max_score for test in self.tests)

    @property
    def passed_count(self) -> int:
        return sum(test.passed for test in self.tests)

    @property
    def score_text(self) -> str:
        return f"{points(self.score)} / {points(self.max_score)}"


class CellKind(str, Enum):
    """How the template frames an nbgrader cell of the notebook."""

    TEST = "test"  # a graded cell: its title and score above it
    ANSWER = "answer"  # the student's answer cell: which part it answers, and the instructor's comment
    FOLDED = "folded"  # locked code the student did not write: folded in a <details> element


@dataclass(frozen=True)
class CellMark:
    """What the template writes around one cell, found by the cell's grade_id."""

    kind: CellKind
    title: str = ""  # a test's title, or the part an answer cell answers
    part: str = ""
    score_text: str = ""
    passed: bool = False
    lines: int = 0  # a folded cell's length

    @property
    def kind_name(self) -> str:
        """The kind as a plain string, for class names and comparisons in the template."""
        return self.kind.value


@dataclass(frozen=True)
class FeedbackPage:
    """Everything the course's feedback template needs above the notebook, and per nbgrader cell."""

    notebook: str
    score: float  # the total, late penalty already taken off (as nbgrader reports it)
    max_score: float
    late_penalty: float
    parts: tuple[PartSection, ...]
    cells: Mapping[str, CellMark] = field(default_factory=dict)

    @property
    def score_text(self) -> str:
        return f"{points(self.score)} / {points(self.max_score)}"

    @property
    def title(self) -> str:
        return msg.FEEDBACK_TITLE.format(notebook=self.notebook)

    @property
    def late_penalty_text(self) -> str:
        return points(self.late_penalty)

    @property
    def passed_count(self) -> int:
        return sum(part.passed_count for part in self.parts)

    @property
    def test_count(self) -> int:
        return sum(len(part.tests) for part in self.parts)


def build_page(nb: NotebookNode, lesson: Lesson | None, nbgrader: Mapping[str, Any], fold: frozenset[str]) -> FeedbackPage:
    """The page of a graded notebook whose graded cells carry `score` and `points` in their nbgrader metadata.

    `nbgrader` is the exporter's resources["nbgrader"] (notebook name, total, late penalty); `fold` the
    grade_ids of locked cells to fold away. Without a lesson, tests are named by their grade_id.
    """
    specs = lesson.by_grade_id if lesson is not None else {}
    answers = lesson.answer_cells if lesson is not None else {}
    by_part: dict[str, list[TestLine]] = {part.name: [] for part in (lesson.parts if lesson is not None else ())}
    cells: dict[str, CellMark] = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        grade_id = meta.get("grade_id")
        if not grade_id:
            continue
        if meta.get("grade"):
            spec = specs.get(grade_id)
            part, title = (spec.part.name, spec.title) if spec else (msg.FEEDBACK_OTHER_PART, grade_id)
            line = _test_line(cell, grade_id, title)
            by_part.setdefault(part, []).append(line)
            cells[grade_id] = CellMark(CellKind.TEST, line.title, part, line.score_text, line.passed)
        elif meta.get("solution"):
            part_of = answers.get(grade_id)
            cells[grade_id] = CellMark(CellKind.ANSWER, part=part_of.name if part_of else "")
        elif meta.get("locked") and grade_id in fold:
            cells[grade_id] = CellMark(CellKind.FOLDED, lines=len(cell.source.splitlines()))
    parts = tuple(PartSection(name, tuple(tests)) for name, tests in by_part.items() if tests)
    score_sum = sum(part.score for part in parts)
    max_sum = sum(part.max_score for part in parts)
    return FeedbackPage(
        notebook=str(nbgrader.get("notebook") or ""),
        score=_number(nbgrader.get("score"), score_sum),
        max_score=_number(nbgrader.get("max_score"), max_sum),
        late_penalty=_number(nbgrader.get("late_penalty"), 0.0),
        parts=parts,
        cells=cells,
    )


def _test_line(cell: NotebookNode, grade_id: str, title: str) -> TestLine:
    """A graded cell's line: the score its metadata carries, the message its outputs hold when it scored less."""
    meta = cell.metadata["nbgrader"]
    score = _number(meta.get("score"), 0.0)
    max_score = _number(meta.get("points"), 0.0)
    if score >= max_score:
        return TestLine(grade_id, title, score, max_score)
    return TestLine(grade_id, title, score, max_score, _failure(cell))


def _failure(cell: NotebookNode) -> str:
    """Why a graded cell scored less than its points: what it raised or wrote to stderr, else a grade set by hand."""
    reported = any(
        output.get("output_type") == "error" or (output.get("output_type") == "stream" and output.get("name") == "stderr")
        for output in cell.get("outputs", [])
    )
    return cell_output(cell, passed=False) if reported else msg.FEEDBACK_MANUAL_SCORE


def _number(value: object, default: float) -> float:
    """A score from metadata or resources; nbgrader leaves None where no grade exists yet."""
    try:
        return float(value) if value is not None else default
    except (TypeError, ValueError):
        return default
