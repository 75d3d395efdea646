"""What run_autograder does on Gradescope before grading: which notebook, and whether the sandbox or a refusal."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from autograder.engine import messages
from activation import ASSIGNMENT
from autograder.outputs.gradescope_run import (
    ALLOW_UNSANDBOXED_ENV,
    ALLOW_UNSANDBOXED_FILE,
    GradescopeLayout,
    SubmissionError,
    choose_sandbox,
    find_notebook,
    run,
)
from autograder.engine.results import GradingResult
from autograder.isolation.bwrap import check_available

from conftest import ROOT

NAMED = f"{ASSIGNMENT}.ipynb"


def touch(folder: Path, *names: str) -> None:
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("{}")


def test_the_notebook_named_after_the_assignment_wins_wherever_it_is(tmp_path: Path):
    touch(tmp_path, "borrador.ipynb", f"entrega/{NAMED}", "otro.ipynb")
    assert find_notebook(tmp_path, ASSIGNMENT) == tmp_path / "entrega" / NAMED


def test_the_only_notebook_is_graded_whatever_its_name(tmp_path: Path):
    touch(tmp_path, "mi_tarea.ipynb", "notas.txt", ".ipynb_checkpoints/mi_tarea-checkpoint.ipynb", "__MACOSX/._mi_tarea.ipynb")
    assert find_notebook(tmp_path, ASSIGNMENT) == tmp_path / "mi_tarea.ipynb"


def test_no_notebook_is_a_spanish_reason(tmp_path: Path):
    touch(tmp_path, "respuesta.py")
    with pytest.raises(SubmissionError) as caught:
        find_notebook(tmp_path, ASSIGNMENT)
    assert caught.value.reason == messages.NO_NOTEBOOK.format(expected=NAMED)


def test_several_notebooks_none_named_lists_them(tmp_path: Path):
    touch(tmp_path, "a.ipynb", "sub/b.ipynb")
    with pytest.raises(SubmissionError) as caught:
        find_notebook(tmp_path, ASSIGNMENT)
    assert caught.value.found == [tmp_path / "a.ipynb", tmp_path / "sub" / "b.ipynb"]
    assert "a.ipynb, sub/b.ipynb" in caught.value.reason and NAMED in caught.value.reason


def test_two_notebooks_with_the_assignment_name_are_ambiguous(tmp_path: Path):
    touch(tmp_path, NAMED, f"copia/{NAMED}")
    with pytest.raises(SubmissionError) as caught:
        find_notebook(tmp_path, ASSIGNMENT)
    assert len(caught.value.found) == 2


@pytest.fixture
def no_bwrap(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """This process on a machine without bubblewrap (the availability check is cached: cleared around the test)."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv(ALLOW_UNSANDBOXED_ENV, raising=False)
    check_available.cache_clear()
    yield
    check_available.cache_clear()


def test_without_the_sandbox_grading_is_refused_unless_allowed(no_bwrap, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    layout = GradescopeLayout(tmp_path / "autograder")
    refused = choose_sandbox(layout)
    assert not refused.sandboxed and refused.refusal is not None and "bubblewrap" in refused.refusal
    monkeypatch.setenv(ALLOW_UNSANDBOXED_ENV, "1")
    allowed = choose_sandbox(layout)
    assert not allowed.sandboxed and allowed.refusal is None and "bubblewrap" in (allowed.unavailable or "")
    monkeypatch.delenv(ALLOW_UNSANDBOXED_ENV)
    touch(layout.source, ALLOW_UNSANDBOXED_FILE)
    assert choose_sandbox(layout).refusal is None


def test_a_refusal_is_written_with_the_courses_maximum_and_never_grades(no_bwrap, tmp_path: Path):
    layout = GradescopeLayout(tmp_path / "autograder")
    layout.source.mkdir(parents=True)
    (layout.source / "course").symlink_to(ROOT)
    touch(layout.submission, NAMED)  # not even a notebook: a grading would say so, a refusal comes first
    outcome = run(layout)
    assert outcome.refused and outcome.notebook == layout.submission / NAMED
    written = GradingResult.read(layout.results)
    assert written.score == 0 and written.max_score == 22
    assert written.error == messages.NO_SANDBOX.format(detail=outcome.unavailable)


def test_a_link_named_like_the_notebook_is_found_so_grading_refuses_it(tmp_path: Path):
    (tmp_path / NAMED).symlink_to(ROOT / "solutions" / ASSIGNMENT / NAMED)
    assert find_notebook(tmp_path, ASSIGNMENT) == tmp_path / NAMED  # found, never followed: read_submission then refuses it


def test_a_linked_folder_is_never_entered(tmp_path: Path):
    (tmp_path / "curso").symlink_to(ROOT / "solutions" / ASSIGNMENT)
    touch(tmp_path, "mio.ipynb")
    assert find_notebook(tmp_path, ASSIGNMENT) == tmp_path / "mio.ipynb"


def test_a_fifo_named_like_the_notebook_is_found_and_never_opened(tmp_path: Path):
    os.mkfifo(tmp_path / NAMED)
    assert find_notebook(tmp_path, ASSIGNMENT) == tmp_path / NAMED
