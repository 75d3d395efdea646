"""Tests and points come from solutions/: deleted, emptied or re-pointed test cells change nothing.

Unit tests apply RestoreCells to the real release and source notebooks; the sanitize tests run
nbgrader's real sanitize chain (with a scratch gradebook); the e2e tests grade variants of the samples.
"""

from __future__ import annotations

import copy
import logging
import tempfile
from pathlib import Path

import nbformat
import pytest
from nbgrader.converters.autograde import Autograde
from nbgrader.converters.generate_assignment import GenerateAssignment

from autograder.commands.autograde import autograde
from activation import ASSIGNMENT, LESSON, PARTS
from staging import stage_course
from autograder.engine.errors import CourseError
from autograder.adapter.nbgrader_cli import open_gradebook
from autograder.adapter.pipeline import grade_notebook, run_chain
from autograder.adapter.preprocessors import RestoreCells
from autograder.adapter.preprocessors.restorecells import release_code
from conftest import EXPECTED_SCORES, SAMPLES

LOG = logging.getLogger("test.restorecells")


def grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def is_graded(cell) -> bool:
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("grade"))


def ids(nb) -> list[str | None]:
    return [grade_id(cell) for cell in nb.cells]


def without(nb, drop):
    """A copy of nb without the cells for which drop(cell) is true."""
    nb = copy.deepcopy(nb)
    nb.cells = [cell for cell in nb.cells if not drop(cell)]
    return nb


def resources() -> dict:
    return {"nbgrader": {"assignment": ASSIGNMENT, "notebook": ASSIGNMENT}}


@pytest.fixture(scope="module")
def source(course):
    return nbformat.read(course.source_notebook(ASSIGNMENT), as_version=4)


@pytest.fixture(scope="module")
def release(course):
    return nbformat.read(course.release_notebook(ASSIGNMENT), as_version=4)


@pytest.fixture
def restore(course, caplog):
    """RestoreCells as the course configures it; returns the notebook and the warnings it logged."""

    def run(nb):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger=LOG.name):
            nb, _ = RestoreCells(config=course.config(), log=LOG)(nb, resources())
        return nb, [r.getMessage() for r in caplog.records if r.name == LOG.name]

    return run


def source_cell(source, gid):
    return next(cell for cell in source.cells if grade_id(cell) == gid)


# --- unit: RestoreCells on the real release and source notebooks ---------------------------------


def test_deleted_graded_cell_is_restored_where_it_was(release, source, restore):
    nb, warnings = restore(without(release, lambda c: grade_id(c) == "relu_batch"))
    assert ids(nb) == ids(release)
    restored = nb.cells[ids(nb).index("relu_batch")]
    original = source_cell(source, "relu_batch")
    assert restored.source == original.source and 'check("relu_batch", relu)' in restored.source
    assert restored.metadata == original.metadata
    assert restored.outputs == [] and restored.execution_count is None
    assert len(warnings) == 1 and "relu_batch" in warnings[0]
    nbformat.validate(nb)


def test_deleted_locked_cell_is_restored_at_the_start_when_nothing_precedes_it(release, source, restore):
    # `helpers` is locked, not graded, and the first nbgrader cell: no source cell before it to follow.
    nb, warnings = restore(without(release, lambda c: grade_id(c) == "helpers"))
    assert grade_id(nb.cells[0]) == "helpers"
    assert nb.cells[0].source == source_cell(source, "helpers").source
    assert ids(nb)[1:] == [gid for gid in ids(release) if gid != "helpers"]
    assert len(warnings) == 1 and "helpers" in warnings[0]


def test_nothing_missing_nothing_changes(release, restore):
    nb, warnings = restore(copy.deepcopy(release))
    assert nb == release
    assert warnings == []


def test_every_graded_cell_deleted_keeps_the_order_of_all_cells(release, source, restore):
    nb, warnings = restore(without(release, is_graded))
    assert ids(nb) == ids(release)
    assert [cell.get("id") for cell in nb.cells] == [cell.get("id") for cell in release.cells]
    graded = [grade_id(cell) for cell in source.cells if is_graded(cell)]
    assert len(warnings) == len(graded) == 22
    for gid in graded:
        assert nb.cells[ids(nb).index(gid)].source == source_cell(source, gid).source
    nbformat.validate(nb)


