"""The lesson a preprocessor grades with: the one a command resolved and passed down, else the assignment's in the config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from traitlets.config import Config

from autograder.engine.assignments import load_lesson
from autograder.engine.course import Course
from autograder.engine.lesson import Lesson

RESOURCES_KEY = "autograder"
LESSON_KEY = "lesson"


def lesson_of(resources: dict[str, Any], config: Config) -> Lesson:
    """This grading's lesson; resolved once (from resources["nbgrader"]["assignment"] under plain nbgrader) and kept.

    A chain run without an assignment (a preprocessor used on its own) grades as the course's only one.
    """
    store = resources.setdefault(RESOURCES_KEY, {})
    lesson = store.get(LESSON_KEY)
    if lesson is None:
        root = Path(config.CourseDirectory.get("root", ".") or ".").resolve()
        assignment = resources.get("nbgrader", {}).get("assignment") or Course.at(root).default_assignment()
        lesson = store[LESSON_KEY] = load_lesson(root, assignment, config)
    return lesson


def hand_down(resources: dict[str, Any], lesson: Lesson) -> dict[str, Any]:
    """Resources that carry an already resolved lesson to every preprocessor of the chain."""
    resources.setdefault(RESOURCES_KEY, {})[LESSON_KEY] = lesson
    return resources
