"""A pasted copy of an nbgrader cell (same grade_id) costs nothing: the last copy is the graded one, every copy runs.

Unit tests apply DeduplicateCells to the real release notebook; the sanitize tests run the course's
sanitize chain (scratch gradebook, no kernel); the e2e tests grade copies of the perfect sample with
`autograder grade`'s pipeline and with plain `nbgrader autograde` (a batch in a scratch course).
"""

from __future__ import annotations

import copy
import logging
import tempfile
from pathlib import Path
from typing import Callable

import nbformat
import pytest
from nbformat.notebooknode import NotebookNode
from nbformat.v4.nbbase import random_cell_id
from nbgrader.converters.autograde import Autograde
from nbgrader.converters.generate_assignment import GenerateAssignment
from nbgrader.nbgraderformat import MetadataValidator
from traitlets.config import Config

from autograder.commands.autograde import autograde
from activation import ASSIGNMENT, LESSON, PARTS
from staging import stage_course
from autograder.adapter.nbgrader_cli import open_gradebook
from autograder.adapter.pipeline import grade_notebook, run_chain
from autograder.adapter.preprocessors import DeduplicateCells
from conftest import EXPECTED_SCORES, SAMPLES

LOG = logging.getLogger("test.deduplicatecells")
NOTE = "# Copia de la celda «{}»"


def grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def is_graded(cell) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("grade"))


def ids(nb) -> list[str]:
    return [gid for gid in map(grade_id, nb.cells) if gid is not None]


def index_of(nb, gid: str) -> int:
    return next(i for i, cell in enumerate(nb.cells) if grade_id(cell) == gid)


def pasted(nb, gid: str, at: int | None = None, source: str | None = None) -> NotebookNode:
    """nb with a Jupyter-style copy of the cell `gid` (same metadata, new cell id) at `at` (default: just below it)."""
    nb = copy.deepcopy(nb)
    cell = copy.deepcopy(nb.cells[index_of(nb, gid)])
    cell.id = random_cell_id()
    if source is not None:
        cell.source = source
    nb.cells.insert(index_of(nb, gid) + 1 if at is None else at, cell)
    return nb


def copies(nb, gid: str) -> list[NotebookNode]:
    """The cells that are copies of `gid`: the graded one and the earlier ones, which carry the note."""
    return [c for c in nb.cells if grade_id(c) == gid or c.source.startswith(NOTE.format(gid))]


@pytest.fixture(scope="module")
def release(course) -> NotebookNode:
    return nbformat.read(course.release_notebook(ASSIGNMENT), as_version=4)


@pytest.fixture(scope="module")
def source(course) -> NotebookNode:
    return nbformat.read(course.source_notebook(ASSIGNMENT), as_version=4)


def deduplicate(nb, config: Config | None = None) -> NotebookNode:
    nb, _ = DeduplicateCells(config=config or Config(), log=LOG)(copy.deepcopy(nb), {})
    return nb


# --- unit: DeduplicateCells on the real release notebook ----------------------------------------


def test_duplicated_answer_cell_runs_twice_and_only_the_last_copy_is_the_answer_cell(release):
    student = pasted(release, "relu_impl", source="def relu(z):\n    return z\n")
    nb = deduplicate(student)
    first, last = nb.cells[index_of(student, "relu_impl")], nb.cells[index_of(student, "relu_impl") + 1]
    assert "nbgrader" not in first.metadata
    assert first.source == NOTE.format("relu_impl") + ": se ejecuta como código normal; solo la última copia cuenta como esa celda.\n" + release.cells[index_of(release, "relu_impl")].source
    assert grade_id(last) == "relu_impl" and last.source == "def relu(z):\n    return z\n"
    assert ids(nb) == ids(release) and len(nb.cells) == len(release.cells) + 1
    MetadataValidator().validate_nb(nb)  # CheckCellMetadata's check: no SchemaTooOldError
    nbformat.validate(nb)


def test_three_copies_of_a_test_cell_with_different_contents_leave_one_test_cell(release):
    student = pasted(pasted(release, "relu_batch", source="print('mi prueba')"), "relu_batch", at=3)
    nb = deduplicate(student)
    assert ids(nb) == ids(release)
    last = max(i for i, cell in enumerate(student.cells) if grade_id(cell) == "relu_batch")
    [graded] = [cell for cell in nb.cells if grade_id(cell) == "relu_batch"]
    assert graded is nb.cells[last]
    assert graded.metadata.nbgrader["points"] == 1 and graded.source == "print('mi prueba')"  # OverwriteCells restores it
    assert len(copies(nb, "relu_batch")) == 3
    MetadataValidator().validate_nb(nb)


