"""Grade one notebook with nbgrader's own preprocessor chains, configured from nbgrader_config.py, without a course gradebook."""

from __future__ import annotations

import copy
import os
import shutil
import hashlib
import importlib
import sys
import logging
import tempfile
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from importlib import metadata
from typing import Callable, Iterable, Mapping

import nbformat
from nbformat import NotebookNode
from nbgrader.converters.autograde import Autograde
from nbgrader.converters.generate_assignment import GenerateAssignment
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import (
    CheckCellMetadata,
    ClearOutput,
    DeduplicateIds,
    OverwriteCells,
    OverwriteKernelspec,
    SaveAutoGrades,
)
from nbgrader.utils import find_all_files, setenv
from traitlets.config import Config

from autograder.adapter import cachefolder
from autograder.adapter.lesson_of import hand_down
from autograder.engine.course import CONFIG_FILE, Course
from autograder.engine.errors import CourseError
from autograder.engine.heap import importing
from autograder.engine.lesson import Lesson, Visibility
from autograder.outputs.feedback import cell_output
from autograder.adapter.nbgrader_cli import (
    new_gradebook,
    one_engine_per_database,
    open_gradebook,
    read_only_database,
    scratch_database,
)
from autograder.adapter.preprocessors import (
    CachedCheckCellMetadata,
    DeduplicateCells,
    OverwriteCellsAtOnce,
    RestoreCells,
)
from autograder.engine.issuer import RESOURCES_KEY
from autograder.engine.results import GradingResult, TestResult
from autograder.engine.stages import EXECUTE_STEP, KERNEL_STAGES_KEY, SANITIZE, SETUP, Stopwatch
from autograder.engine.submission import read_submission

STUDENT = "submission"
# Sanitize steps that read the gradebook and never write it (nbgrader's default chain and ours): a chain of these
# alone may read a registration shared by every grading of the process (`Registration.read_only_url`).
RELEASE_READERS: frozenset[type] = frozenset(
    {
        ClearOutput,
        DeduplicateIds,
        OverwriteKernelspec,
        OverwriteCells,
        CheckCellMetadata,
        OverwriteCellsAtOnce,
        RestoreCells,
        DeduplicateCells,
        CachedCheckCellMetadata,
    }
)
LOG = logging.getLogger("autograder.nbgrader")
# OverwriteCells warns for every restored test cell, which is every submission, and nbclient logs
# every kernel death and timeout that GuardedExecute then handles and reports per cell: not news.
LOG.setLevel(logging.CRITICAL)


@dataclass(frozen=True)
class Graded:
    """A graded notebook: the result and the executed notebook it came from."""

    result: GradingResult
    notebook: NotebookNode


@dataclass(frozen=True)
class CellFeedback:
    """What a graded cell tells the student, whichever way its score goes: "Superada." or its failure message."""

    passed: str
    failed: str


@dataclass(frozen=True)
class Executed:
    """A submission after the steps that decide its grade (the autograde chain before SaveAutoGrades), not yet scored.

    Scores are what nbgrader's SaveAutoGrades then saves from the executed cells, into a gradebook;
    this holds what a result needs besides them: each graded cell's feedback, Verify's mistakes and
    review marks, and how long it took.
    """

    notebook: NotebookNode
    feedback: dict[str, CellFeedback]  # by grade_id, every test of the lesson
    mistakes: dict[str, str | None]  # by grade_id: the named mistake of a failing test (Verify)
    review: list[str]
    seconds: float
    stages: dict[str, float] = field(default_factory=dict)  # seconds per stage (autograder.engine.stages)


def split_chain(chain: Iterable[object]) -> tuple[list, list]:
    """The autograde chain as (the steps that decide, the steps that file): split where SaveAutoGrades (or a subclass) stands.

    Without a SaveAutoGrades in it, the whole chain decides and SaveAutoGrades alone files.
    """
    steps = list(chain)
    for index, step in enumerate(steps):
        if isinstance(step, type) and issubclass(step, SaveAutoGrades):
            return steps[:index], steps[index:]
    return steps, [SaveAutoGrades]


def run_chain(
    classes: Iterable[type], nb: NotebookNode, resources: dict, config: Config, clock: Stopwatch | None = None, stage: str | None = None
) -> NotebookNode:
    """Apply preprocessor classes in order, each built from the course config, as nbgrader's converters do.

    With a clock, each step's time is added to `stage`, or to the step's class name.
    """
    clock = clock if clock is not None else Stopwatch()
    for cls in classes:
        with clock.time(stage or cls.__name__):
            preprocessor = cls(config=config, log=LOG)
            nb, resources = preprocessor(nb, resources)
    return nb


