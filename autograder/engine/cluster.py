"""Grade a batch on a Dask cluster: each submission one task running the local pool's worker function (grade_one).

The client (the `autograde` process) stays the single writer of gradebook.db, the journal and results/:
DaskGradingPool yields Outcome objects exactly as GradingPool does, and the batch files them unchanged.
Workers need only the pinned environment and bubblewrap: the course's grading files reach them as a
WorkerPlugin carrying a Bundle (data and sha256, unpacked once per worker), each submission's folder as
a task argument. A worker whose environment differs from the client's, or that cannot start the sandbox,
refuses (a Refusal, not a grade); the task then goes to another worker, and if none accepts the refusal
is that student's reason.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from distributed import Client, as_completed, get_worker
from distributed.diagnostics.plugin import WorkerPlugin

from autograder.engine.bundle import Bundle
from autograder.engine.course import Course
from autograder.engine.errors import AutograderError
from autograder.engine.fingerprint import EnvironmentFingerprint, current
from autograder.engine.lesson import Lesson, Part, TestSpec
from autograder.engine.parallel import Outcome, grade_one
from autograder.engine.results import GradingResult

# An exception raised by the task itself (not the student's: grade_one never raises for those) is retried
# this many times; a worker that dies mid-task is Dask's to reschedule (distributed.scheduler.allowed-failures).
TASK_RETRIES = 1
# How many refusals one student's task may meet (workers of another environment) before the refusals are its reason.
MAX_REFUSALS = 8
PLUGIN_PREFIX = "autograder-course-"


class ClusterError(AutograderError):
    """The batch cannot use the cluster (unreachable scheduler, no worker): nothing was graded or lost."""

    def __init__(self, address: str, reason: str) -> None:
        self.address = address
        self.reason = reason
        super().__init__(f"Dask scheduler {address}: {reason}")


@dataclass(frozen=True)
class Refusal:
    """A worker's answer when it will not grade: its address and why (English, for the instructor)."""

    worker: str
    reason: str


@dataclass(frozen=True)
class Graded:
    """A worker's outcome and the folder it graded in (the client rewrites that folder to its own course's)."""

    outcome: Outcome
    root: str


@dataclass(frozen=True)
class RemoteJob:
    """One submission as a task receives it: everything but the course's files, which the plugin holds."""

    plugin: str
    expected: EnvironmentFingerprint
    assignment: str
    lesson: Lesson
    student: str
    folder: Bundle  # the student's submitted/<student>/<assignment>/ folder
    sandbox: bool


class CoursePlugin(WorkerPlugin):
    """Carries the course's grading files to every worker (those joining later too) and unpacks them once per worker."""

    def __init__(self, bundle: Bundle) -> None:
        self.bundle = bundle
        self.root: Path | None = None
        self.error = ""

    def setup(self, worker: Any) -> None:
        try:
            scratch = Path(tempfile.mkdtemp(prefix=f"{PLUGIN_PREFIX}{self.bundle.sha256[:12]}-"))
            self.root = self.bundle.unpack(scratch / "course")
        except (OSError, ValueError) as error:
            self.error = f"the course's files could not be unpacked here: {error}"

    def teardown(self, worker: Any) -> None:
        if self.root is not None:
            shutil.rmtree(self.root.parent, ignore_errors=True)


def plugin_name(bundle: Bundle) -> str:
    return f"{PLUGIN_PREFIX}{bundle.sha256}"


def grade_on_worker(job: RemoteJob) -> Graded | Refusal:
    """The task: refuse unless this worker grades as the client would, else grade the student's folder with grade_one."""
    worker = get_worker()
    reason = refusal_reason(job.expected, job.sandbox)
    threads = getattr(getattr(worker, "state", None), "nthreads", 1)
    if not reason and threads != 1:
        # A worker grades one submission at a time, as a process of the local pool does (kernels, the warm process
        # and Verify's torch are per process); more processes: --nworkers.
        reason = f"it runs {threads} threads; start grading workers with --nthreads 1 (and --nworkers N for N at once)"
    plugin = worker.plugins.get(job.plugin)
    if not reason and (plugin is None or plugin.root is None):
        reason = getattr(plugin, "error", "") or "the course's files have not reached this worker"
    if reason:
        return Refusal(worker.address, reason)
    root = plugin.root
    scratch = root / "submitted" / job.student
    shutil.rmtree(scratch, ignore_errors=True)
    try:
        job.folder.unpack(scratch / job.assignment)
        outcome = grade_one(root, job.assignment, job.lesson, str(scratch / job.assignment / f"{job.assignment}.ipynb"), job.sandbox)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return Graded(outcome, str(root))


def refusal_reason(expected: EnvironmentFingerprint, sandbox: bool) -> str:
    """Why this process must not grade for that client: another environment, or no sandbox when one is asked for; '' if none."""
    differences = current().differences(expected, mine="on this worker", theirs="client")
    if differences:
        return "its environment differs from the client's: " + "; ".join(differences)
    if sandbox:
        from autograder.isolation.bwrap import SandboxUnavailable, check_available

        try:
            check_available()
        except SandboxUnavailable as error:
            return f"it cannot start the sandbox: {error}"
    return ""


