"""Grade many notebooks at once: worker processes (one per core) that keep nbgrader and torch loaded, sharing one warm zygote."""

from __future__ import annotations

import json
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from nbformat.v4.nbjson import BytesEncoder

from autograder.engine.lesson import Lesson
from autograder.engine.course import Course
from autograder.engine.errors import NotebookError
from autograder.engine.forkpool import ForkPool, prestart
from autograder.engine.results import GradingResult
from autograder.engine.stages import QUEUE, RETURN
from autograder.isolation.sandboxkernel import WarmKernelManager
from autograder.isolation.zygote import SOCKET_ENV, Zygote

if TYPE_CHECKING:  # the pipeline imports nbgrader: loaded where gradings run, and by the filer
    from autograder.adapter.pipeline import CellFeedback

# A worker that dies (not a student's kernel: those are contained) takes its pool with it; the
# unfinished submissions are retried in a new pool this many times before they are reported.
MAX_POOL_RESTARTS = 2
ZYGOTE_WATCH_S = 0.5  # how often the batch checks that its warm process is alive while it waits for gradings


@dataclass(frozen=True)
class Outcome:
    """One submission after the expensive steps: the executed notebook and what its result needs, or why it is ungradable.

    A worker saves no score: for an executed submission `result` holds no tests yet (only the notebook,
    review marks and time), and the course's gradebook scores `notebook` once, when it is filed (the
    result a student gets is then built from gradebook.db, late penalty included). For an ungradable
    one, `result` is final: every test at zero with the reason.
    """

    student: str
    result: GradingResult
    notebook: str | None  # the executed notebook as JSON text
    error: str | None = None  # why it could not be graded (the result then says so too)
    seconds: float = 0.0
    feedback: dict[str, CellFeedback] = field(default_factory=dict)  # by grade_id: each test cell's message, passed or failed
    mistakes: dict[str, str | None] = field(default_factory=dict)  # by grade_id: Verify's named mistake of a failing test
    stages: dict[str, float] = field(default_factory=dict)  # seconds per stage (autograder.engine.stages)
    span: tuple[float, float] = (0.0, 0.0)  # when the worker started and finished it (time.monotonic, this machine's clock)


def default_workers() -> int:
    """One worker per core: grading is CPU-bound."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


class GradingPool:
    """Worker processes that grade submissions in parallel; a context manager that stops them and the zygote."""

    def __init__(
        self,
        course: Course,
        assignment: str,
        lesson: Lesson,
        workers: int | None = None,
        sandbox: bool = True,
        jobs: int | None = None,
        zygote: Zygote | None = None,
    ) -> None:
        self.course = course
        self.assignment = assignment
        self.lesson = lesson
        # Never more workers than submissions: each costs a start-up.
        self.workers = max(1, min(workers or default_workers(), jobs if jobs is not None else 1 << 30))
        self.sandbox = sandbox
        self._zygote: Zygote | None = zygote  # one the caller started early, owned by the pool from now on
        self._executor: ForkPool | None = None

    def __enter__(self) -> "GradingPool":
        wanted = self.sandbox and _warm_enabled(self.course) and WarmKernelManager.available()
        if not wanted and self._zygote is not None:
            self._zygote.close()
            self._zygote = None
        elif wanted and self._zygote is None:
            self._zygote = Zygote.warm_or_start()  # warms up while the workers import nbgrader (or is kept warm)
        self._executor = self._new_executor()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if self._executor is not None:  # interrupted (Ctrl-C, SIGTERM, a filing error): the workers are stopped at once
            self._executor.shutdown(wait=exc_type is None, cancel_futures=True)
        if self._zygote is not None:
            self._zygote.close()

    def _new_executor(self) -> ForkPool:
        # The first worker imports nbgrader and torch once and forks the others (never this process, which
        # runs threads); each worker is told this batch's zygote.
        socket_path = str(self._zygote.socket_path) if self._zygote is not None else None
        return ForkPool(self.workers, GRADING_MODULES, {SOCKET_ENV: socket_path})

    def grade(self, submissions: dict[str, Path]) -> Iterator[Outcome]:
        """Grade every (student, notebook); yield each outcome as it finishes, every submission exactly once."""
        todo = dict(submissions)
        restarts = 0
        retried: set[str] = set()
        while todo:
            running = {self._submit(path): (student, self._generation()) for student, path in sorted(todo.items())}
            submitted = time.monotonic()
            broken = False
            while running:
                finished, _ = wait(running, timeout=ZYGOTE_WATCH_S, return_when=FIRST_COMPLETED)
                if self._zygote is not None and self._zygote.died():
                    # Replaced at once: workers starting a kernel wait for the new one to listen, not for a timeout.
                    self._zygote.restart()
                for future in finished:
                    student, generation = running.pop(future)
                    try:
                        outcome = future.result()
                    except BrokenProcessPool:
                        broken = True
                        continue
                    if self._generation() != generation and student not in retried and not broken:
                        # The warm process died while this was graded (not the student's doing): grade it again.
                        retried.add(student)
                        running[self._submit(todo[student])] = (student, self._generation())
                        continue
                    del todo[student]
                    yield replace(outcome, student=student, stages=_waits(outcome, submitted))
            if broken:
                self._executor.shutdown(wait=False, cancel_futures=True)
                restarts += 1
                if restarts > MAX_POOL_RESTARTS:
                    for student, path in sorted(todo.items()):
                        reason = "the grading worker process crashed on every try"
                        yield Outcome(student, self._ungradable(path, reason), None, reason)
                    return
                self._executor = self._new_executor()

    def _ungradable(self, notebook: Path, reason: str) -> GradingResult:
        """A zero with the reason and each test's maximum (without the maxima when the course's points cannot be read)."""
        from autograder.adapter.pipeline import ungradable

        try:
            return ungradable(notebook, reason, self.course, self.assignment, self.lesson)
        except Exception:  # noqa: BLE001 - the reason still stands
            return GradingResult.ungradable(str(notebook), reason, {}, self.lesson, self.assignment)

    def _generation(self) -> int:
        return self._zygote.generation if self._zygote is not None else 0

    def _submit(self, notebook: Path) -> Future:
        """The grading's future; one that raises BrokenProcessPool when the pool broke before it could be handed out."""
        assert self._executor is not None
        try:
            return self._executor.submit(grade_one, self.course.root, self.assignment, self.lesson, str(notebook), self.sandbox)
        except BrokenProcessPool as error:
            broken: Future = Future()
            broken.set_exception(error)
            return broken


