"""Every student's results file of an assignment, read back together so they can be exported and summarised.

A cohort lives in `<course>/results/<assignment>/<student>.json` (what `autograder autograde` writes), or in any
folder of results.json-format files (`--results-dir`, e.g. files gathered from CI jobs): the file's stem names
the student, so name each one `<student>.json`. A student whose name starts with a dot (`submitted/.alice/`) is
listed like any other; a hidden file that is not a results file (an editor's or the OS's leftover, such as macOS's
`._alice.json`) is skipped, and said so (`Cohort.skipped`), rather than taken for a student.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from autograder.engine.course import Course
from autograder.engine.errors import ResultsError
from autograder.engine.lesson import Lesson
from autograder.engine.results import GradingResult

RESULTS_DIR = "results"
REPORTS_DIR = "reports"
# The longest error detail kept in an unreadable file's reason, so it stays one line.
DETAIL_CHARS = 200


def results_folder(course: Course, assignment: str) -> Path:
    """Where `autograder autograde` leaves one results file per student."""
    return course.root / RESULTS_DIR / assignment


def reports_folder(course: Course, assignment: str) -> Path:
    """Where exports and the cohort report go unless told otherwise."""
    return course.root / REPORTS_DIR / assignment


@dataclass(frozen=True)
class CohortEntry:
    """One student's results file: its result, or, when the file could not be read, an ungradable stand-in saying why."""

    student: str
    path: Path
    result: GradingResult
    unreadable: bool = False

    @property
    def ungradable(self) -> bool:
        return self.result.error is not None

    @property
    def reason(self) -> str | None:
        """Why this student has no grade (the grading error, or why the file could not be read); None when graded."""
        return self.result.error

    @property
    def review(self) -> tuple[str, ...]:
        """Why an instructor should look at this submission (GradingResult.review), in plain Spanish; empty when nothing."""
        return tuple(self.result.review)


@dataclass(frozen=True)
class Cohort:
    """The results of one assignment, one entry per student, sorted by student."""

    assignment: str
    folder: Path
    entries: tuple[CohortEntry, ...]
    skipped: tuple[Path, ...] = ()  # hidden files that are not results files (not students)
    lesson: Lesson | None = None  # what the results are of: its parts are the columns of exports and reports

    @property
    def parts(self) -> list[str]:
        """The part names, in the lesson's order (from the results themselves without a lesson)."""
        if self.lesson is not None:
            return [part.name for part in self.lesson.parts]
        return list(dict.fromkeys(p.part.name for e in self.entries for p in e.result.parts()))

    @property
    def unreadable(self) -> list[CohortEntry]:
        return [e for e in self.entries if e.unreadable]

    @property
    def flagged(self) -> list[CohortEntry]:
        """The students an instructor should look at (review marks), in the cohort's order."""
        return [e for e in self.entries if e.review]

    @property
    def graded(self) -> list[CohortEntry]:
        return [e for e in self.entries if not e.ungradable]


def load_cohort(course: Course, assignment: str, lesson: Lesson, results_dir: Path | None = None) -> Cohort:
    """Read every `<student>.json` in the results folder; ResultsError when there is none to read."""
    folder = Path(results_dir) if results_dir is not None else results_folder(course, assignment)
    if not folder.is_dir():
        raise ResultsError.missing(folder)
    paths = sorted(folder.glob("*.json"), key=lambda p: p.stem)
    entries = []
    skipped = []
    points: dict[str, float] | None = None
    for path in paths:
        try:
            entries.append(CohortEntry(path.stem, path, _read(path, lesson)))
        except (OSError, ValueError, RecursionError, MemoryError) as error:
            if path.name.startswith("."):  # hidden and not a results file: a leftover, not a student
                skipped.append(path)
                continue
            if points is None:
                points = _points(course, assignment)
            reason = unreadable_reason(error)
            entries.append(CohortEntry(path.stem, path, GradingResult.ungradable(str(path), reason, points, lesson, assignment), unreadable=True))
    if not entries:
        raise ResultsError.empty(folder)
    return Cohort(assignment, folder, tuple(entries), tuple(skipped), lesson)


def unreadable_reason(error: Exception) -> str:
    """One line saying why a results file could not be read."""
    detail = " ".join(str(error).split())[:DETAIL_CHARS]
    return f"results file could not be read ({type(error).__name__}: {detail})"


def _read(path: Path, lesson: Lesson) -> GradingResult:
    """The results file's result; OSError or ValueError when it is none (a FIFO or a device is never waited on)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise ValueError("it is not a regular file")
        raw = handle.read()
    try:
        result = GradingResult.from_gradescope(json.loads(raw.decode("utf-8")), lesson)
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"not an autograder results file ({type(error).__name__}: {error})") from error
    if not result.tests:
        raise ValueError("it holds no tests")
    return result


def _points(course: Course, assignment: str) -> dict[str, float]:
    """Each test's points from the source notebook, so an unreadable file still shows the assignment's maximum."""
    from autograder.adapter.pipeline import max_points  # imports nbgrader: only needed when a file is unreadable

    return max_points(course, assignment)
