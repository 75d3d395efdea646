"""Errors the user can act on: each carries its data as fields and renders as one clear line."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _rebuild(cls: type["AutograderError"], fields: dict[str, Any], args: tuple[Any, ...]) -> "AutograderError":
    """Unpickle an error without calling its __init__ (whose arguments are its fields, not its message)."""
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(fields)
    return error


class AutograderError(Exception):
    """Base class: `str(error)` is the one line the CLI prints; errors survive pickling (batches run in process pools)."""

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild, (type(self), dict(self.__dict__), self.args)


class NotebookError(AutograderError):
    """A submission that cannot be graded; `reason` is the Spanish sentence a student reads."""

    def __init__(self, path: Path, reason: str, detail: str = "") -> None:
        self.path = Path(path)
        self.reason = reason
        self.detail = detail
        super().__init__(f"{self.path}: {reason}" + (f" ({detail})" if detail else ""))

    @classmethod
    def missing(cls, path: Path) -> "NotebookError":
        return cls(path, "el archivo no existe")

    @classmethod
    def not_a_file(cls, path: Path) -> "NotebookError":
        return cls(path, "no es un archivo")

    @classmethod
    def not_regular(cls, path: Path, kind: str) -> "NotebookError":
        """A link, a FIFO, a device or a socket where the notebook should be (never followed, never read)."""
        return cls(path, f"no es un archivo normal sino {kind}; entrega el propio cuaderno .ipynb, no un enlace ni un archivo especial")

    @classmethod
    def linked_folder(cls, path: Path) -> "NotebookError":
        """A folder of the submission is a symbolic link: the grader never follows links."""
        return cls(path, "la carpeta de la entrega es un enlace simbólico; entrega una carpeta real con tu cuaderno")

    @classmethod
    def special_in_folder(cls, path: Path, kind: str) -> "NotebookError":
        """Something in the submission's folder that is neither a folder nor a regular file (nbgrader would follow or block on it)."""
        return cls(path, f"la entrega contiene {path.name}, que no es un archivo normal sino {kind}; quítalo y vuelve a entregar")

    @classmethod
    def unreadable(cls, path: Path, error: OSError) -> "NotebookError":
        return cls(path, "no se pudo leer el archivo", error.strerror or type(error).__name__)

    @classmethod
    def too_deep(cls, path: Path) -> "NotebookError":
        return cls(path, "el cuaderno tiene datos anidados a demasiada profundidad para leerlo (¿metadatos dañados?); guárdalo de nuevo desde el cuaderno original")

    @classmethod
    def too_large(cls, path: Path) -> "NotebookError":
        return cls(path, "el cuaderno es demasiado grande para leerlo (memoria agotada)")

    @classmethod
    def empty(cls, path: Path) -> "NotebookError":
        return cls(path, "el archivo está vacío")

    @classmethod
    def binary(cls, path: Path) -> "NotebookError":
        return cls(path, "el archivo no es texto (¿un archivo binario?); entrega el cuaderno .ipynb")

    @classmethod
    def not_json(cls, path: Path, error: Exception) -> "NotebookError":
        return cls(path, "el archivo no es un cuaderno JSON válido (¿está truncado o dañado?)", str(error)[:200])

    @classmethod
    def not_notebook(cls, path: Path, detail: str) -> "NotebookError":
        return cls(path, "el JSON no es un cuaderno de Jupyter", detail)

    @classmethod
    def old_format(cls, path: Path, version: object) -> "NotebookError":
        return cls(path, f"el cuaderno usa el formato nbformat {version}; se necesita el formato 4 (guárdalo con Jupyter actual)")

    @classmethod
    def wrong_assignment(cls, path: Path, assignment: str) -> "NotebookError":
        return cls(path, f"el cuaderno no contiene las celdas de la tarea {assignment} (¿es otra tarea, o se borraron sus metadatos?)")