def test_a_run_of_deleted_cells_follows_the_nearest_present_one(release, restore):
    # relu_impl's tests and maxpool2d_impl's first tests go: each run comes back after its anchor.
    gone = {"relu_example", "relu_lesson", "relu_batch", "maxpool2d_example_stride1", "maxpool2d_example_default"}
    student = without(release, lambda c: grade_id(c) in gone)
    nb, warnings = restore(student)
    assert ids(nb) == ids(release)
    assert sorted(w.split("'")[1] for w in warnings) == sorted(gone)


def test_solution_cells_are_never_restored(release, restore):
    # A deleted answer stays deleted: its source in solutions/ is the answer key.
    nb, warnings = restore(without(release, lambda c: grade_id(c) == "relu_impl"))
    assert "relu_impl" not in ids(nb)
    assert warnings == []


def test_older_submission_format_gets_no_cell_ids(release, restore):
    old = without(release, lambda c: grade_id(c) == "relu_batch")
    old.nbformat_minor = 4
    for cell in old.cells:
        cell.pop("id", None)
    nb, _ = restore(old)
    nbformat.validate(nb)


def test_missing_source_notebook_is_a_clear_error(course, release, tmp_path):
    config = course.config()
    config.CourseDirectory.root = str(tmp_path)
    with pytest.raises(CourseError) as error:
        RestoreCells(config=config, log=LOG)(copy.deepcopy(release), resources())
    message = str(error.value)
    assert "\n" not in message and "activation_maxpool.ipynb" in message and str(tmp_path) in message


