"""The committed student release is generated from solutions/, clean, and in sync; so are the samples."""

from __future__ import annotations

import nbformat

from activation import ASSIGNMENT
from autograder.commands.release import out_of_sync
from conftest import SAMPLES, load_samples_builder


def test_committed_release_is_in_sync(course):
    assert out_of_sync(course, ASSIGNMENT) == []


def test_release_has_no_outputs_no_solutions_no_hidden_tests(course):
    text = course.release_notebook(ASSIGNMENT).read_text(encoding="utf-8")
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "autograder", '"output_type"'):
        assert marker not in text
    notebook = nbformat.read(course.release_notebook(ASSIGNMENT), as_version=4)
    assert all(cell.get("execution_count") is None for cell in notebook.cells if cell.cell_type == "code")


def test_release_keeps_the_answer_stubs_and_visible_tests(course):
    notebook = nbformat.read(course.release_notebook(ASSIGNMENT), as_version=4)
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in notebook.cells}
    assert "NotImplementedError" in by_id["relu_impl"].source
    assert "def relu(z)" in by_id["relu_impl"].source
    assert "relu(" in by_id["relu_example"].source
    # Gx is a value: its placeholder runs (None), so "Run All" goes past the first exercise.
    assert "Gx = None" in by_id["kernel_gx"].source and "raise" not in by_id["kernel_gx"].source


def test_samples_are_built_from_the_current_release():
    builder = load_samples_builder()
    files = builder.render(nbformat.read(builder.RELEASE, as_version=4))
    committed = {path.name for path in SAMPLES.glob("*.ipynb")}
    assert committed == set(files)
    for name, text in files.items():
        assert text == (SAMPLES / name).read_text(encoding="utf-8"), name