def max_points(course: Course, assignment: str) -> dict[str, float]:
    """Points of every graded cell, read from the source notebook."""
    source = nbformat.read(course.source_notebook(assignment), as_version=4)
    points = {}
    for cell in source.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade"):
            points[meta["grade_id"]] = float(meta.get("points", 0))
    return points


def grade_notebook(
    path: Path, course: Course, assignment: str, lesson: Lesson, sandbox: bool = True, with_folder: bool = False
) -> Graded:
    """Grade a submission in a scratch gradebook (nbgrader's whole autograde chain); raises NotebookError for input that cannot be graded.

    As nbgrader's autograde does, the notebook runs in a folder that holds the assignment's other
    source files (data files), read-only, and NBGRADER_EXECUTION is "autograde" while it runs. With
    `with_folder` (a batch's submitted/<student>/<assignment>/), the submission's other files come
    first and the source's overwrite them.
    """
    executed, scores, visibility = _run(path, course, assignment, lesson, sandbox, with_folder, whole_chain=True)
    result = GradingResult(
        notebook=str(path),
        tests=tests_from_scores(scores, lesson, executed.feedback, executed.mistakes),
        execution_time=executed.seconds,
        review=executed.review,
        assignment=assignment,
    )
    return Graded(result.with_visibility(visibility), executed.notebook)


def execute_notebook(
    path: Path, course: Course, assignment: str, lesson: Lesson, sandbox: bool = True, with_folder: bool = False
) -> Executed:
    """Run the steps that decide a submission's grade (sanitize, then autograde up to SaveAutoGrades), saving no score.

    What a batch's workers do: the course's gradebook then scores the executed notebook once, with
    nbgrader's own Autograde (SaveAutoGrades, AssignLatePenalties, ...). The scratch gradebook here
    only holds the source cells the sanitize steps read. Raises NotebookError as grade_notebook does.
    """
    executed, _, _ = _run(path, course, assignment, lesson, sandbox, with_folder, whole_chain=False)
    return executed


def _run(
    path: Path, course: Course, assignment: str, lesson: Lesson, sandbox: bool, with_folder: bool, whole_chain: bool
) -> tuple[Executed, dict[str, tuple[float, float]], dict[str, Visibility]]:
    """The sanitize chain and the autograde chain (all of it, or only the steps before SaveAutoGrades) in a scratch gradebook.

    Returns the executed submission, with `whole_chain` the scores the scratch gradebook got, and the
    course's visibility overrides (read before the submission is touched: a bad entry stops there).
    """
    started = time.monotonic()
    clock = Stopwatch()
    _preload_checks(lesson)
    # nbgrader's own gradebook code trips SQLAlchemy warnings that say nothing about the submission.
    warnings.filterwarnings("ignore", module="nbgrader.api")
    config = course.config()
    visibility = course.visibility(lesson, config)  # a bad entry stops here, before the submission is touched
    submission = read_submission(path, assignment, lesson=lesson)
    config.GuardedExecute.sandbox = sandbox
    config.SandboxedKernelManager.hidden_paths = [str(course.root)]
    scores: dict[str, tuple[float, float]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="autograder-") as scratch,
        one_engine_per_database(),
        scratch_database(f"sqlite:///{scratch}/gradebook.db") as db_url,
    ):
        workdir = Path(scratch) / "work"
        workdir.mkdir()
        resources = _resources(assignment, lesson, db_url, workdir)
        stage_files(workdir, course, assignment, config, Path(path).parent if with_folder else None)
        registered = _registration(course, assignment, config, resources)
        (Path(scratch) / "gradebook.db").write_bytes(registered.data)
        autograde = Autograde(config=config)
        clock.add(SETUP, time.monotonic() - started)
        # Sanitize steps that only read the release read it from the registration itself, read-only, through an
        # engine this process keeps; any other chain, and the autograde chain, get the scratch copy, as nbgrader's would.
        sanitize = autograde.sanitize_preprocessors
        reads_only = all(step in RELEASE_READERS for step in sanitize)
        resources["nbgrader"]["db_url"] = (registered.read_only_url() if reads_only else None) or db_url
        executed = run_chain(sanitize, submission, resources, config, clock, SANITIZE)
        resources["nbgrader"]["db_url"] = db_url
        chain = autograde.autograde_preprocessors if whole_chain else split_chain(autograde.autograde_preprocessors)[0]
        with setenv(NBGRADER_EXECUTION="autograde"):
            executed = run_chain(chain, executed, resources, config, clock)
        if whole_chain:
            scores = read_scores(resources["nbgrader"]["db_url"], assignment, STUDENT)
    ours = resources.get(RESOURCES_KEY, {})
    clock.split(EXECUTE_STEP, ours.get(KERNEL_STAGES_KEY, {}))
    mistakes = dict(ours.get("mistakes", {}))
    review = list(ours.get("review", []))
    seconds = time.monotonic() - started
    done = Executed(executed, cell_feedback(executed, lesson), mistakes, review, seconds, clock.seconds)
    return done, scores, visibility


