"""The one import hidden test cells make: `from autograder.hidden import check`.

Grading never runs this (the grader replaces the hidden region with its own request); it serves the
instructor running solutions/ in their own Jupyter, where the answer is checked in the kernel itself.
The lesson is the one of the assignment whose folder the notebook runs in, else the one that has the test.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from autograder.engine.assignments import shipped_lessons
from autograder.engine.course import Course
from autograder.engine.errors import CourseError
from autograder.engine.lesson import Lesson


def check(grade_id: str, answer: Any) -> None:
    """Pass silently, or raise TestFailure with the Spanish feedback the student would read."""
    from autograder.engine import checks

    checks.check(lesson_with(grade_id, str(Path.cwd())), grade_id, answer)


@functools.lru_cache(maxsize=None)
def lesson_with(grade_id: str, where: str) -> Lesson:
    """The lesson of the assignment folder `where` is in (a course's), else the first lesson with this test."""
    candidates: list[Lesson] = []
    try:
        course = Course.find(Path(where))
        names = course.assignments()
        here = Path(where).name
        ordered = [here] if here in names else []
        for name in [*ordered, *(n for n in names if n != here)]:
            try:
                candidates.append(course.lesson(name))
            except CourseError:
                continue
    except CourseError:
        pass
    candidates += list(shipped_lessons().values())
    for lesson in candidates:
        if grade_id in lesson.by_grade_id:
            return lesson
    raise KeyError(f"no lesson has a test named {grade_id!r}")


__all__ = ["check"]
