"""The catalogue and the solutions notebook describe the same graded cells."""

from __future__ import annotations

import re

import nbformat

from activation import ANSWER_CELLS, ASSIGNMENT, BY_GRADE_ID, PARTS, TESTS


def nbgrader_cells(path):
    notebook = nbformat.read(path, as_version=4)
    return [(cell, cell.metadata["nbgrader"]) for cell in notebook.cells if "nbgrader" in cell.metadata]


def test_every_graded_cell_is_catalogued(course):
    graded = {meta["grade_id"]: meta for _, meta in nbgrader_cells(course.source_notebook(ASSIGNMENT)) if meta.get("grade")}
    assert set(graded) == set(BY_GRADE_ID)
    assert all(meta["points"] > 0 for meta in graded.values())


def test_answer_cells_are_solution_cells(course):
    solutions = {meta["grade_id"] for _, meta in nbgrader_cells(course.source_notebook(ASSIGNMENT)) if meta.get("solution")}
    assert solutions == set(ANSWER_CELLS)


def test_grade_ids_name_their_part():
    for spec in TESTS:
        assert spec.grade_id.startswith(spec.part.name)
    for grade_id, part in ANSWER_CELLS.items():
        assert grade_id.startswith(part.name)


def test_every_part_has_several_tests_and_a_visible_one():
    for part in PARTS:
        tests = [t for t in TESTS if t.part is part]
        assert len(tests) >= 4
        assert any(t.in_release for t in tests) and any(not t.in_release for t in tests)


def test_hidden_block_of_each_cell_checks_its_own_grade_id(course):
    for cell, meta in nbgrader_cells(course.source_notebook(ASSIGNMENT)):
        if not meta.get("grade"):
            continue
        hidden = re.search(r"### BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", cell.source, re.S)
        assert hidden, meta["grade_id"]
        assert f'check("{meta["grade_id"]}",' in hidden.group(1)


def test_visible_tests_are_the_catalogued_ones(course):
    for cell, meta in nbgrader_cells(course.source_notebook(ASSIGNMENT)):
        if meta.get("grade"):
            outside = re.sub(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS", "", cell.source, flags=re.S)
            has_visible_code = any(line.strip() and not line.strip().startswith("#") for line in outside.splitlines())
            assert has_visible_code == BY_GRADE_ID[meta["grade_id"]].in_release, meta["grade_id"]


def _helper_assignments() -> dict[str, object]:
    """The literal tables the notebook's locked helper cell defines (frozenset(...) read as a set)."""
    import ast

    import nbformat

    from conftest import ROOT

    notebook = nbformat.read(ROOT / "solutions" / "activation_maxpool" / "activation_maxpool.ipynb", as_version=4)
    [helpers] = [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "helpers"]
    tables = {}
    for node in ast.parse(helpers.source).body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            source = ast.unparse(node.value).replace("frozenset(", "(")
            try:
                tables[node.targets[0].id] = ast.literal_eval(source)
            except ValueError:
                continue
    return tables


def test_the_notebooks_visible_tests_watch_for_exactly_the_operators_the_grader_blocks():
    from activation import LESSON

    tables = _helper_assignments()
    watched = {name: set(ops) for name, ops in tables["_OPERACIONES_ENSENADAS"].items()}
    assert watched == {part.name: set(part.forbidden_ops) for part in LESSON.parts if part.forbidden_ops}
    assert tables["_COMO_SE_ESCRIBEN"] == {part.name: part.spellings for part in LESSON.parts if part.forbidden_ops}


def test_the_notebooks_summary_lists_exactly_the_visible_tests():
    from activation import LESSON

    listed = {part: [tuple(test) for test in tests] for part, tests in _helper_assignments()["_PRUEBAS_VISIBLES"].items()}
    expected = {part.name: [(t.grade_id, t.title) for t in LESSON.tests if t.part == part and t.in_release] for part in LESSON.parts}
    assert listed == expected
