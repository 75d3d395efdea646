"""The student's self-check: run the visible tests of their own notebook and say, per part, passed or not yet.

It runs only what the student's notebook already holds (the release's visible tests and the lesson's
helpers), in a plain local kernel: no hidden test, no solution and no sandbox are needed, because
the code is the student's own, on their own machine. It never claims a grade: hidden tests try
more cases, and the report says so.
"""

from __future__ import annotations

import asyncio
import enum
import re
import time
from dataclasses import dataclass
from pathlib import Path

from jupyter_core.utils import run_sync
from nbformat import NotebookNode

from autograder.engine import messages as msg
from autograder.engine.assignments import shipped_lessons
from autograder.engine.course import Course
from autograder.commands.localkernel import LocalKernel
from autograder.engine.errors import CourseError, NotebookError
from autograder.engine.lesson import Lesson, Part, TestSpec
from autograder.outputs.feedback import ANSI
from autograder.engine.submission import read_notebook, require_assignment

# What the lesson's helpers show in a visible test's cell (see the notebook's helper cell): an answer not ready
# (`falta(...)`: its "estado" is "pendiente" while unwritten, "fallida" when undefined or of the wrong kind),
# and the heading of a visible test not passed (printed to stderr, so that "Run All" goes on).
PENDING_MIME = "application/vnd.leccion.pendiente+json"
PENDING_STATE = "pendiente"
NOT_PASSED = "✘ Prueba visible no superada"
# A hidden-tests region of a test cell (nbgrader's delimiters, the lines that hold them included).
_HIDDEN_REGION = re.compile(r"^[^\n]*BEGIN HIDDEN TESTS[^\n]*\n.*?^[^\n]*END HIDDEN TESTS[^\n]*(\n|\Z)", re.M | re.S)
CELL_TIMEOUT = 60  # s per cell: a student's slow loop gets a message, not a hang
MAX_MESSAGE = 2000


class Status(str, enum.Enum):
    """One visible test's outcome in the student's notebook."""

    PASSED = "passed"
    FAILED = "failed"
    PENDING = "pending"  # the answer it tests is still unwritten
    MISSING = "missing"  # the test cell is not in the notebook


@dataclass(frozen=True)
class VisibleTest:
    """A visible test cell of the notebook, after running it."""

    spec: TestSpec
    status: Status
    message: str = ""


@dataclass(frozen=True)
class CheckReport:
    """Every visible test's outcome, by part, and how long the check took."""

    notebook: str
    tests: tuple[VisibleTest, ...]
    seconds: float
    parts: tuple[Part, ...] = ()

    def part_status(self, part: Part) -> Status:
        """PASSED only if every visible test of the part passed; PENDING wins over FAILED (write it first)."""
        statuses = {test.status for test in self.tests if test.spec.part == part}
        if statuses == {Status.PASSED}:
            return Status.PASSED
        if Status.PENDING in statuses:
            return Status.PENDING
        return Status.FAILED if Status.FAILED in statuses else Status.MISSING

    @property
    def all_visible_passed(self) -> bool:
        return all(test.status == Status.PASSED for test in self.tests)

    def render(self) -> str:
        """The Spanish report a student reads: per part, then each visible test not passed, then the caveat."""
        lines = [msg.CHECK_TITLE.format(notebook=Path(self.notebook).name), ""]
        for part in self.parts:
            lines.append(f"  {part.name:<11}{msg.CHECK_STATUS[self.part_status(part).value]}")
        for test in self.tests:
            if test.status != Status.PASSED:
                lines += ["", f"{test.spec.name}:", *(f"  {line}" for line in test.message.splitlines())]
        lines += ["", msg.CHECK_HIDDEN_CAVEAT, msg.CHECK_TIME.format(seconds=self.seconds)]
        return "\n".join(lines)


def check_notebook(
    path: Path,
    assignment: str | None = None,
    course: Path | None = None,
    timeout: int = CELL_TIMEOUT,
    kernel: LocalKernel | None = None,
) -> CheckReport:
    """Run `path` top to bottom in a fresh local kernel and read its visible tests' outcomes.

    The kernel starts first (or is `kernel`, from LocalKernel.started_for(path), which this closes) and
    boots (Python, IPython) while this process resolves the lesson, which may load the course's
    configuration and nbgrader with it. Only what the student's notebook holds runs: a graded test
    cell's hidden-tests region (present in solutions/) is left out, as in the release. Figures are
    skipped (AUTOGRADER_FIGURES=0, the lesson helpers' convention) to keep it fast.
    Raises NotebookError for a file that is not this assignment's notebook, GradingError if the
    kernel cannot run it at all.
    """
    kernel = kernel or LocalKernel.started_for(Path(path))
    started = kernel.created
    notebook, lesson = run_sync(_run_while_resolving)(kernel, Path(path), assignment, course, timeout)
    by_id = {cell.metadata.get("nbgrader", {}).get("grade_id"): cell for cell in notebook.cells}
    visible = [spec for spec in lesson.tests if spec.in_release]
    tests = tuple(_outcome(spec, by_id.get(spec.grade_id)) for spec in visible)
    return CheckReport(str(path), tests, time.monotonic() - started, lesson.parts)


