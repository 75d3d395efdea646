"""Grade sample submissions twice, one by one with `autograder grade` and as a course batch with `autograder autograde`, and print both tables."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path
from typing import Sequence

from autograder.commands.autograde import autograde
from autograder.commands.grade import grade
from autograder.engine.course import Course
from autograder.engine.errors import NotebookError

DEMO_DIR = Path("demo")


def _scratch_course(course: Course, target: Path, samples: Sequence[Path], assignment: str) -> Course:
    """A scratch copy of the course with each sample as the submission of a student named after it."""
    scratch = course.copy_to(target)
    for sample in samples:
        folder = scratch.submitted / sample.stem / assignment
        folder.mkdir(parents=True)
        shutil.copy(sample, folder / f"{assignment}.ipynb")
    return scratch


def _row(name: str, parts: dict[str, float], total: float) -> str:
    return f"{name:<22}" + "".join(f"{score:>14g}" for score in parts.values()) + f"{total:>8g}"


def _header(maxima: dict[str, float]) -> str:
    return f"{'sample':<22}" + "".join(f"{name + '/' + format(top, 'g'):>14}" for name, top in maxima.items()) + f"{'total':>8}"


def main(argv: Sequence[str] | None = None) -> int:
    samples = [Path(p) for p in (argv if argv is not None else sys.argv[1:])]
    course = Course.find()
    assignment = course.default_assignment()
    results_dir = DEMO_DIR / "results"
    print(f"== autograder grade ({len(samples)} samples; results in {results_dir}/)")
    started = time.monotonic()
    header_done = False
    for sample in samples:
        try:
            result = grade(sample, results_dir / f"{sample.stem}.json", course.root, assignment)
        except NotebookError as error:
            print(f"{sample.stem:<22} cannot grade: {error.reason}")
            continue
        parts = {p.part.name: p.score for p in result.parts()}
        if not header_done:
            print(_header({p.part.name: p.max_score for p in result.parts()}))
            header_done = True
        print(_row(sample.stem, parts, result.score))
    print(f"({time.monotonic() - started:.1f} s)")

    print("== `autograder autograde` (parallel, filed into gradebook.db by nbgrader) in a scratch copy of the course (demo/course)")
    started = time.monotonic()
    scratch = _scratch_course(course, (DEMO_DIR / "course").resolve(), samples, assignment)
    batch = autograde(scratch, assignment, scratch.lesson(assignment))
    if batch.scores:
        print(_header(batch.scores[0].max_parts))
    for row in batch.scores:
        print(_row(row.student, row.parts, row.score))
    for student, reason in batch.failures.items():
        print(f"{student:<22} not graded: {reason}")
    print(f"({time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
