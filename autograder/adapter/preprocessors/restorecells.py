"""A test cell the student deleted must still run: put it back from the source notebook."""

from __future__ import annotations

import copy
import hashlib
import logging
import os
from pathlib import Path
from typing import Iterable, Optional, Tuple

import nbformat
from nbconvert.exporters.exporter import ResourcesDict
from nbformat.notebooknode import NotebookNode
from nbformat.v4.nbbase import random_cell_id
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import NbGraderPreprocessor
from nbgrader.utils import is_grade, is_locked, is_solution
from traitlets import Bool
from traitlets.config import Config

from autograder.engine.errors import CourseError


# Course notebooks (source, release) already parsed in this process, by the sha256 of their bytes; emptied when full.
MAX_CACHED_SOURCES = 16
_SOURCES: dict[str, NotebookNode] = {}


class RestoreCells(NbGraderPreprocessor):
    """Re-insert the source notebook's grade and locked cells that are missing from a submission.

    OverwriteCells restores the source and points of such cells only while they are present;
    a deleted test cell would simply never run. Each missing cell is copied from
    ``<source_directory>/<assignment>/<notebook>.ipynb`` (outputs cleared) right after the
    nearest preceding source cell that the submission has, or at the start when it has none.
    Cells that are also solution cells are never restored: their source is the answer key.
    """

    restore_locked = Bool(
        True,
        help="Also restore locked cells that are not graded (e.g. helper code the tests rely on); grade cells are always restored.",
    ).tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: ResourcesDict) -> Tuple[NotebookNode, ResourcesDict]:
        path = self._source_path(resources)
        if not path.is_file():
            raise CourseError(path.parent, f"RestoreCells needs the source notebook {path.name} to restore deleted cells, and it does not exist")
        source = read_notebook_once(path)
        present = {_grade_id(cell) for cell in nb.cells} - {None}
        for index, cell in enumerate(source.cells):
            if self._restorable(cell) and _grade_id(cell) not in present:
                position = self._insert_position(nb.cells, source.cells[:index], present)
                nb.cells.insert(position, self._restored(cell, nb))
                present.add(_grade_id(cell))
                self.log.warning("Cell '%s' was missing from the submission; restored it from %s", _grade_id(cell), path)
        return nb, resources

    def _source_path(self, resources: ResourcesDict) -> Path:
        return source_path(self.config, resources, self.log)

    def _restorable(self, cell: NotebookNode) -> bool:
        if _grade_id(cell) is None or is_solution(cell):
            return False
        return is_grade(cell) or (self.restore_locked and is_locked(cell))

    @staticmethod
    def _insert_position(cells: list, preceding: Iterable[NotebookNode], present: set) -> int:
        """Just after the nearest preceding source cell that the submission has; 0 when none."""
        for anchor in map(_grade_id, reversed(list(preceding))):
            if anchor in present:
                return next(i for i, cell in enumerate(cells) if _grade_id(cell) == anchor) + 1
        return 0

    @staticmethod
    def _restored(cell: NotebookNode, nb: NotebookNode) -> NotebookNode:
        restored = copy.deepcopy(cell)
        if restored.cell_type == "code":
            restored.outputs = []
            restored.execution_count = None
        if nb.get("nbformat_minor", 0) < 5:
            restored.pop("id", None)  # cell ids only exist from nbformat 4.5 on
        elif "id" not in restored or restored.id in {c.get("id") for c in nb.cells}:
            restored.id = random_cell_id()
        return restored


def source_path(config: Config, resources: ResourcesDict, log: logging.Logger | None = None) -> Path:
    """``<source_directory>/<assignment>/<notebook>.ipynb`` of the notebook being graded, from the course's configuration."""
    return _course_path(config, resources, "source_directory", log)


def release_path(config: Config, resources: ResourcesDict) -> Path:
    """``<release_directory>/<assignment>/<notebook>.ipynb``: the notebook every student was given."""
    return _course_path(config, resources, "release_directory")


def _course_path(config: Config, resources: ResourcesDict, folder_trait: str, log: logging.Logger | None = None) -> Path:
    known = CourseDirectory.class_trait_names(config=True)  # only these: others would be warned about (db_assignments)
    options = Config(CourseDirectory={k: v for k, v in config.CourseDirectory.items() if k in known})
    coursedir = CourseDirectory(config=options, **({"log": log} if log is not None else {}))
    assignment = resources["nbgrader"]["assignment"]
    notebook = resources["nbgrader"]["notebook"]
    folder = coursedir.format_path(getattr(coursedir, folder_trait), ".", assignment)
    return Path(os.path.normpath(folder)) / f"{notebook}.ipynb"


def release_code(config: Config, resources: ResourcesDict) -> frozenset[str]:
    """The code cell texts of the release notebook; empty when it cannot be read."""
    try:
        release = read_notebook_once(release_path(config, resources))
    except (OSError, KeyError, TypeError, ValueError):
        return frozenset()
    return frozenset(cell.source for cell in release.cells if cell.cell_type == "code" and isinstance(cell.source, str))


def read_notebook_once(path: Path) -> NotebookNode:
    """A course notebook, parsed once per process and content (a batch worker reads it for every submission).

    The notebook returned is shared: only read it (a restored cell is a deep copy).
    """
    raw = path.read_bytes()
    key = hashlib.sha256(raw).hexdigest()
    if key not in _SOURCES:
        if len(_SOURCES) >= MAX_CACHED_SOURCES:
            _SOURCES.clear()
        _SOURCES[key] = nbformat.reads(raw.decode("utf-8"), as_version=4)
    return _SOURCES[key]


def _grade_id(cell: NotebookNode) -> Optional[str]:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
