"""End to end: every sample submission graded by `autograder grade` with a real kernel and real nbgrader."""

from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import Any, Callable

import pytest

from activation import ASSIGNMENT, LESSON, PARTS
from autograder.cli import grade
from autograder.engine.results import GradingResult
from conftest import EXPECTED_SCORES, SAMPLES
from forked import answer_in_fork
from test_typical_mistakes import unclean

pytestmark = pytest.mark.e2e


def chains_seen(monkeypatch, read: Callable[[dict], Any]) -> list[tuple[str | None, Any]]:
    """Every chain the pipeline runs from now on, as (its stage, `read` of the resources it starts with)."""
    from autograder.adapter import pipeline

    seen: list[tuple[str | None, Any]] = []
    original = pipeline.run_chain

    def spy(classes, nb, resources, config, clock=None, stage=None):
        seen.append((stage, read(resources)))
        return original(classes, nb, resources, config, clock, stage)

    monkeypatch.setattr(pipeline, "run_chain", spy)
    return seen


def files_beside(resources: dict) -> set[str]:
    """The files in the folder a chain runs beside (its resources' metadata path)."""
    here = Path(resources["metadata"]["path"])
    return {str(path.relative_to(here)) for path in here.rglob("*")}


@pytest.fixture(scope="module")
def graded(course, tmp_path_factory) -> dict[str, GradingResult]:
    out = tmp_path_factory.mktemp("results")
    return {name: grade(SAMPLES / f"{name}.ipynb", out / f"{name}.json", course.root) for name in EXPECTED_SCORES}


@pytest.mark.parametrize("name", sorted(EXPECTED_SCORES))
def test_sample_scores_per_part(graded, name):
    result = graded[name]
    assert result.error is None
    assert {p.part.name: p.score for p in result.parts()} == EXPECTED_SCORES[name]


def test_solution_earns_full_marks_and_blank_none(graded):
    assert graded["solution"].score == graded["solution"].max_score == 22
    assert graded["blank"].score == 0 and graded["blank"].max_score == 22


def test_grading_leaves_the_cyclic_collector_on(graded):
    assert gc.isenabled()  # paused only while grade() imported nbgrader and torch (autograder.engine.heap)


def test_blank_template_feedback_says_not_implemented(graded):
    outputs = {t.spec.grade_id: t.output for t in graded["blank"].tests}
    assert "NotImplementedError" in outputs["relu_batch"] or "implementada" in outputs["relu_batch"]
    assert "Gx" in outputs["kernel_values"]


def test_reference_op_feedback_explains_why(graded):
    outputs = {t.spec.grade_id: t.output for t in graded["calls_torch_relu"].tests}
    assert "torch.relu" in outputs["relu_batch"] and "operaciones elementales" in outputs["relu_batch"]
    assert "aten::" not in outputs["relu_batch"]


def test_stride_none_feedback_has_the_hint(graded):
    outputs = {t.spec.grade_id: t.output for t in graded["stride1_when_none"].tests}
    assert "stride es None" in outputs["maxpool2d_stride_none"]


def test_results_name_tests_after_their_part(graded):
    for test in graded["solution"].tests:
        assert test.spec.name.split(":")[0] in {p.name for p in PARTS}


@pytest.mark.parametrize("entry", LESSON.catalogue, ids=lambda entry: f"{entry.part}-{entry.name}")
def test_each_catalogued_sample_is_graded_with_its_own_mistake_and_hint(graded, entry):
    failed = [t for t in graded[entry.sample].tests if not t.passed]
    assert failed and {(t.spec.part.name, t.mistake) for t in failed} == {(entry.part, entry.name)}
    assert all(entry.hint in t.output for t in failed)


def test_no_feedback_shows_internal_names_or_long_numbers(graded):
    for name, result in graded.items():
        for test in result.tests:
            assert not unclean(test.output), f"{name} {test.spec.grade_id}: {unclean(test.output)}"


