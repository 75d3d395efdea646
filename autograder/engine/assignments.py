"""Which lesson package grades each assignment of a course: resolved once where a command starts, then passed down."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

from traitlets import Dict, Unicode
from traitlets.config import Config, Configurable

from autograder.engine.errors import CourseError
from autograder.engine.lesson import Lesson

# Where the lessons shipped with the engine live: an assignment named like one of them needs no entry.
SHIPPED = "autograder.lessons"


class Lessons(Configurable):
    """The course's map from assignment names to the lesson packages that grade them."""

    assignments = Dict(
        key_trait=Unicode(),
        value_trait=Unicode(),
        help=(
            "Which lesson grades each assignment: {assignment name: importable module defining LESSON}. "
            "An assignment not named here is graded by the shipped lesson of the same name "
            f"({SHIPPED}.NAME) when there is one. Modules are imported with the course root on sys.path, "
            "so a course may keep its own lesson packages beside nbgrader_config.py."
        ),
    ).tag(config=True)


def lesson_module(assignment: str, config: Config) -> str | None:
    """The module configured for `assignment`, or the shipped lesson of that name; None when neither exists."""
    mapped = Lessons(config=config).assignments.get(assignment)
    if mapped:
        return mapped
    shipped = f"{SHIPPED}.{assignment}"
    try:
        found = importlib.util.find_spec(shipped)
    except (ImportError, ValueError):
        found = None
    return shipped if found is not None else None


def load_lesson(root: Path, assignment: str, config: Config) -> Lesson:
    """The Lesson that grades `assignment` in the course at `root`; CourseError when there is none or it is broken."""
    module_name = lesson_module(assignment, config)
    if module_name is None:
        raise CourseError.no_lesson(root, assignment)
    if str(root) not in sys.path:
        sys.path.append(str(root))  # a course's own lesson packages (appended: never shadows an installed module)
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise CourseError.bad_lesson(root, assignment, module_name, f"{type(error).__name__}: {error}") from error
    lesson = getattr(module, "LESSON", None)
    if not isinstance(lesson, Lesson):
        raise CourseError.bad_lesson(root, assignment, module_name, "it defines no LESSON (an autograder.engine.lesson.Lesson)")
    return lesson


def shipped_lessons() -> dict[str, Lesson]:
    """Every lesson shipped with the engine, by package name (for a notebook checked outside any course)."""
    import pkgutil

    import autograder.lessons

    found = {}
    for info in pkgutil.iter_modules(autograder.lessons.__path__):
        lesson = getattr(importlib.import_module(f"{SHIPPED}.{info.name}"), "LESSON", None)
        if isinstance(lesson, Lesson):
            found[info.name] = lesson
    return found
