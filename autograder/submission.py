"""Read a submitted notebook, turning every way it can be broken into a NotebookError."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
from nbformat import NotebookNode

from .catalog import ANSWER_CELLS, BY_GRADE_ID
from .errors import NotebookError

# A submission is ours when it still carries at least one of our nbgrader cells.
KNOWN_GRADE_IDS = frozenset(ANSWER_CELLS) | frozenset(BY_GRADE_ID)


def read_submission(path: Path, assignment: str) -> NotebookNode:
    """The submission as an nbformat-4 notebook of this assignment, or a NotebookError saying why not."""
    path = Path(path)
    if not path.exists():
        raise NotebookError.missing(path)
    if not path.is_file():
        raise NotebookError.not_a_file(path)
    raw = path.read_bytes()
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
    if version != 4:
        raise NotebookError.old_format(path, version)
    try:
        notebook = nbformat.reads(text, as_version=4)
        nbformat.validate(notebook)
    except nbformat.ValidationError as error:
        raise NotebookError.not_notebook(path, str(error).splitlines()[0][:200]) from error
    if not _grade_ids(notebook) & KNOWN_GRADE_IDS:
        raise NotebookError.wrong_assignment(path, assignment)
    return notebook


def _grade_ids(notebook: NotebookNode) -> set[str]:
    ids = set()
    for cell in notebook.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if isinstance(grade_id, str):
            ids.add(grade_id)
    return ids
