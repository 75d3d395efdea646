"""Generate the student release in assignments/ from solutions/, and check the committed one is in sync."""

from __future__ import annotations

import filecmp
import tempfile
from pathlib import Path

from autograder.engine.course import Course
from autograder.engine.errors import ReleaseOutOfSync
from autograder.adapter.nbgrader_cli import run_nbgrader


def generate(course: Course, assignment: str, release_dir: Path | None = None, db_url: str | None = None) -> Path:
    """`nbgrader generate_assignment` into release_dir (default: assignments/); returns the assignment folder."""
    args = ["generate_assignment", assignment, "--force"]
    if release_dir is not None:
        args.append(f"--CourseDirectory.release_directory={release_dir}")
    if db_url is not None:
        args.append(f"--CourseDirectory.db_url={db_url}")
    run_nbgrader(course.root, *args)
    return (release_dir or course.root / "assignments") / assignment


def release(course: Course, assignment: str) -> Path:
    """Regenerate assignments/<assignment>/ (and register the assignment in gradebook.db)."""
    return generate(course, assignment)


def out_of_sync(course: Course, assignment: str) -> list[str]:
    """Files of the committed release that differ from a fresh generation (empty when in sync)."""
    committed = course.root / "assignments" / assignment
    with tempfile.TemporaryDirectory(prefix="autograder-release-") as scratch:
        fresh = generate(course, assignment, Path(scratch) / "release", f"sqlite:///{scratch}/gradebook.db")
        return _differences(fresh, committed, assignment)


def check_release(course: Course, assignment: str) -> None:
    """Raise ReleaseOutOfSync naming the files that differ."""
    differences = out_of_sync(course, assignment)
    if differences:
        raise ReleaseOutOfSync(differences)


def _differences(fresh: Path, committed: Path, assignment: str) -> list[str]:
    names = {p.relative_to(fresh).as_posix() for p in fresh.rglob("*") if p.is_file()}
    if committed.is_dir():
        names |= {p.relative_to(committed).as_posix() for p in committed.rglob("*") if p.is_file()}
    differing = []
    for name in sorted(names):
        a, b = fresh / name, committed / name
        if not (a.is_file() and b.is_file() and filecmp.cmp(a, b, shallow=False)):
            differing.append(f"assignments/{assignment}/{name}")
    return differing