async def _run_while_resolving(
    kernel: LocalKernel, path: Path, assignment: str | None, course: Path | None, timeout: int
) -> tuple[NotebookNode, Lesson]:
    """The executed notebook and its lesson, the notebook run in `kernel` while another thread resolves the lesson.

    Resolving may load the course's configuration (and nbgrader with it): it takes as long as the kernel's
    own start-up, and the notebook's first cells (importing torch) run meanwhile. Errors say the same as
    resolving and then reading would: the lesson's first, then the file's, then a notebook of another assignment.
    The kernel is closed in the end, whatever happened.
    """
    try:
        resolving = asyncio.ensure_future(asyncio.to_thread(resolve, path, assignment, course))
        try:
            notebook = read_notebook(path)
        except NotebookError:
            await resolving
            raise
        running = asyncio.ensure_future(kernel.run(without_hidden_tests(notebook), path, timeout))
        try:
            name, lesson = await resolving
            require_assignment(notebook, path, name, lesson)
        except BaseException:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
            raise
        await running
        return notebook, lesson
    finally:
        await kernel.close()


def resolve(path: Path, assignment: str | None, course: Path | None) -> tuple[str, Lesson]:
    """The assignment and lesson of a student's notebook: from the course when there is one, else the shipped lessons.

    A student's copy usually lives outside any course (a download, Colab): then the lesson is the
    shipped one named like the assignment (or the notebook), or the one whose cells the notebook carries.
    """
    try:
        where = Course.at(course) if course else Course.find(path.resolve().parent)
    except CourseError:
        if course:
            raise
        where = None
    if where is not None:
        name = assignment or where.default_assignment(path)
        return name, where.lesson(name)
    lessons = shipped_lessons()
    name = assignment or path.stem
    if name in lessons:
        return name, lessons[name]
    ids = _grade_ids(path)
    for lesson_name, lesson in lessons.items():
        if ids & lesson.known_grade_ids:
            return assignment or lesson_name, lesson
    raise NotebookError.wrong_assignment(path, name)


def _grade_ids(path: Path) -> set[str]:
    """The nbgrader grade_ids a notebook carries, best effort (read_submission says properly what is wrong)."""
    import json

    try:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
        return {str(c.get("metadata", {}).get("nbgrader", {}).get("grade_id")) for c in cells if isinstance(c, dict)}
    except (OSError, ValueError, AttributeError, RecursionError):
        return set()


def without_hidden_tests(notebook: NotebookNode) -> NotebookNode:
    """The notebook with each graded test cell's hidden-tests regions removed, as the release removes them.

    A student's notebook has none; solutions/ has them, and they would run hidden tests (importing
    the grader's checks, which a student's installation may lack) inside cells that check reports as visible.
    """
    for cell in notebook.cells:
        nbgrader = cell.get("metadata", {}).get("nbgrader", {})
        if not isinstance(nbgrader, dict):  # not nbgrader's: an ordinary cell (reading the results says no more)
            continue
        if cell.get("cell_type") == "code" and nbgrader.get("grade") and not nbgrader.get("solution"):
            cell.source = _HIDDEN_REGION.sub("", cell.source)
    return notebook


def _outcome(spec: TestSpec, cell: NotebookNode | None) -> VisibleTest:
    if cell is None:
        return VisibleTest(spec, Status.MISSING, msg.CHECK_MISSING)
    outputs = cell.get("outputs", [])
    for output in outputs:  # an answer not ready: unwritten (pending), or undefined / of the wrong kind (failed)
        marker = output.get("data", {}).get(PENDING_MIME)
        if marker is not None:
            if isinstance(marker, dict) and marker.get("estado", PENDING_STATE) != PENDING_STATE:
                return VisibleTest(spec, Status.FAILED, str(output["data"].get("text/plain", ""))[:MAX_MESSAGE])
            return VisibleTest(spec, Status.PENDING, msg.CHECK_PENDING)
    for output in outputs:
        if output.get("output_type") == "error":
            return VisibleTest(spec, Status.FAILED, _error_text(output))
        if output.get("output_type") == "stream" and NOT_PASSED in str(output.get("text", "")):
            # The helpers' explanation, printed (not raised, so "Run All" goes on): the lines after the heading.
            text = ANSI.sub("", str(output["text"])).split(NOT_PASSED, 1)[1].partition("\n")[2].strip()
            return VisibleTest(spec, Status.FAILED, text[:MAX_MESSAGE])
    if cell.get("execution_count") is None:
        return VisibleTest(spec, Status.FAILED, msg.CHECK_NOT_RUN)
    return VisibleTest(spec, Status.PASSED)


def _error_text(output: NotebookNode) -> str:
    """The helper's explanation for a failed comparison; for any other error, its type and the student's line."""
    ename, evalue = output.get("ename", ""), ANSI.sub("", output.get("evalue", ""))
    if ename == "AssertionError" and evalue:
        return evalue[:MAX_MESSAGE]
    frames = [ANSI.sub("", frame) for frame in output.get("traceback", [])]
    # The frame of a cell in the notebook (IPython names it "Cell In[n], line m"), the student's own line.
    own = [frame.strip() for frame in frames if "Cell In[" in frame]
    where = own[-1].splitlines()[:6] if own else []
    return "\n".join([msg.CHECK_RAISED.format(ename=ename, evalue=evalue), *where])[:MAX_MESSAGE]
