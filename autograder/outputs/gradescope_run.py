"""What Gradescope's run_autograder runs for one submission: find the notebook, pick the sandbox, grade, always leave results.json."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from autograder.engine import messages
from autograder.engine.course import Course
from autograder.engine.errors import AutograderError, CourseError, GradingError, NotebookError
from autograder.engine.results import GradingResult
from autograder.isolation.bwrap import SandboxUnavailable, check_available

ROOT_ENV = "AUTOGRADER_GRADESCOPE_ROOT"
DEFAULT_ROOT = Path("/autograder")
# Set to 1 (or put the flag file in the zip) to grade without the sandbox where it cannot start.
ALLOW_UNSANDBOXED_ENV = "AUTOGRADER_ALLOW_UNSANDBOXED"
# Names inside the unpacked zip (Gradescope puts it at <root>/source).
COURSE_DIR = "course"
ALLOW_UNSANDBOXED_FILE = "ALLOW_UNSANDBOXED"
# Folders a submission may carry that never hold the student's notebook.
IGNORED_FOLDERS = frozenset({".ipynb_checkpoints", "__MACOSX", ".git"})


@dataclass(frozen=True)
class GradescopeLayout:
    """Where Gradescope puts things: the unpacked zip, the submission, the results file and our venv."""

    root: Path

    @classmethod
    def from_env(cls) -> "GradescopeLayout":
        return cls(Path(os.environ.get(ROOT_ENV) or DEFAULT_ROOT))

    @property
    def source(self) -> Path:
        return self.root / "source"

    @property
    def course(self) -> Path:
        return self.source / COURSE_DIR

    @property
    def submission(self) -> Path:
        return self.root / "submission"

    @property
    def results(self) -> Path:
        return self.root / "results" / "results.json"

    @property
    def allow_unsandboxed_file(self) -> Path:
        return self.source / ALLOW_UNSANDBOXED_FILE

    def allows_unsandboxed(self) -> bool:
        """Whether the instructor chose grading without the sandbox where it cannot start (flag file or env var)."""
        return self.allow_unsandboxed_file.is_file() or os.environ.get(ALLOW_UNSANDBOXED_ENV) == "1"


class SubmissionError(AutograderError):
    """The submission folder holds no notebook to grade, or several; `reason` is the Spanish sentence a student reads."""

    def __init__(self, folder: Path, reason: str, found: Sequence[Path] = ()) -> None:
        self.folder = Path(folder)
        self.reason = reason
        self.found = list(found)
        super().__init__(reason)

    @classmethod
    def no_notebook(cls, folder: Path, expected: str) -> "SubmissionError":
        return cls(folder, messages.NO_NOTEBOOK.format(expected=expected))

    @classmethod
    def several(cls, folder: Path, found: Sequence[Path], expected: str) -> "SubmissionError":
        names = ", ".join(str(path.relative_to(folder)) for path in found)
        return cls(folder, messages.SEVERAL_NOTEBOOKS.format(found=names, expected=expected), found)


@dataclass(frozen=True)
class SandboxChoice:
    """Whether to grade in the sandbox; `refusal` is set when grading must not happen at all."""

    sandboxed: bool
    unavailable: str | None = None  # why the sandbox cannot start here, when it cannot
    refusal: str | None = None


@dataclass(frozen=True)
class GradescopeRun:
    """One submission's outcome on Gradescope: what was graded, how, and the result written."""

    result: GradingResult
    notebook: Path | None
    sandboxed: bool
    unavailable: str | None = None  # why the sandbox could not start here, when it could not
    refused: bool = False  # not graded because the sandbox could not start and unconfined grading is not allowed


def find_notebook(folder: Path, assignment: str) -> Path:
    """The notebook named <assignment>.ipynb anywhere in the submission, else its only notebook.

    Links are never followed: a linked folder is not entered, and a link (or a FIFO, a device) named
    like a notebook is still the one found, so grading refuses it with its reason (read_submission).
    """
    expected = f"{assignment}.ipynb"
    found = sorted(
        path
        for path in _entries(folder)
        if path.name.endswith(".ipynb") and not IGNORED_FOLDERS.intersection(path.relative_to(folder).parts)
    )
    named = [path for path in found if path.name == expected]
    candidates = named or found
    if not candidates:
        raise SubmissionError.no_notebook(folder, expected)
    if len(candidates) > 1:
        raise SubmissionError.several(folder, candidates, expected)
    return candidates[0]