def test_copied_locked_helpers_stay_as_ordinary_code_where_they_were_pasted(release):
    # Pasted at the very end: the original, now an ordinary copy, still defines the helpers first.
    student = pasted(release, "helpers", at=len(release.cells))
    nb = deduplicate(student)
    original = nb.cells[index_of(release, "helpers")]
    assert "nbgrader" not in original.metadata and original.source.endswith(release.cells[index_of(release, "helpers")].source)
    assert grade_id(nb.cells[-1]) == "helpers"
    MetadataValidator().validate_nb(nb)


def test_every_nbgrader_cell_duplicated_keeps_one_of_each(release):
    nb = copy.deepcopy(release)
    for gid in ids(release):
        nb = pasted(nb, gid)
    nb = deduplicate(nb)
    assert ids(nb) == ids(release)
    assert sum(map(is_graded, nb.cells)) == sum(map(is_graded, release.cells)) == 22
    MetadataValidator().validate_nb(nb)
    nbformat.validate(nb)


def test_markdown_copy_gets_no_note(release):
    task = nbformat.v4.new_markdown_cell("**Tarea:** explica la salida.")
    task.metadata.nbgrader = {"grade": False, "solution": False, "locked": True, "task": True, "grade_id": "explica", "points": 1, "schema_version": 3}
    with_task = copy.deepcopy(release)
    with_task.cells.append(task)
    nb = deduplicate(pasted(with_task, "explica"))
    assert nb.cells[-2].source == task.source and "nbgrader" not in nb.cells[-2].metadata
    assert grade_id(nb.cells[-1]) == "explica"
    MetadataValidator().validate_nb(nb)


def test_cell_magic_stays_on_the_first_line(release):
    nb = deduplicate(pasted(release, "relu_impl", at=index_of(release, "relu_impl"), source="%%time\ndef relu(z):\n    return z\n"))
    assert nb.cells[index_of(release, "relu_impl")].source.startswith("%%time\n")
    MetadataValidator().validate_nb(nb)


def test_note_can_be_turned_off(release):
    config = Config()
    config.DeduplicateCells.note = ""
    student = pasted(release, "relu_impl")
    nb = deduplicate(student, config)
    assert nb.cells[index_of(student, "relu_impl")].source == release.cells[index_of(release, "relu_impl")].source


def test_no_copies_nothing_changes(release):
    assert deduplicate(release) == release


def test_replaces_deduplicateids_in_the_course_sanitize_chain(course):
    names = [cls.__name__ for cls in Autograde(config=course.config()).sanitize_preprocessors]
    assert names == ["ClearOutput", "DeduplicateCells", "OverwriteKernelspec", "OverwriteCellsAtOnce", "RestoreCells", "CachedCheckCellMetadata"]


# --- the course's sanitize chain (scratch gradebook, no kernel) ----------------------------------


@pytest.fixture(scope="module")
def sanitize(course, source) -> Callable[[NotebookNode], NotebookNode]:
    config = course.config()
    with tempfile.TemporaryDirectory(prefix="dedup-") as scratch:
        res = {"nbgrader": {"assignment": ASSIGNMENT, "notebook": ASSIGNMENT, "db_url": f"sqlite:///{scratch}/gradebook.db", "student": "s"}}
        with open_gradebook(res["nbgrader"]["db_url"]) as gradebook:
            gradebook.update_or_create_assignment(ASSIGNMENT)
        run_chain(GenerateAssignment(config=config).preprocessors, copy.deepcopy(source), res, config)
        yield lambda nb: run_chain(Autograde(config=config).sanitize_preprocessors, copy.deepcopy(nb), copy.deepcopy(res), config)


def test_sanitize_chain_grades_each_test_once_from_the_source(release, source, sanitize):
    nb = copy.deepcopy(release)
    for gid in ids(release):
        nb = pasted(nb, gid, source="# editada")
        last = nb.cells[index_of(nb, gid) + 1]
        if is_graded(last):
            last.metadata.nbgrader["points"] = 100
    nb = sanitize(nb)
    assert ids(nb) == ids(release)
    for cell in nb.cells:
        if is_graded(cell) or grade_id(cell) == "helpers":
            original = source.cells[index_of(source, grade_id(cell))]
            assert cell.source == original.source and cell.metadata.nbgrader.get("points") == original.metadata.nbgrader.get("points")
    assert sum(c.metadata.nbgrader["points"] for c in nb.cells if is_graded(c)) == 22


