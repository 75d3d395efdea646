"""Where things live in the course directory, and the nbgrader configuration it declares."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from .catalog import ASSIGNMENT
from .errors import CourseError

CONFIG_FILE = "nbgrader_config.py"


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