def _waits(outcome: Outcome, submitted: float) -> dict[str, float]:
    """The outcome's stages, plus how long it waited for a worker and how long it took to come back (same machine's clock)."""
    started, finished = outcome.span
    if not started:
        return outcome.stages
    return {QUEUE: max(0.0, started - submitted), **outcome.stages, RETURN: max(0.0, time.monotonic() - finished)}


def _warm_enabled(course: Course) -> bool:
    config = course.config()
    return bool(config.GuardedExecute.get("warm", True)) and bool(config.GuardedExecute.get("sandbox", True))


# What a grading imports (nbgrader's pipeline, the checks and torch), loaded once by whatever forks gradings.
GRADING_MODULES = ("autograder.adapter.pipeline", "autograder.engine.checks")


def prestart_workers(workers: int | None = None, fork: bool = False) -> None:
    """Start the first worker importing what gradings need now, so it overlaps the command's own start (the batch's pool takes it).

    With `fork`, it is a fork of this process (call it once this process imported nbgrader: see forkpool.PoolHost.fork).
    """
    prestart(workers or default_workers(), GRADING_MODULES, fork=fork)


def grade_one(root: Path, assignment: str, lesson: Lesson, notebook: str, sandbox: bool) -> Outcome:
    """In a worker: run the steps that decide one notebook's grade (no score is saved); never raises for the submission's own faults.

    The executed notebook comes back with each test cell's feedback, Verify's mistakes, review marks
    and time; the batch's process files it into gradebook.db, where it is scored once.
    """
    from autograder.engine.errors import GradingError
    from autograder.adapter.pipeline import execute_notebook, ungradable

    course = Course.at(root)
    if str(course.root) not in sys.path:  # a course's own lesson packages load here as in the command's process
        sys.path.append(str(course.root))
    started = time.monotonic()
    try:
        executed = execute_notebook(Path(notebook), course, assignment, lesson, sandbox=sandbox, with_folder=True)
    except NotebookError as error:
        result = ungradable(notebook, str(error), course, assignment, lesson)
        return Outcome("", result, None, error.reason, time.monotonic() - started, span=(started, time.monotonic()))
    except Exception as error:  # noqa: BLE001 - this submission fails with the reason; the batch goes on
        failure = GradingError.from_exception(Path(notebook), error)
        result = ungradable(notebook, str(failure), course, assignment, lesson)
        return Outcome("", result, None, str(failure), time.monotonic() - started, span=(started, time.monotonic()))
    pending = GradingResult(notebook=notebook, execution_time=executed.seconds, review=executed.review, assignment=assignment)
    # Plain JSON for the grader's process, whose UseExecuted reads it back and checks it against the schema
    # (nbformat.writes would check it here too, copy it and indent it: 10 ms against 1).
    text = json.dumps(executed.notebook, cls=BytesEncoder, ensure_ascii=False)
    return Outcome(
        "", pending, text, None, time.monotonic() - started, executed.feedback, executed.mistakes, executed.stages, (started, time.monotonic())
    )