# --- end to end: grading copies of the perfect sample --------------------------------------------


def answer_of(sample: str, gid: str) -> str:
    nb = nbformat.read(SAMPLES / f"{sample}.ipynb", as_version=4)
    return nb.cells[index_of(nb, gid)].source


def write(tmp_path: Path, name: str, nb: NotebookNode) -> Path:
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


def parts(result) -> dict[PARTS, float]:
    return {p.part.name: p.score for p in result.parts()}


def copied_everywhere() -> NotebookNode:
    """The perfect sample with copies of every kind: answers (one three times, one edited), tests (visible, hidden, edited), helpers."""
    nb = nbformat.read(SAMPLES / "solution.ipynb", as_version=4)
    nb = pasted(pasted(nb, "kernel_gx"), "kernel_gx")
    nb = pasted(nb, "relu_impl", source=answer_of("solution", "relu_impl") + "\nprint('probando')\n")
    nb = pasted(nb, "relu_example")
    nb = pasted(nb, "relu_batch", at=index_of(nb, "relu_impl"))  # a test copy above the answer: runs, earns nothing
    nb = pasted(nb, "maxpool2d_example_stride1", source="print(maxpool2d(torch.ones(1, 1, 2, 2), 2))")
    nb = pasted(nb, "maxpool2d_impl")
    return pasted(nb, "helpers", at=len(nb.cells))


def wrong_relu_after_right() -> NotebookNode:
    """A leaky ReLU pasted just below the right one: it is the relu the tests call."""
    nb = nbformat.read(SAMPLES / "solution.ipynb", as_version=4)
    return pasted(nb, "relu_impl", source=answer_of("leaky_relu", "relu_impl"))


def wrong_relu_before_right() -> NotebookNode:
    nb = nbformat.read(SAMPLES / "solution.ipynb", as_version=4)
    return pasted(nb, "relu_impl", at=index_of(nb, "relu_impl"), source=answer_of("leaky_relu", "relu_impl"))


@pytest.mark.e2e
def test_copies_of_every_kind_keep_full_marks(course, tmp_path):
    graded = grade_notebook(write(tmp_path, "copies", copied_everywhere()), course, ASSIGNMENT, LESSON)
    assert parts(graded.result) == EXPECTED_SCORES["solution"]
    assert graded.result.score == graded.result.max_score == 22 and len(graded.result.tests) == 22
    assert sorted(ids(graded.notebook)) == sorted(ids(nbformat.read(SAMPLES / "solution.ipynb", as_version=4)))  # each once
    assert ids(graded.notebook)[-1] == "helpers"  # the last copy, pasted at the end
    ordinary = [c for c in graded.notebook.cells if c.source.startswith("# Copia de la celda")]
    assert len(ordinary) == 8 and all(c.execution_count is not None for c in ordinary)


@pytest.mark.e2e
def test_wrong_answer_copy_below_the_right_one_is_the_answer_graded(course, tmp_path):
    graded = grade_notebook(write(tmp_path, "wrong_after", wrong_relu_after_right()), course, ASSIGNMENT, LESSON)
    assert parts(graded.result) == EXPECTED_SCORES["leaky_relu"]  # relu 0: the tests call the last relu defined
    assert graded.result.max_score == 22
    assert graded.notebook.cells[index_of(graded.notebook, "relu_impl")].source == answer_of("leaky_relu", "relu_impl")


@pytest.mark.e2e
def test_plain_nbgrader_autograde_grades_copies(course, tmp_path):
    notebooks = {"copies": copied_everywhere(), "wrong_after": wrong_relu_after_right(), "wrong_before": wrong_relu_before_right()}
    scratch = stage_course(course, tmp_path / "course", [write(tmp_path, name, nb) for name, nb in notebooks.items()])
    batch = autograde(scratch, ASSIGNMENT, LESSON)
    assert batch.failures == {}
    rows = {row.student: row for row in batch.scores}
    assert rows["copies"].parts == rows["wrong_before"].parts == EXPECTED_SCORES["solution"]
    assert rows["wrong_after"].parts == EXPECTED_SCORES["leaky_relu"]
    assert {row.max_score for row in rows.values()} == {22}