def _resources(assignment: str, lesson: Lesson, db_url: str, workdir: Path) -> dict:
    """What nbgrader's chains get for our one student's notebook of `assignment`, the lesson handed down."""
    resources = {
        "nbgrader": {"db_url": db_url, "assignment": assignment, "notebook": assignment, "student": STUDENT},
        "metadata": {"path": str(workdir)},
    }
    return hand_down(resources, lesson)


def register_ahead(course: Course, assignment: str, lesson: Lesson) -> None:
    """Have this process know the assignment's registration (built, or read from the cache, now).

    A batch's command calls it before it forks its first worker: the workers inherit it, where each built it in its
    first grading when the cache lacked it (a new course or a changed source: 0.3-0.4 s each, twice per batch).
    """
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module="nbgrader.api")  # as in a grading: nothing to tell the instructor
            source = course.source_notebook(assignment).parent  # (where it runs is _register's own folder in any case)
            _registration(course, assignment, course.config(), _resources(assignment, lesson, "", source))
    except Exception:  # noqa: BLE001 - a head start only: each grading then meets the same failure, and reports it
        pass


def stage_files(workdir: Path, course: Course, assignment: str, config: Config, submission: Path | None) -> list[Path]:
    """Copy what nbgrader's autograde puts beside the notebook: the submission's other files, then the source's, read-only.

    Notebooks, nbgrader's ignore patterns (CourseDirectory.ignore) and Autograde.exclude_overwriting
    are honoured; links and special files are never followed (a batch's intake refused them already).
    """
    ignore = list(CourseDirectory(config=config).ignore) + ["*.ipynb"]
    excluded = set(Autograde(config=config).exclude_overwriting.get(assignment, []))
    source = course.source_notebook(assignment).parent
    copied = []
    for folder, skip in ((submission, set()), (source, excluded)):
        if folder is None:
            continue
        for found in find_all_files(str(folder), ignore):
            relative = os.path.relpath(found, folder)
            if relative in skip or os.path.islink(found) or not os.path.isfile(found):
                continue
            target = workdir / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.exists():
                target.chmod(0o644)
            shutil.copyfile(found, target)
            target.chmod(0o444)
            copied.append(target)
    return copied


def ungradable(notebook: Path | str, reason: str, course: Course, assignment: str, lesson: Lesson) -> GradingResult:
    """A zero-score result with the reason on every test, each test's maximum and the course's visibility."""
    result = GradingResult.ungradable(str(notebook), reason, max_points(course, assignment), lesson, assignment)
    try:
        return result.with_visibility(course.visibility(lesson))
    except CourseError:  # the reason still reaches the student; the catalogue's visibility stands
        return result


@dataclass(frozen=True)
class Registration:
    """A gradebook that knows the source and our one student: its bytes, and the cache file that holds them, if any."""

    data: bytes
    path: Path | None  # written whole and replaced only by a rename, never changed in place

    def read_only_url(self) -> str | None:
        """The cache file as a read-only database this process keeps open; None without one (a copy is then read)."""
        if self.path is None or not self.path.is_file():
            return None
        return read_only_database(self.path)


# How a registration is built, in its cache key: 2 since its chain runs beside the source's files alone (a worker's
# first grading once built it beside a student's files too; no entry built that way is read again).
REGISTRATION_FORMAT = 2
REGISTRATION_PREFIX = "registered-"  # the cache's entries: registered-DIGEST.db
# Per process: the registration, by (source path, its sha256, assignment).
_REGISTERED: dict[tuple[str, str, str], Registration] = {}


def _registration(course: Course, assignment: str, config: Config, resources: dict) -> Registration:
    """The source registered in a gradebook, as `nbgrader generate_assignment` records it, with our one student.

    Built once per process and source version: a batch worker then starts each grading from a copy.
    """
    path = course.source_notebook(assignment)
    raw = path.read_bytes()
    key = (str(path), hashlib.sha256(raw).hexdigest(), assignment)
    if key not in _REGISTERED:
        _REGISTERED[key] = _cached_registration(course, key, lambda: _register(course, assignment, config, resources, raw))
    return _REGISTERED[key]


