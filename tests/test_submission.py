"""Every malformed submission becomes a NotebookError with its own reason, never a traceback."""

from __future__ import annotations

import json

import nbformat
import pytest

from autograder.errors import NotebookError
from autograder.submission import read_submission

ASSIGNMENT = "activation_maxpool"


def write(tmp_path, name, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    return path


def test_release_notebook_is_accepted(course):
    notebook = read_submission(course.release_notebook(), ASSIGNMENT)
    assert notebook.nbformat == 4


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"", "vacío"),
        (b"   \n", "vacío"),
        (b"esto no es json", "JSON válido"),
        (b'{"cells": [', "JSON válido"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "no es texto"),
        (b"[1, 2, 3]", "no es un cuaderno"),
        (b'{"hola": 1}', "no es un cuaderno"),
        (json.dumps({"nbformat": 3, "nbformat_minor": 0, "worksheets": [], "metadata": {}}).encode(), "nbformat 3"),
    ],
)
def test_broken_files_get_a_reason(tmp_path, content, reason):
    path = write(tmp_path, "entrega.ipynb", content)
    with pytest.raises(NotebookError) as raised:
        read_submission(path, ASSIGNMENT)
    assert reason in raised.value.reason
    assert "\n" not in str(raised.value)


def test_truncated_release_is_not_json(tmp_path, course):
    text = course.release_notebook().read_bytes()
    path = write(tmp_path, "truncado.ipynb", text[: len(text) // 2])
    with pytest.raises(NotebookError, match="truncado"):
        read_submission(path, ASSIGNMENT)


def test_missing_path(tmp_path):
    with pytest.raises(NotebookError) as raised:
        read_submission(tmp_path / "no-existe.ipynb", ASSIGNMENT)
    assert raised.value.reason == "el archivo no existe"


def test_directory_is_not_a_notebook(tmp_path):
    with pytest.raises(NotebookError, match="no es un archivo"):
        read_submission(tmp_path, ASSIGNMENT)


def test_other_assignment_is_rejected(tmp_path):
    other = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('otra tarea')")])
    path = write(tmp_path, "otra.ipynb", nbformat.writes(other).encode())
    with pytest.raises(NotebookError, match="otra tarea"):
        read_submission(path, ASSIGNMENT)


def test_answer_cells_without_metadata_are_rejected(tmp_path, course):
    notebook = nbformat.read(course.release_notebook(), as_version=4)
    for cell in notebook.cells:
        cell.metadata.pop("nbgrader", None)
    path = write(tmp_path, "sin_metadatos.ipynb", nbformat.writes(notebook).encode())
    with pytest.raises(NotebookError, match="metadatos"):
        read_submission(path, ASSIGNMENT)
