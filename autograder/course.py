"""Where things live in the course directory, and the nbgrader configuration it declares."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from traitlets import Dict, Unicode
from traitlets.config import Config, Configurable
from traitlets.config.loader import PyFileConfigLoader

from .catalog import ASSIGNMENT, BY_GRADE_ID, Visibility
from .errors import CourseError

CONFIG_FILE = "nbgrader_config.py"


class TestVisibility(Configurable):
    """When students see each test's result, where a course wants other than the catalogue's default."""

    __test__ = False  # not a pytest test class

    overrides = Dict(
        key_trait=Unicode(),
        value_trait=Unicode(),
        help=(
            "Visibility per test grade_id ('visible', 'after_published' or 'hidden', Gradescope's words); "
            "tests not named keep the default: visible when in the student's notebook, after_published when hidden."
        ),
    ).tag(config=True)


@dataclass(frozen=True)
class Course:
    """An nbgrader course directory: solutions/ as source, assignments/ as release."""

    root: Path

    @classmethod
    def find(cls, start: Path | None = None) -> "Course":
        """The course at $AUTOGRADER_COURSE, or the nearest directory at or above `start` that holds one."""
        if os.environ.get("AUTOGRADER_COURSE"):
            return cls.at(Path(os.environ["AUTOGRADER_COURSE"]))
        here = (start or Path.cwd()).resolve()
        for candidate in (here, *here.parents):
            if (candidate / CONFIG_FILE).is_file() and (candidate / "solutions").is_dir():
                return cls(candidate)
        raise CourseError.not_found(here)

    @classmethod
    def at(cls, root: Path) -> "Course":
        root = Path(root).resolve()
        if not (root / CONFIG_FILE).is_file() or not (root / "solutions").is_dir():
            raise CourseError.not_found(root)
        return cls(root)

    def config(self) -> Config:
        """nbgrader_config.py as a traitlets Config, what `nbgrader` itself loads from here, with the root made absolute."""
        config = PyFileConfigLoader(CONFIG_FILE, path=str(self.root)).load_config()
        # The file says root = "." (nbgrader runs from the root); we may run from anywhere, and
        # steps that read course files (RestoreCells reads solutions/) must find this course.
        config.CourseDirectory.root = str(self.root)
        return config

    def visibility(self, config: Config | None = None) -> dict[str, Visibility]:
        """The course's visibility overrides per grade_id (c.TestVisibility.overrides); CourseError names a bad entry."""
        overrides = TestVisibility(config=config if config is not None else self.config()).overrides
        resolved = {}
        for grade_id, value in overrides.items():
            if grade_id not in BY_GRADE_ID:
                raise CourseError(self.root, f"TestVisibility.overrides names an unknown test: {grade_id!r}")
            try:
                resolved[grade_id] = Visibility(value)
            except ValueError:
                choices = ", ".join(v.value for v in Visibility)
                raise CourseError(self.root, f"TestVisibility.overrides[{grade_id!r}] = {value!r}; use one of: {choices}") from None
        return resolved

    def source_notebook(self, assignment: str = ASSIGNMENT) -> Path:
        path = self.root / "solutions" / assignment / f"{assignment}.ipynb"
        if not path.is_file():
            raise CourseError.no_source(self.root, assignment)
        return path

    def release_notebook(self, assignment: str = ASSIGNMENT) -> Path:
        return self.root / "assignments" / assignment / f"{assignment}.ipynb"

    @property
    def gradebook(self) -> Path:
        return self.root / "gradebook.db"

    @property
    def submitted(self) -> Path:
        return self.root / "submitted"