class GradingError(AutograderError):
    """Grading started but could not finish (the kernel died, nbgrader failed); `reason` is in Spanish."""

    def __init__(self, path: Path, reason: str, cause: str) -> None:
        self.path = Path(path)
        self.reason = reason
        self.cause = cause
        super().__init__(f"{self.path}: {reason} ({cause})")

    @classmethod
    def from_exception(cls, path: Path, error: BaseException) -> "GradingError":
        first = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
        return cls(path, "no se pudo terminar de calificar el cuaderno", f"{type(error).__name__}: {first}".rstrip(": "))

    @classmethod
    def not_filed(cls, path: Path, error: BaseException) -> "GradingError":
        """Grading finished but the result could not be filed into the course (results file, gradebook)."""
        first = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
        return cls(path, "no se pudo archivar la calificación en el curso", f"{type(error).__name__}: {first}".rstrip(": "))


class CourseError(AutograderError):
    """The course directory is missing something grading needs."""

    def __init__(self, root: Path, problem: str) -> None:
        self.root = Path(root)
        self.problem = problem
        super().__init__(f"course directory {self.root}: {problem}")

    @classmethod
    def not_found(cls, start: Path) -> "CourseError":
        return cls(start, "no nbgrader_config.py with a solutions/ directory here or above; pass --course DIR")

    @classmethod
    def no_source(cls, root: Path, assignment: str) -> "CourseError":
        return cls(root, f"no source notebook solutions/{assignment}/{assignment}.ipynb")

    @classmethod
    def no_assignments(cls, root: Path) -> "CourseError":
        return cls(root, "no assignment in solutions/ (each is solutions/NAME/NAME.ipynb)")

    @classmethod
    def ambiguous_assignment(cls, root: Path, names: list[str]) -> "CourseError":
        return cls(root, f"several assignments ({', '.join(names)}): name one with --assignment NAME")

    @classmethod
    def no_lesson(cls, root: Path, assignment: str) -> "CourseError":
        return cls(
            root,
            f"no lesson package grades assignment {assignment!r}: map it in nbgrader_config.py, "
            f'e.g. c.Lessons.assignments = {{"{assignment}": "lessons.my_lesson"}} (see docs/adding-a-lesson.md)',
        )

    @classmethod
    def unknown_students(cls, root: Path, assignments: list[str], students: list[str]) -> "CourseError":
        where = " or ".join(f"submitted/<student>/{name}/" for name in assignments)
        return cls(root, f"no submission from {', '.join(map(repr, students))} (looked for {where})")

    @classmethod
    def bad_lesson(cls, root: Path, assignment: str, module: str, problem: str) -> "CourseError":
        return cls(root, f"lesson {module!r} for assignment {assignment!r} cannot be loaded: {problem}")


class NbgraderCommandError(AutograderError):
    """An nbgrader command run on the user's behalf failed."""

    def __init__(self, command: list[str], returncode: int, tail: str) -> None:
        self.command = command
        self.returncode = returncode
        self.tail = tail
        last = tail.strip().splitlines()[-1] if tail.strip() else "no output"
        super().__init__(f"`{' '.join(command)}` exited with {returncode}: {last}")


class ReleaseOutOfSync(AutograderError):
    """The committed student release differs from what solutions/ generates."""

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths
        super().__init__(
            "the committed release is out of sync with solutions/: "
            + ", ".join(paths)
            + " (run `autograder release`)"
        )


class ResultsError(AutograderError):
    """There are no grading results to export or report on, where they were looked for."""

    def __init__(self, folder: Path, problem: str) -> None:
        self.folder = Path(folder)
        self.problem = problem
        super().__init__(f"{self.folder}: {problem}")

    @classmethod
    def missing(cls, folder: Path) -> "ResultsError":
        return cls(folder, "no results folder; run `autograder autograde` first (or pass --results-dir DIR)")

    @classmethod
    def empty(cls, folder: Path) -> "ResultsError":
        return cls(folder, "no results files (*.json) here; run `autograder autograde` first (or pass --results-dir DIR)")


class OutputError(AutograderError):
    """A generated file (export, report, a CI step's summary or outputs) could not be written."""

    def __init__(self, path: Path, detail: str) -> None:
        self.path = Path(path)
        self.detail = detail
        super().__init__(f"cannot write {self.path}: {detail}")

    @classmethod
    def from_os_error(cls, path: Path, error: OSError) -> "OutputError":
        return cls(path, error.strerror or str(error))
