"""The issuer's rewriting of test cells (autograder/engine/issuer.py): what the kernel runs in place of the hidden tests."""

from __future__ import annotations

from pathlib import Path

import nbformat

from activation import ASSIGNMENT, LESSON
from autograder.engine.issuer import is_catalogue_test, only_the_stub, rewrite
from autograder_stub.protocol import RUN_CALL

SOLUTION = Path(__file__).resolve().parents[1] / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"


def test_a_cell_of_hidden_tests_only_becomes_the_stubs_call_alone():
    hidden = "### BEGIN HIDDEN TESTS\nfrom autograder.hidden import check\ncheck('relu_batch', relu)\n### END HIDDEN TESTS\n"
    assert only_the_stub(rewrite(hidden))
    assert only_the_stub(rewrite("# comprueba relu\n\n" + hidden))
    assert only_the_stub(RUN_CALL + "\n# un comentario\n\n")


def test_a_cell_with_visible_checks_or_without_the_stubs_call_is_not_the_stub_alone():
    visible = "assert relu(torch.tensor([-1.0])).item() == 0\n"
    assert not only_the_stub(rewrite(visible + "from autograder.hidden import check\ncheck('relu_example', relu)\n"))
    assert not only_the_stub("print('hola')\n")
    assert not only_the_stub("x = 1  # " + RUN_CALL)


def test_the_lessons_five_visible_tests_are_the_ones_not_the_stub_alone():
    nb = nbformat.read(SOLUTION, as_version=4)
    tests = [c for c in nb.cells if is_catalogue_test(c, LESSON)]
    visible = sorted(c.metadata["nbgrader"]["grade_id"] for c in tests if not only_the_stub(rewrite(c.source)))
    assert len(tests) == 22
    assert visible == sorted(["kernel_form", "kernel_values", "relu_example", "maxpool2d_example_stride1", "maxpool2d_example_default"])
