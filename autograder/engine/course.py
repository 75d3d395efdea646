"""Where things live in the course directory, and the nbgrader configuration it declares."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from traitlets import Dict, TraitError, Unicode
from traitlets.config import Config, Configurable
from traitlets.config.loader import PyFileConfigLoader

from autograder.engine.assignments import Lessons, load_lesson
from autograder.engine.errors import CourseError
from autograder.engine.language import Language, course_language
from autograder.engine.lesson import Lesson, Visibility

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

    def copy_to(self, target: Path) -> "Course":
        """A scratch course at `target` (replaced if there): the configuration, the sources, the course's own lesson packages and templates.

        Submissions, the gradebook and every output stay behind; a lesson module configured from a package
        that lives in the course root (lessons/, say) travels with it, so the copy grades what the original does,
        and so do the template folders the configuration names inside the root (templates/, the feedback page).
        """
        target = Path(target)
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        shutil.copy(self.root / CONFIG_FILE, target / CONFIG_FILE)
        shutil.copytree(self.root / "solutions", target / "solutions", symlinks=True)
        config = self.config()
        for folder in self.template_folders(config):
            shutil.copytree(folder, target / folder.relative_to(self.root), symlinks=True, dirs_exist_ok=True)
        for top in sorted({name.split(".")[0] for name in Lessons(config=config).assignments.values()}):
            if (self.root / top).is_dir():
                shutil.copytree(self.root / top, target / top, symlinks=True,
                                ignore=shutil.ignore_patterns("__pycache__"))
            elif (self.root / f"{top}.py").is_file():
                shutil.copy(self.root / f"{top}.py", target / f"{top}.py")
        return Course.at(target)

    def config(self) -> Config:
        """nbgrader_config.py as a traitlets Config, what `nbgrader` itself loads from here, with the root made absolute."""
        config = PyFileConfigLoader(CONFIG_FILE, path=str(self.root)).load_config()
        # The file says root = "." (nbgrader runs from the root); we may run from anywhere, and
        # steps that read course files (RestoreCells reads solutions/) must find this course.
        config.CourseDirectory.root = str(self.root)
        return config

    def template_folders(self, config: Config | None = None) -> list[Path]:
        """The nbconvert template folders the configuration names inside the course root (the feedback page's), that exist."""
        config = config if config is not None else self.config()
        named = [
            *config.HTMLExporter.get("extra_template_basedirs", []),
            *config.GenerateFeedback.HTMLExporter.get("extra_template_basedirs", []),
        ]
        found = []
        for name in named:
            folder = (self.root / name).resolve()
            if folder.is_dir() and folder.is_relative_to(self.root) and folder != self.root and folder not in found:
                found.append(folder)
        return found

    def assignments(self) -> list[str]:
        """Every assignment the course has a source for (solutions/NAME/NAME.ipynb), sorted."""
        source = self.root / "solutions"
        return sorted(d.name for d in source.iterdir() if d.is_dir() and (d / f"{d.name}.ipynb").is_file())

    def default_assignment(self, notebook: Path | None = None) -> str:
        """The assignment meant when none is named: the notebook's own name if it is one, else the course's only one."""
        names = self.assignments()
        if notebook is not None and Path(notebook).stem in names:
            return Path(notebook).stem
        if len(names) == 1:
            return names[0]
        if not names:
            raise CourseError.no_assignments(self.root)
        raise CourseError.ambiguous_assignment(self.root, names)

    def lesson(self, assignment: str, config: Config | None = None) -> Lesson:
        """The lesson that grades `assignment` (c.Lessons.assignments, or the shipped lesson of that name)."""
        self.source_notebook(assignment)  # an assignment the course does not have is named as such
        return load_lesson(self.root, assignment, config if config is not None else self.config())

    def language(self, config: Config | None = None) -> Language:
        """The language of the teacher's side for this course (c.Instructor.language); CourseError names a bad value."""
        try:
            return course_language(config if config is not None else self.config())
        except TraitError as error:
            choices = ", ".join(language.value for language in Language)
            raise CourseError(self.root, f"Instructor.language must be one of: {choices}") from error

    def visibility(self, lesson: Lesson, config: Config | None = None) -> dict[str, Visibility]:
        """The course's visibility overrides per grade_id (c.TestVisibility.overrides); CourseError names a bad entry.

        Overrides may name tests of any of the course's lessons; only this lesson's are returned.
        """
        overrides = TestVisibility(config=config if config is not None else self.config()).overrides
        known = set(lesson.by_grade_id)
        for other in self.assignments():
            try:
                known |= set(self.lesson(other, config).by_grade_id)
            except CourseError:
                pass
        resolved = {}
        for grade_id, value in overrides.items():
            if grade_id not in known:
                raise CourseError(self.root, f"TestVisibility.overrides names an unknown test: {grade_id!r}")
            try:
                if grade_id in lesson.by_grade_id:
                    resolved[grade_id] = Visibility(value)
                else:
                    Visibility(value)
            except ValueError:
                choices = ", ".join(v.value for v in Visibility)
                raise CourseError(self.root, f"TestVisibility.overrides[{grade_id!r}] = {value!r}; use one of: {choices}") from None
        return resolved

    def source_notebook(self, assignment: str) -> Path:
        path = self.root / "solutions" / assignment / f"{assignment}.ipynb"
        if not path.is_file():
            raise CourseError.no_source(self.root, assignment)
        return path

    def release_notebook(self, assignment: str) -> Path:
        return self.root / "assignments" / assignment / f"{assignment}.ipynb"

    @property
    def gradebook(self) -> Path:
        return self.root / "gradebook.db"

    @property
    def submitted(self) -> Path:
        return self.root / "submitted"