class DaskGradingPool:
    """GradingPool's interface on a Dask cluster: a context manager whose `grade` yields every submission's Outcome once."""

    def __init__(
        self, course: Course, assignment: str, lesson: Lesson, scheduler: str, sandbox: bool = True,
        connect_timeout: float = 30.0, worker_wait: float = 300.0, jobs: int | None = None,
    ) -> None:
        self.course = course
        self.assignment = assignment
        self.lesson = lesson
        self.scheduler = scheduler
        self.sandbox = sandbox
        self.connect_timeout = connect_timeout
        self.worker_wait = worker_wait
        self.jobs = jobs  # 0: nothing to grade (a resumed batch with everyone done), so no cluster is needed
        self.client: Client | None = None
        self._plugin = ""

    def __enter__(self) -> "DaskGradingPool":
        if self.jobs == 0:
            return self
        try:
            self.client = Client(self.scheduler, timeout=self.connect_timeout, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as error:
            raise ClusterError(self.scheduler, f"cannot connect ({type(error).__name__}: {error})") from error
        try:
            bundle = Bundle.of_course(self.course)
            self._plugin = plugin_name(bundle)
            self.client.register_plugin(CoursePlugin(bundle), name=self._plugin)
            self.client.wait_for_workers(1, timeout=self.worker_wait)
        except TimeoutError as error:
            self.__exit__()
            raise ClusterError(self.scheduler, f"no worker joined within {self.worker_wait:g} s") from error
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self.client is None:
            return
        try:
            if self._plugin:
                self.client.unregister_worker_plugin(self._plugin)
        except Exception:  # noqa: BLE001 - the workers' scratch copies go with them; closing matters more
            pass
        finally:
            self.client.close()
            self.client = None

    def grade(self, submissions: dict[str, Path]) -> Iterator[Outcome]:
        """Grade every (student, notebook) on the cluster; yield each outcome as it finishes, every submission exactly once."""
        if not submissions:
            return
        assert self.client is not None
        futures: dict[Any, str] = {}
        refused: dict[str, dict[str, str]] = {}  # student -> worker -> reason
        jobs = {student: self._job(student, Path(path)) for student, path in sorted(submissions.items())}
        for student, job in jobs.items():
            futures[self.client.submit(grade_on_worker, job, retries=TASK_RETRIES, pure=False)] = student
        finished = as_completed(list(futures), loop=self.client.loop)
        for future in finished:
            student = futures.pop(future)
            notebook = Path(submissions[student])
            try:
                answer = future.result()
            except Exception as error:  # noqa: BLE001 - KilledWorker, a task that kept failing: this student's reason
                reason = failure_reason(error)
                yield Outcome(student, self._ungradable(notebook, reason), None, reason)
                continue
            finally:
                future.release()
            if isinstance(answer, Refusal):
                refused.setdefault(student, {})[answer.worker] = answer.reason
                accepting = sorted(self._workers() - set().union(*(set(r) for r in refused.values())))
                if not accepting or len(refused[student]) >= MAX_REFUSALS:
                    reason = "no Dask worker accepted it: " + "; ".join(f"{w} refused, {r}" for w, r in sorted(refused[student].items()))
                    yield Outcome(student, self._ungradable(notebook, reason), None, reason)
                    continue
                again = self.client.submit(
                    grade_on_worker, jobs[student], retries=TASK_RETRIES, pure=False, workers=accepting, allow_other_workers=True
                )
                futures[again] = student
                finished.add(again)
                continue
            yield relocated(answer.outcome, student, notebook, answer.root, str(self.course.root))

    def _job(self, student: str, notebook: Path) -> RemoteJob:
        return RemoteJob(
            self._plugin, current(), self.assignment, self.lesson, student, Bundle.of_folder(notebook.parent), self.sandbox
        )

    def _workers(self) -> set[str]:
        assert self.client is not None
        return set(self.client.scheduler_info(n_workers=-1)["workers"])

    def _ungradable(self, notebook: Path, reason: str) -> GradingResult:
        """A zero with the reason and each test's maximum (without the maxima when the course's points cannot be read)."""
        from autograder.adapter.pipeline import ungradable

        try:
            return ungradable(notebook, reason, self.course, self.assignment, self.lesson)
        except Exception:  # noqa: BLE001 - the reason still stands
            return GradingResult.ungradable(str(notebook), reason, {}, self.lesson, self.assignment)


def failure_reason(error: BaseException) -> str:
    """The student's reason when their task could not finish on the cluster (English, as the local pool's)."""
    if type(error).__name__ == "KilledWorker":
        return "the grading worker process died on every try (Dask KilledWorker)"
    return f"grading on the cluster failed on every try ({type(error).__name__}: {error})"


def relocated(outcome: Outcome, student: str, notebook: Path, worker_root: str, client_root: str) -> Outcome:
    """The worker's outcome as the local pool gives it: the student's name, and the client's paths where the worker's were."""
    swapped = _swap(outcome, worker_root, client_root)
    result = dataclasses.replace(swapped.result, notebook=str(notebook))
    return dataclasses.replace(swapped, student=student, result=result)


def _swap(value: Any, old: str, new: str) -> Any:
    """`value` with `old` replaced by `new` in every string it holds (dataclasses, lists, tuples, dicts)."""
    if isinstance(value, str):
        return value.replace(old, new) if old in value else value
    if isinstance(value, list):
        return [_swap(item, old, new) for item in value]
    if isinstance(value, tuple):
        return tuple(_swap(item, old, new) for item in value)
    if isinstance(value, dict):
        return {key: _swap(item, old, new) for key, item in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type) and not isinstance(value, (Lesson, TestSpec, Part)):
        changes = {f.name: _swap(getattr(value, f.name), old, new) for f in dataclasses.fields(value) if f.init}
        return dataclasses.replace(value, **changes)
    return value