def _entries(folder: Path) -> list[Path]:
    """Every name under `folder` that is not a real folder (files, links, FIFOs...), without following links."""
    out = []
    for directory, folders, names in os.walk(folder, followlinks=False):
        here = Path(directory)
        out.extend(here / name for name in names)
        out.extend(here / name for name in folders if (here / name).is_symlink())  # a link to a folder: listed, never entered
    return out


def choose_sandbox(layout: GradescopeLayout) -> SandboxChoice:
    """The sandbox where it starts; unconfined only where it cannot and the instructor allowed it."""
    try:
        check_available()
    except SandboxUnavailable as error:
        if layout.allows_unsandboxed():
            return SandboxChoice(sandboxed=False, unavailable=str(error))
        return SandboxChoice(sandboxed=False, unavailable=str(error), refusal=messages.NO_SANDBOX.format(detail=error))
    return SandboxChoice(sandboxed=True)


def run(layout: GradescopeLayout, assignment: str | None = None) -> GradescopeRun:
    """Grade the submission under layout.root and write results.json, whatever happens on the way."""
    from autograder.commands.grade import grade  # the same function as `autograder grade`, which writes results even when grading fails

    assignment = assignment or Course.at(layout.course).default_assignment()

    notebook: Path | None = None
    choice = SandboxChoice(sandboxed=False)
    try:
        notebook = find_notebook(layout.submission, assignment)
        choice = choose_sandbox(layout)
        if choice.refusal is not None:
            result = _ungradable(layout, notebook, choice.refusal, assignment)
            return GradescopeRun(result, notebook, False, choice.unavailable, refused=True)
        result = grade(notebook, layout.results, layout.course, assignment, sandbox=choice.sandboxed)
        return GradescopeRun(result, notebook, choice.sandboxed, choice.unavailable)
    except SubmissionError as error:
        return GradescopeRun(_ungradable(layout, layout.submission, error.reason, assignment), None, False)
    except (NotebookError, GradingError, SandboxUnavailable):  # grade() has written results.json saying why
        return GradescopeRun(GradingResult.read(layout.results), notebook, choice.sandboxed, choice.unavailable)
    except Exception as error:  # whatever else stopped us, the student still gets a result that says so
        failure = GradingError.from_exception(notebook or layout.submission, error)
        reason = f"{failure.reason} ({failure.cause})"
        return GradescopeRun(_ungradable(layout, notebook or layout.submission, reason, assignment), notebook, choice.sandboxed)


def _ungradable(layout: GradescopeLayout, notebook: Path, reason: str, assignment: str | None) -> GradingResult:
    """Write a zero-score result carrying the reason on every test, with each test's maximum and visibility where the course says them."""
    from autograder.adapter.pipeline import ungradable

    try:
        course = Course.at(layout.course)
        assignment = assignment or course.default_assignment()
        result = ungradable(notebook, reason, course, assignment, course.lesson(assignment))
    except (CourseError, OSError, ValueError):
        result = GradingResult(notebook=str(notebook), error=reason, assignment=assignment or "")
    result.write(layout.results)
    return result


def sandbox_report(layout: GradescopeLayout) -> str:
    """One line for setup.sh's log: can the sandbox start here, and what happens if it cannot."""
    choice = choose_sandbox(layout)
    if choice.sandboxed:
        return "sandbox: available; student code will run confined"
    if choice.refusal is None:
        return f"sandbox: unavailable ({choice.unavailable}); unsandboxed grading is allowed, so submissions run unconfined"
    return f"sandbox: unavailable ({choice.unavailable}); unsandboxed grading is not allowed, so submissions get a zero saying why"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.outputs.gradescope_run", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only report whether the sandbox can start here")
    parser.add_argument("--assignment", help="assignment name (default: the course's only one)")
    args = parser.parse_args(argv)
    layout = GradescopeLayout.from_env()
    if args.check:
        print(sandbox_report(layout))
        return 0
    outcome = run(layout, args.assignment)
    # stdout is the instructor's log on Gradescope (results.json says stdout_visibility hidden).
    if outcome.refused:
        print(f"not graded: {outcome.unavailable}")
        print("to grade without the sandbox here, rebuild the zip with `autograder gradescope --allow-unsandboxed` (see README)")
    elif outcome.unavailable:
        print(f"WARNING: graded without the sandbox (allowed by the instructor): {outcome.unavailable}")
    how = "sandboxed" if outcome.sandboxed else "not sandboxed"
    print(f"graded {outcome.notebook} ({how})" if outcome.notebook else "not graded")
    print(outcome.result.table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
