"""`autograder grade`: one notebook graded without a gradebook (CI, Gradescope); results.json written whatever happens."""

from __future__ import annotations

from pathlib import Path

from autograder.engine.course import Course
from autograder.engine.errors import CourseError, GradingError, NotebookError
from autograder.engine.heap import importing
from autograder.engine.lesson import Lesson
from autograder.engine.results import GradingResult
from autograder.isolation.bwrap import SandboxUnavailable, check_available
from autograder.isolation.zygote import Zygote


def grade(
    notebook: Path,
    results: Path | None = None,
    course: Path | None = None,
    assignment: str | None = None,
    sandbox: bool = True,
    feedback: Path | None = None,
) -> GradingResult:
    """Grade one notebook without a gradebook, sandboxed unless told otherwise; results.json is written even when grading fails.

    The assignment defaults to the one the notebook is named after, else the course's only one; its
    lesson is resolved here, once, and handed down.

    With `feedback`, the student's feedback page (the course's template, hidden tests' code left out) is written
    there after results.json; OutputError when it cannot be.
    """
    where = Course.at(course) if course else Course.find()
    result: GradingResult | None = None
    lesson: Lesson | None = None
    try:
        if sandbox and Zygote.available():
            # First, before the course's configuration (which imports nbgrader): torch loads in the warm
            # process on the other core meanwhile. It knows no lesson, so it can start before one is resolved.
            Zygote.shared()
        with importing():  # the course's configuration imports nbgrader; the pipeline, torch
            assignment = assignment or where.default_assignment(Path(notebook))
            lesson = where.lesson(assignment)
            if sandbox:
                check_available()
            from autograder.adapter.pipeline import grade_notebook

        graded = grade_notebook(notebook, where, assignment, lesson, sandbox=sandbox)
        result = graded.result
    except SandboxUnavailable as error:  # the machine's fault, not the student's: say so and stop
        result = _ungradable(notebook, where, assignment, lesson, str(error))
        raise
    except NotebookError as error:
        result = _ungradable(notebook, where, assignment, lesson, str(error))
        raise
    except CourseError as error:  # the course's configuration, not the submission: one line, exit 1
        result = _ungradable(notebook, where, assignment, lesson, str(error))
        raise
    except Exception as error:  # whatever stopped grading, the results file still says why
        failure = GradingError.from_exception(notebook, error)
        result = _ungradable(notebook, where, assignment, lesson, str(failure))
        raise failure from error
    finally:
        if results is not None and result is not None:
            result.write(results)
    if feedback is not None:
        from autograder.outputs.feedback_html import write_feedback

        write_feedback(feedback, graded.notebook, result, where.config(), Path(notebook).stem, lesson)
    return result


def _ungradable(notebook: Path, where: Course, assignment: str | None, lesson: Lesson | None, reason: str) -> GradingResult:
    """The results file of a notebook that was not graded: every test at zero with the reason (no tests without a lesson)."""
    if lesson is None or assignment is None:
        return GradingResult(notebook=str(notebook), error=reason, assignment=assignment or "")
    from autograder.adapter.pipeline import ungradable

    return ungradable(notebook, reason, where, assignment, lesson)
