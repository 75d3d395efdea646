"""Grading results as dataclasses, written in Gradescope's results.json format."""

from __future__ import annotations

import functools
import json
import platform
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Mapping

from autograder.engine.lesson import Lesson, Part, TestSpec, Visibility
from autograder.engine.mistakes import UNGRADABLE

# Packages whose versions decide a grade; recorded in every result.
RECORDED_PACKAGES = ("autograder", "torch", "numpy", "nbgrader", "nbclient", "ipykernel", "jupyter_client")

PASSED_OUTPUT = "Superada."


@dataclass(frozen=True)
class TestResult:
    """One graded test cell's outcome."""

    __test__ = False  # not a pytest test class

    spec: TestSpec
    score: float
    max_score: float
    output: str
    mistake: str | None = None  # the named mistake of a failing test (a checks.core.Mistake value, or "fault")

    @property
    def passed(self) -> bool:
        return self.score >= self.max_score

    def to_gradescope(self) -> dict:
        return {
            "name": self.spec.name,
            "score": self.score,
            "max_score": self.max_score,
            "output": self.output,
            "visibility": self.spec.visibility.value,
            "status": "passed" if self.passed else "failed",
            "extra_data": {"grade_id": self.spec.grade_id, "part": self.spec.part.name, "mistake": self.mistake},
        }


@dataclass(frozen=True)
class PartScore:
    part: Part
    score: float
    max_score: float


