"""Scratch courses for tests: a copy of the repository's course with sample notebooks submitted under student names."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Sequence

from activation import ASSIGNMENT
from autograder.engine.course import Course


def stage_course(course: Course, target: Path, samples: Sequence[Path], assignment: str = ASSIGNMENT) -> Course:
    """A scratch copy of the course with each sample as the submission of a student named after it."""
    staged = course.copy_to(target)
    for sample in samples:
        submit(staged.root, sample.stem, assignment, sample)
    return staged


def submit(root: Path, student: str, assignment: str, notebook: Path) -> Path:
    """Put `notebook` where nbgrader looks for a student's submission: submitted/<student>/<assignment>/<assignment>.ipynb."""
    folder = root / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(notebook, folder / f"{assignment}.ipynb")
    return folder