def test_the_sanitize_steps_read_the_registered_release_read_only_and_grade_as_from_a_copy(course, tmp_path, monkeypatch):
    """Where the registration has a cache file, the sanitize steps read it read-only (one engine per process) and
    the autograde chain gets the grading's scratch copy; where it has none, both get the copy. Same grades."""
    import nbformat

    from autograder.adapter import nbgrader_cli, pipeline

    if nbgrader_cli.read_only_database(tmp_path / "cache" / "x.db") is None:
        pytest.skip(f"this run's temporary folder ({tmp_path}) is not a path a SQLite URI names as it is")
    nb = nbformat.read(SAMPLES / "maxpool_stride_ignored.ipynb", as_version=4)
    test_cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code")
    test_cell.source = "pass  # the student emptied the test: OverwriteCells puts it back from the release"
    tampered = tmp_path / "tampered.ipynb"
    nbformat.write(nb, tampered)
    urls = chains_seen(monkeypatch, lambda resources: resources["nbgrader"]["db_url"])
    graded = {}
    for cache in ("cache", "not-a-folder"):
        if cache == "not-a-folder":
            (tmp_path / cache).write_text("a file: no cache can be written under it")
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / cache))
        monkeypatch.setattr(pipeline, "_REGISTERED", {})
        urls.clear()
        done = pipeline.grade_notebook(tampered, course, ASSIGNMENT, LESSON)
        graded[cache] = done.result
        grade_id = test_cell.metadata.nbgrader.grade_id
        restored = next(c for c in done.notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
        assert restored.source != test_cell.source  # put back from the release the sanitize steps read
        (sanitize, release), (_, scratch) = urls[-2:]  # (before them: the registration's own chain, on a miss)
        assert sanitize == "sanitize" and scratch.startswith("sqlite:///") and "mode=ro" not in scratch
        if cache == "cache":
            assert release.startswith(f"sqlite:///file:{tmp_path / cache}/autograder/registered-") and "mode=ro" in release
            kept = [key for key in nbgrader_cli._SharedEngines.lasting if key[0] == release]
            assert [key[2] for key in kept] == [os.getpid()]  # one engine, this process's, kept past the grading
        else:
            assert release == scratch
    with_cache, without = graded["cache"], graded["not-a-folder"]
    assert {p.part.name: p.score for p in with_cache.parts()} == EXPECTED_SCORES["maxpool_stride_ignored"]
    # (each grading draws its own random inputs, so the messages' numbers may differ; the verdicts may not)
    assert [(t.spec.grade_id, t.score, t.mistake) for t in with_cache.tests] == [(t.spec.grade_id, t.score, t.mistake) for t in without.tests]


def test_registering_ahead_builds_the_registration_once_for_the_process_and_its_forks(course, tmp_path, monkeypatch):
    """A batch's command registers the source before it forks its workers: they find it in memory, not on disk."""
    from autograder.adapter import pipeline

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(pipeline, "_REGISTERED", {})
    chains = chains_seen(monkeypatch, files_beside)
    own = course.copy_to(tmp_path / "course")
    (own.source_notebook(ASSIGNMENT).parent / "datos.txt").write_text("1 2 3")
    pipeline.register_ahead(own, ASSIGNMENT, LESSON)
    assert chains == [(None, {"datos.txt"})]  # GenerateAssignment's chain ran beside the source's own files, as generate_assignment's
    [(registration)] = pipeline._REGISTERED.values()
    assert registration.path is not None and registration.path.parent == tmp_path / "cache" / "autograder"
    registration.path.unlink()  # a fork must not need the file: it inherited the registration

    def in_the_fork() -> bytes:
        again = pipeline._registration(own, ASSIGNMENT, own.config(), pipeline._resources(ASSIGNMENT, LESSON, "", tmp_path))
        return b"same" if again is registration else b"rebuilt"

    assert answer_in_fork(in_the_fork) == b"same"
    assert not registration.path.exists()  # nothing was built or written again


def test_registering_ahead_a_source_that_cannot_be_registered_is_left_to_each_grading(course, tmp_path, monkeypatch):
    """A head start only: a source nbgrader refuses fails each grading with its reason, as without it (never the batch)."""
    from autograder.adapter import pipeline

    broken = course.copy_to(tmp_path / "course")
    broken.source_notebook(ASSIGNMENT).write_text("{ not a notebook", encoding="utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(pipeline, "_REGISTERED", {})
    pipeline.register_ahead(broken, ASSIGNMENT, LESSON)  # no exception
    assert pipeline._REGISTERED == {}


WRITING_STEP = '''
import os

from nbgrader.api import Gradebook
from nbgrader.preprocessors import NbGraderPreprocessor


class NoteInTheGradebook(NbGraderPreprocessor):
    """A course's own sanitize step that writes to the gradebook (nbgrader lets it)."""

    def preprocess(self, nb, resources):
        with Gradebook(resources["nbgrader"]["db_url"]) as gradebook:
            gradebook.update_or_create_student("noted")
            noted = [student.id for student in gradebook.students]
        with open(os.environ["NOTED_FILE"], "w", encoding="utf-8") as file:
            file.write(" ".join(noted))
        return nb, resources


c.Autograde.sanitize_preprocessors = list(c.Autograde.sanitize_preprocessors) + [NoteInTheGradebook]
'''


def test_a_sanitize_chain_with_a_step_of_the_courses_own_gets_the_writable_copy(course, tmp_path, monkeypatch):
    """Only a chain of the steps known to read alone gets the shared read-only release; a course's own may write."""
    from autograder.adapter import pipeline

    own = course.copy_to(tmp_path / "course")
    with open(own.root / "nbgrader_config.py", "a", encoding="utf-8") as config:
        config.write(WRITING_STEP)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("NOTED_FILE", str(tmp_path / "noted"))
    monkeypatch.setattr(pipeline, "_REGISTERED", {})
    urls = chains_seen(monkeypatch, lambda resources: resources["nbgrader"]["db_url"])
    done = pipeline.grade_notebook(SAMPLES / "solution.ipynb", own, ASSIGNMENT, LESSON)
    (sanitize, url), (_, scratch) = urls[-2:]
    assert sanitize == "sanitize" and url == scratch and "mode=ro" not in url
    assert sorted((tmp_path / "noted").read_text().split()) == ["noted", "submission"]  # its write went into the copy
    assert done.result.score == done.result.max_score == 22


def test_a_gradings_own_build_of_the_registration_never_sees_the_students_files(course, tmp_path, monkeypatch):
    """Built in a worker's first grading (the cache lacking it), the registration is the same: the student's folder is not its."""
    from autograder.adapter import pipeline

    own = course.copy_to(tmp_path / "course")
    (own.source_notebook(ASSIGNMENT).parent / "datos.txt").write_text("1 2 3")
    folder = tmp_path / "submitted" / "ana" / ASSIGNMENT
    folder.mkdir(parents=True)
    (folder / f"{ASSIGNMENT}.ipynb").write_bytes((SAMPLES / "solution.ipynb").read_bytes())
    (folder / "autotests.yml").write_text("default: []")  # what nbgrader's InstantiateTests would read beside the notebook
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(pipeline, "_REGISTERED", {})
    chains = chains_seen(monkeypatch, files_beside)
    pipeline.execute_notebook(folder / f"{ASSIGNMENT}.ipynb", own, ASSIGNMENT, LESSON, with_folder=True)
    (registering, beside), (sanitizing, graded_beside) = chains[:2]  # the registration's chain (GenerateAssignment's) first
    assert registering is None and beside == {"datos.txt"}
    assert sanitizing == "sanitize" and graded_beside == {"datos.txt", "autotests.yml"}  # the grading itself has them all