def test_source_is_found_from_any_working_directory(course, release, restore, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    nb, warnings = restore(without(release, is_graded))
    assert ids(nb) == ids(release) and len(warnings) == 22


def test_the_release_code_is_what_every_student_holds_and_nothing_when_there_is_no_release(course, release, source, tmp_path):
    texts = release_code(course.config(), resources())
    assert texts == {cell.source for cell in release.cells if cell.cell_type == "code"}
    hidden = [cell.source for cell in source.cells if "BEGIN HIDDEN TESTS" in cell.source]
    assert hidden and not any(text in texts for text in hidden)
    config = course.config()
    config.CourseDirectory.root = str(tmp_path)  # no release there: nothing is named, nothing fails
    assert release_code(config, resources()) == frozenset()


def test_wired_into_the_course_sanitize_chain(course):
    names = [cls.__name__ for cls in Autograde(config=course.config()).sanitize_preprocessors]
    assert names == ["ClearOutput", "DeduplicateCells", "OverwriteKernelspec", "OverwriteCellsAtOnce", "RestoreCells", "CachedCheckCellMetadata"]


# --- nbgrader's real sanitize chain (scratch gradebook, no kernel) -------------------------------


@pytest.fixture(scope="module")
def sanitize(course, source):
    """The course's sanitize chain, against a scratch gradebook that knows the source (as in autograder grade)."""
    config = course.config()
    with tempfile.TemporaryDirectory(prefix="restorecells-") as scratch:
        res = {"nbgrader": {**resources()["nbgrader"], "db_url": f"sqlite:///{scratch}/gradebook.db", "student": "s"}}
        with open_gradebook(res["nbgrader"]["db_url"]) as gradebook:
            gradebook.update_or_create_assignment(ASSIGNMENT)
        run_chain(GenerateAssignment(config=config).preprocessors, copy.deepcopy(source), res, config)
        yield lambda nb: run_chain(Autograde(config=config).sanitize_preprocessors, nb, copy.deepcopy(res), config)


def test_overwrite_cells_restores_emptied_tests_and_raised_points(release, source, sanitize):
    tampered = copy.deepcopy(release)
    for cell in tampered.cells:
        if is_graded(cell):
            cell.source = ""
            cell.metadata.nbgrader["points"] = 100
    nb = sanitize(tampered)
    assert ids(nb) == ids(release)
    for cell in nb.cells:
        if is_graded(cell):
            original = source_cell(source, grade_id(cell))
            assert cell.source == original.source
            assert cell.metadata.nbgrader["points"] == original.metadata.nbgrader["points"] == 1


def test_sanitize_chain_restores_deleted_tests_and_locked_cells(release, source, sanitize):
    nb = sanitize(without(release, lambda c: is_graded(c) or grade_id(c) == "helpers"))
    assert ids(nb) == ["helpers", *(gid for gid in ids(release) if gid != "helpers")]
    for cell in nb.cells:
        if is_graded(cell):
            assert cell.source == source_cell(source, grade_id(cell)).source


# --- end to end: grading variants of the samples -------------------------------------------------


def write_variant(tmp_path: Path, name: str, sample: str, change) -> Path:
    nb = nbformat.read(SAMPLES / f"{sample}.ipynb", as_version=4)
    nb = change(nb)
    path = tmp_path / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


def parts(result) -> dict[PARTS, float]:
    return {p.part.name: p.score for p in result.parts()}


def emptied_and_repointed(nb):
    for cell in nb.cells:
        if is_graded(cell):
            cell.source = ""
            cell.metadata.nbgrader["points"] = 100
    return nb


@pytest.mark.e2e
def test_deleting_relu_tests_changes_nothing(course, tmp_path):
    path = write_variant(tmp_path, "leaky_no_tests", "leaky_relu", lambda nb: without(nb, lambda c: is_graded(c) and grade_id(c).startswith("relu_")))
    graded = grade_notebook(path, course, ASSIGNMENT, LESSON)
    assert parts(graded.result) == EXPECTED_SCORES["leaky_relu"]
    assert graded.result.max_score == 22
    relu_cells = [c for c in graded.notebook.cells if is_graded(c) and grade_id(c).startswith("relu_")]
    assert len(relu_cells) == 6 and all(c.execution_count is not None for c in relu_cells)


@pytest.mark.e2e
def test_emptied_tests_with_raised_points_change_nothing(course, tmp_path):
    path = write_variant(tmp_path, "solution_emptied", "solution", emptied_and_repointed)
    result = grade_notebook(path, course, ASSIGNMENT, LESSON).result
    assert parts(result) == EXPECTED_SCORES["solution"]
    assert result.score == result.max_score == 22


@pytest.mark.e2e
def test_every_graded_cell_deleted_still_gets_full_marks(course, tmp_path):
    path = write_variant(tmp_path, "solution_no_tests", "solution", lambda nb: without(nb, is_graded))
    result = grade_notebook(path, course, ASSIGNMENT, LESSON).result
    assert parts(result) == EXPECTED_SCORES["solution"]
    assert result.score == result.max_score == 22


@pytest.mark.e2e
def test_plain_nbgrader_autograde_restores_deleted_tests(course, tmp_path):
    # `nbgrader autograde` from a course root, where nbgrader_config.py says root = ".".
    path = write_variant(tmp_path, "no_tests", "solution", lambda nb: without(nb, is_graded))
    scratch = stage_course(course, tmp_path / "course", [path])
    batch = autograde(scratch, ASSIGNMENT, LESSON)
    assert batch.failures == {}
    [row] = batch.scores
    assert row.parts == EXPECTED_SCORES["solution"] and row.max_score == 22


def test_the_source_is_read_again_when_it_changes_and_a_restore_never_alters_it(course, release, tmp_path):
    """The parsed source is kept per process by content: an edited source counts at once, and restored cells are copies."""
    scratch = course.copy_to(tmp_path / "course")
    gid = next(grade_id(cell) for cell in release.cells if is_graded(cell) and not cell.metadata["nbgrader"].get("solution"))
    deleted = without(release, lambda cell: grade_id(cell) == gid)

    def restored_source() -> str:
        nb, _ = RestoreCells(config=scratch.config(), log=LOG)(copy.deepcopy(deleted), resources())
        cell = next(cell for cell in nb.cells if grade_id(cell) == gid)
        cell.source += "\n# changed by a later step"  # what a later step may do to the restored cell
        return cell.source

    first, again = restored_source(), restored_source()
    assert first == again  # the first restore's copy was changed, not the source kept for the next one
    path = scratch.source_notebook(ASSIGNMENT)
    edited = nbformat.read(path, as_version=4)
    source_cell(edited, gid).source += "\nassert True  # edited by the instructor"
    nbformat.write(edited, path)
    assert "edited by the instructor" in restored_source()
