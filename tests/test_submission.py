"""Every malformed submission becomes a NotebookError with its own reason, never a traceback."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest

from activation import ASSIGNMENT, LESSON
from autograder.engine.errors import NotebookError
from autograder.engine.submission import compile_schema_checks, read_submission



def write(tmp_path, name, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    return path


def test_release_notebook_is_accepted(course):
    notebook = read_submission(course.release_notebook(ASSIGNMENT), ASSIGNMENT, lesson=LESSON)
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
        # Version 4 on the outside, parts of the wrong kind inside: a reason, never a crash.
        (json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "worksheets": []}).encode(), "no es un cuaderno"),
        (json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [5]}).encode(), "no es un cuaderno"),
        (json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code", "source": ["a"], "outputs": [7]}]}).encode(), "no es un cuaderno"),
        (json.dumps({"nbformat": 4.0, "nbformat_minor": 5, "metadata": {}, "cells": []}).encode(), "no es un cuaderno"),
        (json.dumps({"nbformat": 4, "nbformat_minor": "5", "metadata": {}, "cells": []}).encode(), "no es un cuaderno"),
        (json.dumps({"nbformat": True, "nbformat_minor": 5, "metadata": {}, "cells": []}).encode(), "no es un cuaderno"),
        (json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
            {"cell_type": "markdown", "id": [], "metadata": {}, "source": ""},
            {"cell_type": "markdown", "id": [], "metadata": {}, "source": ""}]}).encode(), "no es un cuaderno"),
    ],
)
def test_broken_files_get_a_reason(tmp_path, content, reason):
    path = write(tmp_path, "entrega.ipynb", content)
    with pytest.raises(NotebookError) as raised:
        read_submission(path, ASSIGNMENT, lesson=LESSON)
    assert reason in raised.value.reason
    assert "\n" not in str(raised.value)


def test_truncated_release_is_not_json(tmp_path, course):
    text = course.release_notebook(ASSIGNMENT).read_bytes()
    path = write(tmp_path, "truncado.ipynb", text[: len(text) // 2])
    with pytest.raises(NotebookError, match="truncado"):
        read_submission(path, ASSIGNMENT, lesson=LESSON)


def test_missing_path(tmp_path):
    with pytest.raises(NotebookError) as raised:
        read_submission(tmp_path / "no-existe.ipynb", ASSIGNMENT, lesson=LESSON)
    assert raised.value.reason == "el archivo no existe"


def test_directory_is_not_a_notebook(tmp_path):
    with pytest.raises(NotebookError, match="no es un archivo"):
        read_submission(tmp_path, ASSIGNMENT, lesson=LESSON)


def test_other_assignment_is_rejected(tmp_path):
    other = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('otra tarea')")])
    path = write(tmp_path, "otra.ipynb", nbformat.writes(other).encode())
    with pytest.raises(NotebookError, match="otra tarea"):
        read_submission(path, ASSIGNMENT, lesson=LESSON)


def test_answer_cells_without_metadata_are_rejected(tmp_path, course):
    notebook = nbformat.read(course.release_notebook(ASSIGNMENT), as_version=4)
    for cell in notebook.cells:
        cell.metadata.pop("nbgrader", None)
    path = write(tmp_path, "sin_metadatos.ipynb", nbformat.writes(notebook).encode())
    with pytest.raises(NotebookError, match="metadatos"):
        read_submission(path, ASSIGNMENT, lesson=LESSON)


@pytest.mark.parametrize("damaged", ["x", 3, ["grade_id", "relu_impl"], None])
def test_nbgrader_metadata_that_is_not_a_mapping_is_a_reason_naming_the_cell(tmp_path, course, damaged):
    data = json.loads(course.release_notebook(ASSIGNMENT).read_text(encoding="utf-8"))
    first_code = next(index for index, cell in enumerate(data["cells"]) if cell["cell_type"] == "code")
    data["cells"][first_code]["metadata"]["nbgrader"] = damaged
    path = write(tmp_path, "metadatos_rotos.ipynb", json.dumps(data).encode())
    with pytest.raises(NotebookError, match=f"metadatos 'nbgrader' de la celda {first_code + 1} están dañados"):
        read_submission(path, ASSIGNMENT, lesson=LESSON)


# --- only regular files, opened without following links ------------------------------------------------------


def test_a_link_is_refused_even_to_the_solution(tmp_path, course):
    link = tmp_path / "entrega.ipynb"
    link.symlink_to(course.source_notebook(ASSIGNMENT))
    with pytest.raises(NotebookError) as raised:
        read_submission(link, ASSIGNMENT, lesson=LESSON)
    assert "enlace simbólico" in raised.value.reason and raised.value.path == link


def test_a_fifo_is_refused_at_once_never_waited_on(tmp_path):
    fifo = tmp_path / "entrega.ipynb"
    os.mkfifo(fifo)  # nobody ever writes to it: an open or read that waits would hang here
    with pytest.raises(NotebookError, match="FIFO"):
        read_submission(fifo, ASSIGNMENT, lesson=LESSON)


def test_a_device_is_refused():
    with pytest.raises(NotebookError, match="dispositivo"):
        read_submission(Path("/dev/null"), ASSIGNMENT, lesson=LESSON)


def test_a_link_to_a_device_is_refused_as_a_link(tmp_path):
    (tmp_path / "entrega.ipynb").symlink_to("/dev/zero")
    with pytest.raises(NotebookError, match="enlace simbólico"):
        read_submission(tmp_path / "entrega.ipynb", ASSIGNMENT, lesson=LESSON)


def test_within_a_folder_a_linked_folder_on_the_way_is_refused(tmp_path, course):
    (tmp_path / "alumno").symlink_to(course.source_notebook(ASSIGNMENT).parent)
    notebook = tmp_path / "alumno" / f"{ASSIGNMENT}.ipynb"
    assert read_submission(notebook, ASSIGNMENT, lesson=LESSON).nbformat == 4  # the caller's own path: only the file itself is checked
    with pytest.raises(NotebookError) as raised:
        read_submission(notebook, ASSIGNMENT, lesson=LESSON, within=tmp_path)
    assert raised.value.path == tmp_path / "alumno" and "enlace simbólico" in raised.value.reason


def test_within_a_folder_a_real_path_is_read(tmp_path, course):
    folder = tmp_path / "alumno" / ASSIGNMENT
    folder.mkdir(parents=True)
    notebook = write(folder, f"{ASSIGNMENT}.ipynb", course.release_notebook(ASSIGNMENT).read_bytes())
    assert read_submission(notebook, ASSIGNMENT, lesson=LESSON, within=tmp_path).nbformat == 4


def test_json_nested_too_deep_is_a_reason_not_a_recursion_error(tmp_path, course):
    data = json.loads(course.release_notebook(ASSIGNMENT).read_text(encoding="utf-8"))
    data["cells"][0]["metadata"]["anidado"] = "@@"
    path = write(tmp_path, "anidado.ipynb", json.dumps(data).replace('"@@"', "[" * 100_000 + "]" * 100_000).encode())
    with pytest.raises(NotebookError) as raised:
        read_submission(path, ASSIGNMENT, lesson=LESSON)
    assert "anidados a demasiada profundidad" in raised.value.reason
    assert isinstance(raised.value.__cause__, RecursionError)


def test_the_schema_checks_compiled_ahead_are_those_reading_and_filing_use(course, monkeypatch):
    """A batch's command compiles them before forking its workers: neither a submission's check nor the relaxed
    one of its executed copy compiles another (each compile costs about 30 ms per process)."""
    import fastjsonschema
    import nbformat.validator

    monkeypatch.setattr(nbformat.validator, "validators", {})  # as in a process that has checked nothing yet
    compile_schema_checks()
    name = nbformat.validator.get_current_validator().name
    assert set(nbformat.validator.validators) == {(name, 4, nbformat.v4.nbformat_minor, relaxed) for relaxed in (False, True)}
    compiled: list[object] = []
    original = fastjsonschema.compile
    monkeypatch.setattr(fastjsonschema, "compile", lambda *args, **kwargs: compiled.append(args) or original(*args, **kwargs))
    notebook = read_submission(course.release_notebook(ASSIGNMENT), ASSIGNMENT, lesson=LESSON)
    nbformat.validate(notebook, relax_add_props=True)
    nbformat.writes(notebook)  # checks it too
    assert compiled == []