def _cached_registration(course: Course, key: tuple[str, str, str], build: Callable[[], bytes]) -> Registration:
    """The registered gradebook from the on-disk cache, keyed by everything it depends on; built and stored on a miss."""
    digest = hashlib.sha256()
    for part in (*key, metadata.version("nbgrader"), (course.root / CONFIG_FILE).read_bytes().hex(), REGISTRATION_FORMAT):
        digest.update(str(part).encode() + b"\0")
    folder = cachefolder.folder()
    cached = folder / f"{REGISTRATION_PREFIX}{digest.hexdigest()[:32]}.db"
    try:
        data = cached.read_bytes()
    except OSError:
        pass
    else:
        cachefolder.used(cached)  # kept by the pruning below, whoever writes next
        return Registration(data, cached)
    data = build()
    try:  # written whole or not at all; a cache that cannot be written only costs time
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, suffix=cachefolder.TEMPORARY_SUFFIX)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, cached)
    except OSError:
        return Registration(data, None)
    cachefolder.prune(folder, f"{REGISTRATION_PREFIX}*.db", spare=cached)
    return Registration(data, cached)


def _register(course: Course, assignment: str, config: Config, resources: dict, raw: bytes) -> bytes:
    """Run GenerateAssignment's chain into a new gradebook, as `nbgrader generate_assignment` records the source.

    Beside the source's own files (staged as a grading stages them), never the caller's folder: a grading's holds
    a student's files, and what the chain reads there (nbgrader's autotests.yml) would then enter the registration.
    """
    with tempfile.TemporaryDirectory(prefix="autograder-register-") as folder:
        db = Path(folder) / "gradebook.db"
        with new_gradebook(db) as gradebook:
            gradebook.update_or_create_assignment(assignment)
            gradebook.update_or_create_student(STUDENT)
        beside = Path(folder) / "source"
        beside.mkdir()
        stage_files(beside, course, assignment, config, None)
        register = copy.deepcopy(resources)
        register["nbgrader"]["db_url"] = f"sqlite:///{db}"
        register["metadata"] = {**register.get("metadata", {}), "path": str(beside)}
        source = nbformat.reads(raw.decode("utf-8"), as_version=4)
        run_chain(GenerateAssignment(config=config).preprocessors, source, register, config)
        with open_gradebook(f"sqlite:///{db}") as gradebook:
            gradebook.update_or_create_submission(assignment, STUDENT)
        return db.read_bytes()


def _preload_checks(lesson: Lesson) -> None:
    """Import torch and the checks for Verify in the background, at once: this process would otherwise only wait.

    While a warm process imports torch on one core, this one has the other to itself (it waits for the
    warm process before the kernel starts). Waiting for the warm process first, as this once did, left
    the import for while the kernel runs, where it takes the interpreter lock from the client that
    talks to the kernel: `autograder grade` measured 0.3-0.5 s slower.
    """
    modules = ("autograder.engine.checks", lesson.family_module)
    if all(name in sys.modules for name in modules):  # a batch's worker, or a second grading here: nothing to load
        return

    def load() -> None:
        with importing():
            for name in modules:
                importlib.import_module(name)

    threading.Thread(target=load, daemon=True).start()


def cell_feedback(executed: NotebookNode, lesson: Lesson) -> dict[str, CellFeedback]:
    """Each test cell's feedback both ways, from the executed notebook: the score that picks one comes from a gradebook."""
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in executed.cells}
    return {
        grade_id: CellFeedback(cell_output(cells.get(grade_id), True), cell_output(cells.get(grade_id), False))
        for grade_id in lesson.by_grade_id
    }


def read_scores(db_url: str, assignment: str, student: str) -> dict[str, tuple[float, float]]:
    """(score, max_score) of every graded cell of a student's notebook, as nbgrader's gradebook holds them."""
    with open_gradebook(db_url) as gradebook:
        notebook = gradebook.find_submission_notebook(assignment, assignment, student)
        return {grade.name: (float(grade.score or 0.0), float(grade.max_score)) for grade in notebook.grades}


def tests_from_scores(
    scores: Mapping[str, tuple[float, float]],
    lesson: Lesson,
    feedback: Mapping[str, CellFeedback],
    mistakes: Mapping[str, str | None],
) -> list[TestResult]:
    """Scores from a gradebook, messages from the executed cells, names from the lesson's catalogue (its order)."""
    tests = []
    for grade_id, spec in lesson.by_grade_id.items():
        if grade_id not in scores:
            continue
        score, max_score = scores[grade_id]
        passed = score >= max_score
        mistake = None if passed else mistakes.get(grade_id) or "not_evaluated"
        cell = feedback.get(grade_id)
        output = cell_output(None, passed) if cell is None else cell.passed if passed else cell.failed
        tests.append(TestResult(spec, score, max_score, output, mistake))
    return tests
