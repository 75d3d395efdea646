"""What the engine knows of a lesson: its parts and tests, handed in by the lesson package; the engine names none."""

from __future__ import annotations

import enum
import functools
import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

if TYPE_CHECKING:
    from autograder.engine.language import Language


class Visibility(str, enum.Enum):
    """When a student may see a test's result (Gradescope's vocabulary)."""

    VISIBLE = "visible"
    AFTER_PUBLISHED = "after_published"
    HIDDEN = "hidden"


@dataclass(frozen=True)
class Part:
    """One thing a student writes: every test scores exactly one part."""

    name: str  # the column in results and exports
    answer: str  # the name the answer has in the student's notebook
    answer_cell: str  # the grade_id of its nbgrader solution cell
    is_value: bool = False  # the answer is a value (a tensor), not a function the grader calls
    # The operators that *are* what the part teaches (dispatcher names); a grading kernel refuses them.
    forbidden_ops: frozenset[str] = frozenset()
    # How students spell the taught operation, for the message when they call it (Spanish).
    spellings: str = ""

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class TestSpec:
    """A graded test cell: its grade_id, the part it scores and its Spanish title."""

    __test__ = False  # not a pytest test class

    grade_id: str
    part: Part
    title: str
    in_release: bool
    # None: the default for where the test lives (see default_visibility); a course may override it.
    visibility: Visibility | None = None

    def __post_init__(self) -> None:
        if self.visibility is None:
            object.__setattr__(self, "visibility", default_visibility(self.in_release))

    @property
    def name(self) -> str:
        """The name shown in results: always starts with the part."""
        return f"{self.part.name}: {self.title}"


def default_visibility(in_release: bool) -> Visibility:
    """A test students have in their notebook is visible; a hidden one shows once grades are published."""
    return Visibility.VISIBLE if in_release else Visibility.AFTER_PUBLISHED


def visible(grade_id: str, part: Part, title: str) -> TestSpec:
    """A test cell students have in their notebook."""
    return TestSpec(grade_id, part, title, in_release=True)


def hidden(grade_id: str, part: Part, title: str) -> TestSpec:
    """A test cell only the grader has."""
    return TestSpec(grade_id, part, title, in_release=False)


Family = Callable[[Any], Any]  # answer -> checks.core.Verdict


@dataclass(frozen=True)
class TypicalMistake:
    """A mistake students of a lesson typically make, as the grader diagnoses it: one row of the lesson's catalogue."""

    name: str  # the mistake name its verdicts carry (the engine's vocabulary or the lesson's own)
    part: str  # the part's name
    hint: str  # the Spanish hint the student gets with it
    sample: str  # the sample submission that makes this mistake and no other (tests/samples/<sample>.ipynb)
    description: str  # one English line for instructors' docs


