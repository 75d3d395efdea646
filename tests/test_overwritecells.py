"""OverwriteCellsAtOnce restores what nbgrader's OverwriteCells restores, with a handful of queries instead of one per cell."""

from __future__ import annotations

import copy
import logging

import nbformat
import pytest
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import OverwriteCells
from sqlalchemy import event
from sqlalchemy.engine import Engine

from activation import ASSIGNMENT
from autograder.adapter.preprocessors import OverwriteCellsAtOnce
from autograder.adapter.preprocessors.overwritecells import _ReleaseAtOnce
from autograder.commands.autograde import ensure_registered
from conftest import SAMPLES
from staging import stage_course

pytestmark = pytest.mark.e2e


@pytest.fixture
def release_db(course, tmp_path) -> str:
    """A course's gradebook that knows the release (as `nbgrader generate_assignment` leaves it)."""
    scratch = stage_course(course, tmp_path / "course", [])
    ensure_registered(scratch, ASSIGNMENT)
    return f"sqlite:///{scratch.gradebook}"


def _tampered(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """What a student can do to graded and locked cells: edit them, change points, locks, types and names."""
    nb = copy.deepcopy(nb)
    graded = [cell for cell in nb.cells if cell.metadata.get("nbgrader", {}).get("grade")]
    locked = [cell for cell in nb.cells if cell.metadata.get("nbgrader", {}).get("locked")]
    locked[0].source = "assert True  # edited"
    graded[0].metadata.nbgrader["points"] = 100
    graded[1].metadata.nbgrader["locked"] = not graded[1].metadata.nbgrader.get("locked", False)
    graded[2].cell_type = "markdown"
    graded[2].pop("outputs", None)
    graded[2].pop("execution_count", None)
    graded[3].metadata.nbgrader["grade_id"] = "not_in_the_release"
    return nb


def _overwritten(step: type, nb: nbformat.NotebookNode, db_url: str, caplog) -> tuple[dict, list[str], int]:  # type: ignore[no-untyped-def]
    """The notebook `step` leaves, the warnings it logs and how many statements it ran."""
    resources = {"nbgrader": {"notebook": ASSIGNMENT, "assignment": ASSIGNMENT, "db_url": db_url}}
    statements = []

    def count(*_: object) -> None:
        statements.append(1)

    caplog.clear()
    event.listen(Engine, "before_cursor_execute", count)
    try:
        with caplog.at_level(logging.WARNING):
            done, _ = step()(copy.deepcopy(nb), resources)
    finally:
        event.remove(Engine, "before_cursor_execute", count)
    return dict(done), [record.getMessage() for record in caplog.records], len(statements)


@pytest.mark.parametrize("sample", ["solution", "blank", "leaky_relu", "tampered"])
def test_the_same_notebook_and_warnings_as_nbgraders_overwritecells(release_db, caplog, sample):
    nb = nbformat.read(SAMPLES / f"{'solution' if sample == 'tampered' else sample}.ipynb", as_version=4)
    if sample == "tampered":
        nb = _tampered(nb)
    stock, stock_warnings, stock_statements = _overwritten(OverwriteCells, nb, release_db, caplog)
    ours, our_warnings, our_statements = _overwritten(OverwriteCellsAtOnce, nb, release_db, caplog)
    assert ours == stock
    assert our_warnings == stock_warnings
    if sample == "tampered":  # each change was seen and undone
        assert any("checksum" in line for line in our_warnings) and any("points" in line for line in our_warnings)
        assert any("cell_type" in line for line in our_warnings) and any("not_in_the_release" in line for line in our_warnings)
    assert our_statements < stock_statements / 3  # one read of the release, not a join per cell


def test_a_notebook_the_gradebook_lacks_misses_every_cell_as_nbgrader_does(release_db, caplog):
    nb = nbformat.read(SAMPLES / "solution.ipynb", as_version=4)
    for step in (OverwriteCells, OverwriteCellsAtOnce):
        resources = {"nbgrader": {"notebook": "other_notebook", "assignment": ASSIGNMENT, "db_url": release_db}}
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            done, _ = step()(copy.deepcopy(nb), resources)
        assert not any("grade_id" in cell.metadata.get("nbgrader", {}) for cell in done.cells)
        assert sum("does not exist in the database" in record.getMessage() for record in caplog.records) > 10


def test_lookups_outside_the_release_go_to_the_gradebook(release_db):
    with Gradebook(release_db) as gradebook:
        read = _ReleaseAtOnce(gradebook, ASSIGNMENT, ASSIGNMENT)
        assert read.source and read.graded
        name = next(iter(read.graded))
        assert read.find_graded_cell(name, ASSIGNMENT, ASSIGNMENT) is read.graded[name]
        with pytest.raises(MissingEntry):
            read.find_source_cell("no_such_cell", ASSIGNMENT, ASSIGNMENT)
        with pytest.raises(MissingEntry):
            read.find_graded_cell(name, "other_notebook", ASSIGNMENT)
        assert read.find_notebook(ASSIGNMENT, ASSIGNMENT).name == ASSIGNMENT  # the rest is the gradebook's own


def test_the_course_chain_sanitizes_with_it(course):
    chain = course.config().Autograde.sanitize_preprocessors
    assert OverwriteCellsAtOnce in chain and OverwriteCells not in chain


def test_a_grade_id_that_is_not_text_fails_as_it_does_in_nbgrader(release_db):
    nb = nbformat.read(SAMPLES / "solution.ipynb", as_version=4)
    nb.cells[0].metadata["nbgrader"] = {"grade_id": ["a", "list"]}
    raised = []
    for step in (OverwriteCells, OverwriteCellsAtOnce):
        resources = {"nbgrader": {"notebook": ASSIGNMENT, "assignment": ASSIGNMENT, "db_url": release_db}}
        with pytest.raises(Exception) as error:
            step()(copy.deepcopy(nb), resources)
        raised.append(type(error.value))
    assert raised[0] is raised[1]