@dataclass
class GradingResult:
    """A whole notebook's grade; `error` is set (and the score 0) when it could not be graded."""

    notebook: str
    tests: list[TestResult] = field(default_factory=list)
    error: str | None = None
    execution_time: float = 0.0
    # Why an instructor should look at this submission (tampering with the grader seen while grading),
    # in plain Spanish; instructor-only (results.json's extra_data, export, report, batch summary).
    review: list[str] = field(default_factory=list)
    assignment: str = ""  # the course's assignment it was graded as (several may share one lesson)

    @classmethod
    def ungradable(cls, notebook: str, reason: str, points: dict[str, float], lesson: Lesson, assignment: str = "") -> "GradingResult":
        """Every test at zero, each carrying the reason, so the maximum stays visible."""
        tests = [TestResult(spec, 0.0, points.get(spec.grade_id, 0.0), reason, UNGRADABLE) for spec in lesson.tests]
        return cls(notebook=notebook, tests=tests, error=reason, assignment=assignment)

    @classmethod
    def from_gradescope(cls, data: dict, lesson: Lesson | None = None) -> "GradingResult":
        """A result read back from its results.json form.

        With a lesson, tests are matched to its catalogue by grade_id (an unknown one is a ValueError);
        without, each test is described by what the file itself records (grade_id, part, name).
        """
        tests = []
        for raw in data.get("tests", []):
            extra = raw.get("extra_data") or {}
            spec = _spec(raw, extra, lesson)
            spec = _with_recorded_visibility(spec, raw.get("visibility"))
            tests.append(TestResult(spec, float(raw["score"]), float(raw["max_score"]), str(raw.get("output", "")), extra.get("mistake")))
        extra = data.get("extra_data") or {}
        return cls(
            notebook=str(extra.get("notebook", "")),
            tests=tests,
            error=extra.get("error"),
            execution_time=float(data.get("execution_time", 0.0)),
            review=[str(reason) for reason in extra.get("review") or [] if isinstance(reason, str)],
            assignment=str(extra.get("assignment") or ""),
        )

    @classmethod
    def read(cls, path: Path, lesson: Lesson | None = None) -> "GradingResult":
        """Load a results.json written by `write`; ValueError (or OSError) when it is not one."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            return cls.from_gradescope(data, lesson)
        except (KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"{path}: not an autograder results file ({type(error).__name__}: {error})") from error

    def with_visibility(self, overrides: Mapping[str, Visibility]) -> "GradingResult":
        """The same result with the course's visibility on the tests it names (Course.visibility)."""
        tests = [
            replace(t, spec=replace(t.spec, visibility=overrides[t.spec.grade_id])) if t.spec.grade_id in overrides else t
            for t in self.tests
        ]
        return replace(self, tests=tests)

    @property
    def score(self) -> float:
        return 0.0 if self.error else sum(t.score for t in self.tests)

    @property
    def max_score(self) -> float:
        return sum(t.max_score for t in self.tests)

    def parts(self) -> list[PartScore]:
        """Score per part, in the catalogue's order (the order of the tests)."""
        out = []
        for part in dict.fromkeys(t.spec.part for t in self.tests):
            tests = [t for t in self.tests if t.spec.part == part]
            score = 0.0 if self.error else sum(t.score for t in tests)
            out.append(PartScore(part, score, sum(t.max_score for t in tests)))
        return out

    def to_gradescope(self) -> dict:
        summary = self.error or "  ".join(f"{p.part.name}: {p.score:g}/{p.max_score:g}" for p in self.parts())
        return {
            "score": self.score,
            "max_score": self.max_score,
            "execution_time": round(self.execution_time, 3),
            "output": summary,
            "visibility": Visibility.VISIBLE.value,
            "stdout_visibility": Visibility.HIDDEN.value,
            "tests": [t.to_gradescope() for t in self.tests],
            "extra_data": {
                "notebook": self.notebook,
                "assignment": self.assignment,
                "error": self.error,
                "review": list(self.review),
                "environment": environment(),
            },
        }

    def write(self, path: Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_gradescope(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")

    def table(self) -> str:
        """A short plain-text summary per part, for terminals and CI logs."""
        rows = [f"{p.part.name:<10} {p.score:>5g} / {p.max_score:<5g}" for p in self.parts()]
        rows.append(f"{'total':<10} {self.score:>5g} / {self.max_score:<5g}")
        if self.error:
            rows.append(f"error: {self.error}")
        return "\n".join(rows)


def _spec(raw: dict, extra: dict, lesson: Lesson | None) -> TestSpec:
    """The test a results entry is about: the lesson's, or one rebuilt from the entry."""
    grade_id = extra.get("grade_id")
    if not isinstance(grade_id, str) or not grade_id:
        raise ValueError(f"results test {raw.get('name')!r} has no grade_id")
    if lesson is not None:
        spec = lesson.by_grade_id.get(grade_id)
        if spec is None:
            raise ValueError(f"results test {raw.get('name')!r} has no grade_id of lesson {lesson.name}")
        return spec
    part_name = str(extra.get("part") or "")
    name = str(raw.get("name") or grade_id)
    title = name[len(part_name) + 2 :] if part_name and name.startswith(f"{part_name}: ") else name
    visibility = raw.get("visibility")
    in_release = visibility == Visibility.VISIBLE.value
    return TestSpec(grade_id, Part(part_name, answer="", answer_cell=""), title, in_release)


def _with_recorded_visibility(spec: TestSpec, recorded: object) -> TestSpec:
    """The spec with the visibility a results file recorded (a course's override survives export and CI); unknown values keep the catalogue's."""
    try:
        visibility = Visibility(recorded)
    except ValueError:
        return spec
    return spec if visibility is spec.visibility else replace(spec, visibility=visibility)


def environment() -> dict[str, str]:
    """Versions of Python and of the packages that decide a grade."""
    return dict(_versions())


@functools.lru_cache(maxsize=1)
def _versions() -> tuple[tuple[str, str], ...]:
    """Read once per process: each lookup scans the installed distributions (about 11 ms per results file in a batch)."""
    versions = [("python", platform.python_version())]
    for name in RECORDED_PACKAGES:
        try:
            versions.append((name, metadata.version(name)))
        except metadata.PackageNotFoundError:
            versions.append((name, "not installed"))
    return tuple(versions)