@dataclass(frozen=True)
class Lesson:
    """A lesson package's contract with the engine: parts, tests, the families that decide them, and its words."""

    name: str  # the package's own name (an assignment maps to it)
    parts: tuple[Part, ...]
    tests: tuple[TestSpec, ...]
    # The module whose FAMILIES maps each grade_id to its family; imported on first use, because
    # families need torch and reports, exports and the CLI read a lesson without it.
    family_module: str
    # Mistake names the lesson's families recognise, with the label a teacher's report shows (English),
    # and the same names' Spanish labels (the report's default language; a name missing here shows its English label).
    mistakes: Mapping[str, str] = field(default_factory=dict)
    mistakes_es: Mapping[str, str] = field(default_factory=dict)
    # Source left in an answer cell of the student's template instead of nbgrader's stub (a value must run).
    placeholders: Mapping[str, str] = field(default_factory=dict)
    # grade_ids of locked cells the feedback page folds away (long code the student did not write, e.g. helpers).
    folded_cells: frozenset[str] = frozenset()
    # The module whose CATALOGUE lists the typical mistakes its families diagnose (TypicalMistake: the hint
    # students get, a sample that makes it); imported on first use, as the hints are hidden-test logic.
    catalogue_module: str = ""

    def __post_init__(self) -> None:
        ids = [spec.grade_id for spec in self.tests]
        if len(set(ids)) != len(ids):
            raise ValueError(f"lesson {self.name!r}: a grade_id is listed twice")
        if len({part.name for part in self.parts}) != len(self.parts):
            raise ValueError(f"lesson {self.name!r}: a part name is listed twice")
        unknown = {spec.part for spec in self.tests} - set(self.parts)
        if unknown:
            raise ValueError(f"lesson {self.name!r}: tests score parts it does not list: {sorted(map(str, unknown))}")

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without the loaded families and catalogue (a worker process imports them itself, by module name)."""
        return {k: v for k, v in self.__dict__.items() if k not in ("families", "catalogue")}

    @functools.cached_property
    def catalogue(self) -> tuple[TypicalMistake, ...]:
        """The lesson's typical mistakes, from its catalogue module (none when it names no module)."""
        if not self.catalogue_module:
            return ()
        catalogue: tuple[TypicalMistake, ...] = tuple(importlib.import_module(self.catalogue_module).CATALOGUE)
        stray = {entry.part for entry in catalogue} - {part.name for part in self.parts}
        if stray:
            raise ValueError(f"lesson {self.name!r}: its catalogue names parts it does not list: {sorted(stray)}")
        keys = [(entry.part, entry.name) for entry in catalogue]
        if len(set(keys)) != len(keys):
            raise ValueError(f"lesson {self.name!r}: a typical mistake is catalogued twice for the same part")
        return catalogue

    @functools.cached_property
    def families(self) -> Mapping[str, Family]:
        """grade_id -> family, from the family module (torch loads here)."""
        families: Mapping[str, Family] = importlib.import_module(self.family_module).FAMILIES
        missing = set(self.by_grade_id) - set(families)
        if missing:
            raise ValueError(f"lesson {self.name!r}: no family for {sorted(missing)}")
        return families

    @property
    def mistake_labels(self) -> dict[str, str]:
        """Every mistake name a result of this lesson may carry, with its English report label."""
        from autograder.engine.mistakes import LABELS

        return {**LABELS, **self.mistakes}

    def labels(self, language: "Language") -> dict[str, str]:
        """Every mistake name a result of this lesson may carry, with its report label in `language`."""
        from autograder.engine.language import Language
        from autograder.engine.mistakes import labels

        if language is Language.EN:
            return self.mistake_labels
        return {**labels(language), **self.mistakes, **self.mistakes_es}

    @functools.cached_property
    def by_grade_id(self) -> dict[str, TestSpec]:
        return {spec.grade_id: spec for spec in self.tests}

    @property
    def answer_cells(self) -> dict[str, Part]:
        """The nbgrader solution cells, one per part."""
        return {part.answer_cell: part for part in self.parts}

    @property
    def known_grade_ids(self) -> frozenset[str]:
        """Every nbgrader grade_id a notebook of this lesson may carry."""
        return frozenset(self.answer_cells) | frozenset(self.by_grade_id)

    def spec(self, grade_id: str) -> TestSpec:
        """The test registered under grade_id; a KeyError names the unknown id."""
        try:
            return self.by_grade_id[grade_id]
        except KeyError:
            raise KeyError(f"unknown test grade_id in lesson {self.name!r}: {grade_id!r}") from None

    def part(self, name: str) -> Part:
        """The part called `name`; a KeyError names it."""
        for part in self.parts:
            if part.name == name:
                return part
        raise KeyError(f"unknown part in lesson {self.name!r}: {name!r}")

    def blocked_operators(self) -> list[str]:
        """Every operator a grading kernel refuses: those of all parts (a part's answer never needs another's)."""
        return sorted(set().union(*(part.forbidden_ops for part in self.parts)))
