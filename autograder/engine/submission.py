"""Read a submitted notebook, turning every way it can be broken into a NotebookError."""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from autograder.engine.errors import NotebookError
from autograder.engine.lesson import Lesson


# Opening never follows a link at the last step and never waits (a FIFO opens at once, and is then refused).
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def file_kind(mode: int) -> str:
    """What a file that is not a regular one is, in the words of a reason (Spanish)."""
    if stat.S_ISLNK(mode):
        return "un enlace simbólico"
    if stat.S_ISFIFO(mode):
        return "una tubería con nombre (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "un dispositivo"
    if stat.S_ISSOCK(mode):
        return "un socket"
    if stat.S_ISDIR(mode):
        return "una carpeta"
    return "un archivo especial"


def read_regular(path: Path, within: Path | None = None) -> bytes:
    """The bytes of `path` when it is a regular file, opened without following links; NotebookError otherwise.

    The file is opened first and checked on the open descriptor (fstat), so nothing can be swapped in
    between the check and the read. With `within`, every folder from there down to the file is opened
    the same way, so a link anywhere below `within` is refused too (a linked folder is never entered).
    """
    path = Path(path)
    try:
        fd = _open_nofollow(path, within)
    except NotebookError:
        raise
    except (FileNotFoundError, NotADirectoryError):
        raise NotebookError.missing(path) from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise NotebookError.not_regular(path, file_kind(stat.S_IFLNK)) from None
        if error.errno == errno.ENXIO:  # a socket (or a device with nothing behind it)
            raise NotebookError.not_regular(path, _kind_at(path)) from None
        raise NotebookError.unreadable(path, error) from error
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise NotebookError.not_a_file(path)
        if not stat.S_ISREG(mode):
            raise NotebookError.not_regular(path, file_kind(mode))
        with os.fdopen(fd, "rb") as handle:
            fd = -1  # the handle owns it now
            return handle.read()
    except OSError as error:
        raise NotebookError.unreadable(path, error) from error
    except MemoryError as error:
        raise NotebookError.too_large(path) from error
    finally:
        if fd >= 0:
            os.close(fd)


def _open_nofollow(path: Path, within: Path | None) -> int:
    """A descriptor on `path` opened with _OPEN_FLAGS; below `within` each folder opened without following links."""
    if within is None:
        return os.open(path, _OPEN_FLAGS)
    within = Path(within)
    parts = path.relative_to(within).parts  # ValueError when it is not below: a caller's mistake
    folder = os.open(within, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for depth, part in enumerate(parts[:-1], start=1):
            try:
                inner = os.open(part, _DIRECTORY_FLAGS, dir_fd=folder)
            except OSError as error:
                if error.errno in (errno.ELOOP, errno.ENOTDIR) and os.path.islink(within.joinpath(*parts[:depth])):
                    raise NotebookError.linked_folder(within.joinpath(*parts[:depth])) from None
                raise
            os.close(folder)
            folder = inner
        return os.open(parts[-1], _OPEN_FLAGS, dir_fd=folder)
    finally:
        os.close(folder)


def _kind_at(path: Path) -> str:
    try:
        return file_kind(os.lstat(path).st_mode)
    except OSError:
        return "un archivo especial"


def read_submission(path: Path, assignment: str, *, lesson: Lesson, within: Path | None = None) -> NotebookNode:
    """The submission as an nbformat-4 notebook of this assignment, or a NotebookError saying why not.

    It is the assignment's when it still carries at least one of the lesson's nbgrader cells.

    Only a regular file is read (never through a link, never a FIFO or a device: see read_regular);
    a notebook too deeply nested or too large to parse is a NotebookError too, not a crash.
    """
    notebook = read_notebook(path, within)
    require_assignment(notebook, Path(path), assignment, lesson)
    return notebook


def read_notebook(path: Path, within: Path | None = None) -> NotebookNode:
    """The file as a valid nbformat-4 notebook of any assignment (read_submission, before its lesson is known)."""
    path = Path(path)
    raw = read_regular(path, within)
    try:
        return _parse(path, raw)
    except RecursionError as error:
        raise NotebookError.too_deep(path) from error
    except MemoryError as error:
        raise NotebookError.too_large(path) from error


def require_assignment(notebook: NotebookNode, path: Path, assignment: str, lesson: Lesson) -> None:
    """A NotebookError unless the notebook still carries at least one of the lesson's nbgrader cells."""
    if not _grade_ids(notebook) & lesson.known_grade_ids:
        raise NotebookError.wrong_assignment(path, assignment)


def _parse(path: Path, raw: bytes) -> NotebookNode:
    if not raw.strip():
        raise NotebookError.empty(path)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise NotebookError.binary(path) from None
    if "\x00" in text:
        raise NotebookError.binary(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise NotebookError.not_json(path, error) from error
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        raise NotebookError.not_notebook(path, "falta la lista 'cells'")
    version = data.get("nbformat")
    if type(version) is int and version != 4:  # noqa: E721 - 4.0 and True are not versions either
        raise NotebookError.old_format(path, version)
    if type(version) is not int or type(data.get("nbformat_minor", 0)) is not int:  # noqa: E721
        raise NotebookError.not_notebook(path, "'nbformat' y 'nbformat_minor' deben ser números enteros")
    try:
        # What nbformat.reads(text, as_version=4) makes of it (a v4 notebook is not converted), from the parse
        # above and checked once: reads would parse the text again and check it only to log what is wrong.
        notebook = nbformat.v4.to_notebook_json(data)
        nbformat.validate(notebook)
    except nbformat.ValidationError as error:
        raise NotebookError.not_notebook(path, str(error).splitlines()[0][:200]) from error
    except (AttributeError, TypeError, AssertionError) as error:  # parts of the wrong kind, which nbformat trips on
        raise NotebookError.not_notebook(path, f"a part of the wrong kind ({type(error).__name__}: {error})"[:200]) from error
    for number, cell in enumerate(notebook.cells, start=1):
        # nbformat lets any metadata through; nbgrader, and every step after it, needs this one to be a mapping.
        if not isinstance(cell.get("metadata", {}).get("nbgrader", {}), dict):
            raise NotebookError.not_notebook(path, f"los metadatos 'nbgrader' de la celda {number} están dañados")
    return notebook


def compile_schema_checks() -> None:
    """nbformat's checks of the current notebook format, compiled now: a process that forks grading workers calls it first.

    nbformat compiles a schema into a Python validator on its first use in each process (about 30 ms each; a
    strict one to read a submission, a relaxed one for its executed copy). Compiled in the batch's command
    before the first worker is forked, every worker inherits both instead of compiling the strict one again.
    """
    from nbformat.validator import get_validator

    for relaxed in (False, True):
        get_validator(4, nbformat.v4.nbformat_minor, relax_add_props=relaxed)


def _grade_ids(notebook: NotebookNode) -> set[str]:
    """The grade_ids the notebook's cells carry; nbgrader metadata that is not a mapping carries none."""
    ids = set()
    for cell in notebook.cells:
        nbgrader = cell.get("metadata", {}).get("nbgrader", {})
        grade_id = nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None
        if isinstance(grade_id, str):
            ids.add(grade_id)
    return ids
