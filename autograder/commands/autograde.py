"""Grade every submission of an assignment into the course gradebook: in parallel, filed by nbgrader's own Autograde.

Each submission is scored once. Workers run the steps that decide a grade (GuardedExecute, RequireExecution,
Verify, ... everything before SaveAutoGrades) and save no score; this process files the executed notebook
with nbgrader's Autograde (SaveAutoGrades, AssignLatePenalties, ...) into gradebook.db, then writes the
student's results/<assignment>/<student>.json from gradebook.db's scores, late penalty included, so export,
report and `nbgrader export` agree.

A journal in autograded/ records each finished student with a fingerprint of their submission, so a batch
that was killed resumes where it stopped: unchanged, graded submissions are not graded again.
"""

from __future__ import annotations

import fcntl
import glob
import hashlib
import itertools
import json
import logging
import os
import stat
import tempfile
import time
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Mapping, Sequence

from nbgrader.api import Assignment, Grade, MissingEntry, SubmittedAssignment, SubmittedNotebook
from sqlalchemy.orm import joinedload, selectinload, undefer

from autograder.engine import messages as msg
from autograder.engine.course import Course
from autograder.engine.mistakes import LATE_SUBMISSION
from autograder.engine.errors import CourseError, GradingError, NotebookError
from autograder.engine.lesson import Lesson
from autograder.adapter.nbgrader_cli import ensure_tools_on_path, one_engine_per_database, open_gradebook
from autograder.engine.parallel import GradingPool, Outcome
from autograder.isolation.zygote import Zygote
from autograder.adapter.preprocessors import UseExecuted
from autograder.commands.release import generate
from autograder.isolation.bwrap import check_available
from autograder.engine.results import GradingResult, TestResult
from autograder.engine.stages import FILING
from autograder.engine.submission import file_kind, read_submission
from autograder.outputs.outfiles import current_umask

if TYPE_CHECKING:  # dask is imported only when a batch names a scheduler
    from nbgrader.api import Gradebook
    from sqlalchemy.orm import Query

    from autograder.engine.cluster import DaskGradingPool

log = logging.getLogger(__name__)

GRADED = "graded"
FAILED = "failed"
JOURNAL_VERSION = 1

Progress = Callable[[int, int, "Outcome"], None]

# Scores closer than this are equal (gradebook sums are SQL floats).
EPSILON = 1e-9


@dataclass(frozen=True)
class LateSubmission:
    """How late a submission was and what nbgrader's AssignLatePenalties took for it (SubmittedAssignment's figures)."""

    seconds_late: float
    penalty: float  # points taken: SubmittedAssignment.late_submission_penalty, the sum over its notebooks
    raw_score: float  # the score before the penalty
    timestamp: str | None = None  # when it was submitted (timestamp.txt), ISO 8601, UTC
    duedate: str | None = None  # the due date in force for this student (extension included), ISO 8601, UTC

    @property
    def late(self) -> bool:
        return self.seconds_late > 0

    def summary(self, score: float) -> str:
        """The Spanish sentence a student reads about it."""
        duedate = f"{self.duedate.replace('T', ' ')[:16]} UTC" if self.duedate else "sin fecha"
        if self.penalty <= EPSILON:
            return msg.LATE_UNPENALIZED.format(delay=delay_text(self.seconds_late), duedate=duedate)
        return msg.LATE_SUMMARY.format(delay=delay_text(self.seconds_late), duedate=duedate, penalty=self.penalty, raw=self.raw_score, score=score)


@dataclass
class FiledResult(GradingResult):
    """A batch's result, built from gradebook.db after nbgrader filed the submission: scores after the late penalty.

    Its tests carry the penalty (taken from the last test back, messages.LATE_TEST on each that lost points), so
    the total, the parts, export and report agree with `nbgrader export`; results.json's extra_data keeps
    the penalty as fields: `late_penalty` (points, 0 when none) and `late_submission` (the figures).
    """

    late: LateSubmission | None = None

    def to_gradescope(self) -> dict:
        data = super().to_gradescope()
        data["extra_data"]["late_penalty"] = self.late.penalty if self.late is not None else 0.0
        data["extra_data"]["late_submission"] = asdict(self.late) if self.late is not None and self.late.late else None
        if self.late is not None and self.late.late and not self.error:
            data["output"] = f"{data['output']}\n{self.late.summary(self.score)}"
        return data


@dataclass(frozen=True)
class StudentScore:
    """One student's score per part (by part name), as stored in gradebook.db, after nbgrader's late penalty.

    The penalty is taken from the last test back, as in the student's results file; `late_penalty` is
    the points it took (0 when none).
    """

    student: str
    parts: dict[str, float]
    max_parts: dict[str, float]
    graded: bool
    late_penalty: float = 0.0

    @property
    def score(self) -> float:
        return sum(self.parts.values())

    @property
    def max_score(self) -> float:
        return sum(self.max_parts.values())


@dataclass(frozen=True)
class BatchResult:
    """Every submission of a batch: the graded ones with their scores, the others with a reason."""

    scores: list[StudentScore]
    failures: dict[str, str]
    skipped: list[str] = field(default_factory=list)  # graded by an earlier run, unchanged since: not regraded
    # Why an instructor should look at a student's submission (GradingResult.review, from their results file).
    review: dict[str, list[str]] = field(default_factory=dict)
    only: list[str] = field(default_factory=list)  # the students named (--student): the batch speaks of them alone
    # Where the time went: seconds per stage of each submission graded (autograder.engine.stages), and the batch's
    # wall time and the time to its first filed result, from the call.
    stages: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: float = 0.0
    first_result: float = 0.0


@dataclass(frozen=True)
class JournalEntry:
    """How one student's submission, identified by its fingerprint, fared in the last batch that graded it."""

    fingerprint: str
    status: str  # GRADED or FAILED
    at: str  # ISO 8601 time the entry was written
    reason: str = ""


def ensure_registered(course: Course, assignment: str) -> None:
    """Make gradebook.db know the assignment and its source cells, without touching the committed release."""
    with open_gradebook(f"sqlite:///{course.gradebook}") as gradebook:
        try:
            if gradebook.find_assignment(assignment).notebooks:
                return
        except MissingEntry:
            pass
    with tempfile.TemporaryDirectory(prefix="autograder-register-") as scratch:
        generate(course, assignment, release_dir=Path(scratch))


def autograde(
    course: Course,
    assignment: str,
    lesson: Lesson,
    force: bool = False,
    progress: Progress | None = None,
    sandbox: bool = True,
    workers: int | None = None,
    zygote: "Zygote | None" = None,
    students: Sequence[str] | None = None,
    scheduler: str | None = None,
) -> BatchResult:
    """Grade each submission in submitted/ that is new or changed (all with `force`), in parallel, into gradebook.db.

    With `students`, only theirs are graded, whether or not they changed (nbgrader's `--student` with `--force`),
    and the result speaks of them only; every other submission, its grades and its journal entry stay as they
    were. A named student without a submission is a CourseError before anything is touched.

    Worker processes run the steps that decide a grade (kernel, Verify) for several students at once and
    save no score; this process then files every executed notebook with nbgrader's own Autograde converter
    (UseExecuted in place of the steps already run), so gradebook.db has one writer and each submission
    one scoring, writes the student's results file from gradebook.db (late penalty included), and
    journals the student. Every submission ends graded or with a reason; none is dropped.

    With `scheduler` (a Dask scheduler's address; None reads the course's c.Cluster.scheduler, "" forces
    the local pool) the workers are a Dask cluster's (autograder.engine.cluster); the filing is the same.
    """
    began = time.monotonic()
    chosen = None if students is None else sorted(set(students))
    if chosen is not None:
        unknown = sorted(set(chosen) - set(submitted_students(course, assignment)))
        if unknown:
            raise CourseError.unknown_students(course.root, [assignment], unknown)
    if sandbox:
        check_available()  # one clear line before any student is touched, never a silent unsafe batch
    with _batch_lock(course, assignment):
        ensure_registered(course, assignment)
        path = journal_path(course, assignment)
        folders = dict(_submissions(course, assignment))
        # The journal keeps every current submission's entry; only the students in scope are fingerprinted and graded.
        journal = {s: e for s, e in load_journal(path).items() if s in folders}
        scope = chosen if chosen is not None else sorted(folders)
        submissions = {student: fingerprint(folders[student]) for student in scope}
        if chosen is not None:
            todo = list(chosen)
        else:
            todo = pending(submissions, journal, _graded_students(course, assignment, lesson), force)
        notebooks = {student: folders[student] / f"{assignment}.ipynb" for student in todo}
        # Intake: a submission with a link or a special file anywhere in it is refused here, never graded.
        refused = {student: error for student in todo if (error := intake(course, student, assignment)) is not None}
        to_grade = {student: notebook for student, notebook in notebooks.items() if student not in refused}
        with tempfile.TemporaryDirectory(prefix="autograder-executed-") as staging, one_engine_per_database(), _pool(
            course, assignment, lesson, workers, sandbox, len(to_grade), zygote, scheduler
        ) as pool:
            filer = _Filer(course, assignment, lesson, Path(staging))
            outcomes = itertools.chain(
                _refusals(course, assignment, lesson, refused, notebooks), _outcomes(pool, to_grade, course, assignment, lesson)
            )
            stages: dict[str, dict[str, float]] = {}
            first_result = 0.0
            for index, outcome in enumerate(outcomes, start=1):
                filing = time.monotonic()
                filed = filer.file_safely(outcome, submissions[outcome.student], notebooks[outcome.student])
                journal[outcome.student] = filed.entry
                save_journal(path, assignment, journal)
                stages[outcome.student] = {**outcome.stages, FILING: time.monotonic() - filing}
                first_result = first_result or time.monotonic() - began
                if progress is not None:
                    progress(index, len(todo), filed.outcome(outcome))
        failures = {s: journal[s].reason for s in scope if s in journal and journal[s].status == FAILED}
        rows = [row for row in scores(course, assignment, lesson) if row.graded and row.student in submissions and row.student not in failures]
        review = reviews(course, assignment, lesson, scope)
    skipped = sorted(set(submissions) - set(todo))
    return BatchResult(rows, failures, skipped, review, chosen or [], stages, time.monotonic() - began, first_result)


def _pool(
    course: Course, assignment: str, lesson: Lesson, workers: int | None, sandbox: bool, jobs: int, zygote: "Zygote | None", scheduler: str | None
) -> "GradingPool | DaskGradingPool":
    """This machine's process pool, or a Dask cluster's workers when a scheduler is named (here or in c.Cluster)."""
    from autograder.engine.cluster_settings import Cluster

    settings = Cluster(config=course.config())
    address = settings.scheduler if scheduler is None else scheduler
    if not address:
        return GradingPool(course, assignment, lesson, workers, sandbox, jobs=jobs, zygote=zygote)
    if zygote is not None:
        zygote.close()  # the workers warm their own
    try:
        from autograder.engine.cluster import DaskGradingPool
    except ImportError as error:
        raise CourseError(course.root, f"grading on a Dask scheduler needs the cluster extra: pip install -c constraints.txt '.[cluster]' ({error})") from error
    return DaskGradingPool(course, assignment, lesson, address, sandbox, settings.connect_timeout, settings.worker_wait, jobs=jobs)


def intake(course: Course, student: str, assignment: str) -> NotebookError | None:
    """Why this student's submission is refused before grading, or None: links and special files are never followed.

    The student's folder and the assignment folder must be real folders, and everything in them a
    folder or a regular file: nbgrader, filing a graded submission, copies (following links) and
    reads (blocking on a FIFO) the other files of the folder. The notebook itself is opened without
    following links and checked on the open file when it is graded (read_submission).
    """
    student_folder = course.submitted / student
    folder = student_folder / assignment
    for path in (student_folder, folder):
        try:
            mode = os.lstat(path).st_mode
        except OSError as error:
            return NotebookError.unreadable(path, error)
        if stat.S_ISLNK(mode):
            return NotebookError.linked_folder(path)
        if not stat.S_ISDIR(mode):
            return NotebookError.not_regular(path, file_kind(mode))
    notebook = folder / f"{assignment}.ipynb"
    for item in sorted(_walk_all(folder)):
        try:
            mode = os.lstat(item).st_mode
        except OSError as error:
            return NotebookError.unreadable(item, error)
        if stat.S_ISDIR(mode) or stat.S_ISREG(mode):
            continue
        if item == notebook:
            return NotebookError.not_regular(item, file_kind(mode))
        return NotebookError.special_in_folder(item, file_kind(mode))
    return None


def _walk_all(folder: Path) -> Iterator[Path]:
    """Every file, folder and link under `folder`, without following links."""
    for directory, folders, names in os.walk(folder, followlinks=False):
        for name in (*folders, *names):
            yield Path(directory) / name


def _refusals(course: Course, assignment: str, lesson: Lesson, refused: dict[str, NotebookError], notebooks: dict[str, Path]) -> Iterator[Outcome]:
    """An outcome per refused submission: a zero with the reason, as a grading worker gives for a broken notebook."""
    for student, error in sorted(refused.items()):
        yield Outcome(student, _ungradable_result(course, assignment, lesson, notebooks[student], str(error)), None, error.reason)


def _outcomes(pool: "GradingPool | DaskGradingPool", notebooks: dict[str, Path], course: Course, assignment: str, lesson: Lesson) -> Iterator[Outcome]:
    """Every submission's outcome from the pool; whatever the pool raises becomes a student's reason, never the batch's end.

    After an unexpected error the rest are graded one at a time, so the next one is pinned on its student.
    """
    if not notebooks:
        return
    done: set[str] = set()
    try:
        for outcome in pool.grade(notebooks):
            done.add(outcome.student)
            yield outcome
        return
    except Exception as error:  # noqa: BLE001 - pinned on the students below, one at a time
        log.warning("grading pool failed (%s: %s); grading the rest one at a time", type(error).__name__, error)
    for student in sorted(set(notebooks) - done):
        try:
            outcomes = list(pool.grade({student: notebooks[student]}))
        except Exception as error:  # noqa: BLE001 - this student's failure only
            reason = str(GradingError.from_exception(notebooks[student], error))
            yield Outcome(student, _ungradable_result(course, assignment, lesson, notebooks[student], reason), None, reason)
            continue
        yield from outcomes


def reviews(course: Course, assignment: str, lesson: Lesson, students: list[str]) -> dict[str, list[str]]:
    """The review marks of each student's results file, for those that have any (a file that cannot be read has none)."""
    out = {}
    for student in students:
        try:
            marks = GradingResult.read(results_path(course, assignment, student), lesson).review
        except (OSError, ValueError):  # no readable results file: export and report warn about it
            continue
        if marks:
            out[student] = marks
    return out


def pending(submissions: dict[str, str], journal: dict[str, JournalEntry], graded: set[str], force: bool = False) -> list[str]:
    """The students to grade: all with `force`, else those not journalled as graded with this fingerprint and graded in the gradebook."""
    return sorted(
        student
        for student, digest in submissions.items()
        if force or not _is_done(journal.get(student), digest, student in graded)
    )


def _is_done(entry: JournalEntry | None, digest: str, graded: bool) -> bool:
    """Whether an earlier batch graded exactly this submission and its grades are still there."""
    return entry is not None and entry.status == GRADED and entry.fingerprint == digest and graded


def results_path(course: Course, assignment: str, student: str) -> Path:
    """Where a student's results.json-format result is kept after a batch (read by export and report)."""
    return course.root / "results" / assignment / f"{student}.json"


@dataclass(frozen=True)
class Filed:
    """One student after filing: their journal entry and the result their results file holds."""

    entry: JournalEntry
    result: GradingResult

    def outcome(self, outcome: Outcome) -> Outcome:
        """The worker's outcome with the filed result (what progress shows), and the reason when filing failed."""
        error = outcome.error or (self.entry.reason if self.entry.status == FAILED else None)
        return replace(outcome, result=self.result, error=error)


class _Filer:
    """Files finished gradings into the course: gradebook.db and autograded/ through nbgrader, then the results file from gradebook.db."""

    def __init__(self, course: Course, assignment: str, lesson: Lesson, staging: Path) -> None:
        from nbgrader.coursedir import CourseDirectory

        from autograder.adapter.pipeline import split_chain

        warnings.filterwarnings("ignore", module="nbgrader.api")  # SQLAlchemy noise from nbgrader's own code
        self.course = course
        self.assignment = assignment
        self.lesson = lesson
        self.staging = staging
        self.config = course.config()
        _, tail = split_chain(self.config.Autograde.autograde_preprocessors or [])
        self.config.Autograde.autograde_preprocessors = [UseExecuted, *tail]
        # The worker sanitized the submission already, and UseExecuted puts the executed copy in place of
        # whatever the sanitize pass would make: here that pass only copies the submission through.
        self.config.Autograde.sanitize_preprocessors = []
        self.config.UseExecuted.folder = str(staging)
        self.config.UseExecuted.enabled = True  # never the student's own outputs in its place, whatever the course says
        self.config.BaseConverter.force = True
        self.coursedir = CourseDirectory(config=self.config)
        self.coursedir.assignment_id = assignment
        self._visibility: dict | None = None

    def file_safely(self, outcome: Outcome, digest: str, notebook: Path) -> Filed:
        """`file`, where anything that goes wrong is this student's failure: a reason in the journal and in their results file."""
        try:
            return self.file(outcome, digest, notebook)
        except Exception as error:  # noqa: BLE001 - one student's filing never stops the batch
            failure = GradingError.not_filed(notebook, error)
            log.warning("%s: %s", outcome.student, failure)
            result = _ungradable_result(self.course, self.assignment, self.lesson, notebook, str(failure))
            try:
                result.write(results_path(self.course, self.assignment, outcome.student))
            except Exception as again:  # noqa: BLE001 - export then lists them from the journal's reason only if a file exists
                log.warning("%s: no results file written either (%s: %s)", outcome.student, type(again).__name__, again)
            return Filed(JournalEntry(digest, FAILED, _now(), f"{failure.reason} ({failure.cause})"[:300]), result)

    def file(self, outcome: Outcome, digest: str, notebook: Path) -> Filed:
        """File one outcome: scored once, by nbgrader into gradebook.db; the results file is what gradebook.db then holds."""
        target = results_path(self.course, self.assignment, outcome.student)
        if outcome.notebook is None:
            outcome.result.write(target)
            reason = outcome.error or "no se pudo calificar"
            self._register_submission(outcome.student)
            return Filed(JournalEntry(digest, FAILED, _now(), _why_not_graded(self.course, notebook, self.assignment, self.lesson, reason)), outcome.result)
        executed = self.staging / f"{outcome.student}.ipynb"
        executed.write_text(outcome.notebook, encoding="utf-8")
        try:
            self._convert(outcome.student)
        except Exception as error:  # noqa: BLE001 - nbgrader refused this one: say why, go on
            return self._not_filed(outcome, digest, notebook, f"nbgrader could not file it: {type(error).__name__}: {error}", error)
        finally:
            executed.unlink(missing_ok=True)
        result = self._filed_result(outcome)
        if result is None:
            return self._not_filed(outcome, digest, notebook, "nbgrader could not file it: no grades were saved", None)
        result.write(target)
        return Filed(JournalEntry(digest, GRADED, _now()), result)

    def _not_filed(self, outcome: Outcome, digest: str, notebook: Path, reason: str, error: Exception | None) -> Filed:
        """A failure to file: the reason in the journal, and a zero with the reason in the results file (never a score gradebook.db lacks)."""
        failure = GradingError.not_filed(notebook, error if error is not None else RuntimeError("no grades were saved"))
        result = _ungradable_result(self.course, self.assignment, self.lesson, notebook, str(failure))
        result.write(results_path(self.course, self.assignment, outcome.student))
        return Filed(JournalEntry(digest, FAILED, _now(), reason[:300]), result)

    def _filed_result(self, outcome: Outcome) -> "FiledResult | None":
        """The student's result from gradebook.db (scores after the late penalty), or None when nbgrader saved no grades."""
        student = outcome.student
        if not (self.course.root / "autograded" / student / self.assignment).is_dir():
            return None
        with open_gradebook(f"sqlite:///{self.course.gradebook}") as gradebook:
            submission = submissions_with_scores(gradebook, self.assignment, student).one_or_none()
            if submission is None:
                return None
            filed = read_submission_scores(submission, self.lesson)
        if not filed.graded:
            return None
        from autograder.adapter.pipeline import tests_from_scores

        tests = tests_from_scores(filed.scores, self.lesson, outcome.feedback, outcome.mistakes)
        pending = outcome.result
        result = FiledResult(
            notebook=pending.notebook or str(outcome.student),
            tests=penalized_tests(tests, filed.late.penalty),
            execution_time=pending.execution_time,
            review=list(pending.review),
            assignment=self.assignment,
            late=filed.late,
        )
        return result.with_visibility(self.visibility())

    def visibility(self) -> dict:
        """The course's visibility overrides for the lesson's tests (read once per batch)."""
        if self._visibility is None:
            self._visibility = self.course.visibility(self.lesson, self.config)
        return self._visibility

    def _register_submission(self, student: str) -> None:
        """An ungradable submission is still on record in gradebook.db, as nbgrader itself leaves it, with no grades."""
        with open_gradebook(f"sqlite:///{self.course.gradebook}") as gradebook:
            gradebook.update_or_create_student(student)
            gradebook.update_or_create_submission(self.assignment, student)

    def _convert(self, student: str) -> None:
        from autograder.adapter.fileexecuted import FileExecuted
        from autograder.adapter.pipeline import LOG

        ensure_tools_on_path()
        self.coursedir.student_id = glob.escape(student)
        FileExecuted(coursedir=self.coursedir, config=self.config, log=LOG).start()


@dataclass(frozen=True)
class SubmissionScores:
    """One submitted assignment as gradebook.db holds it: each test's (score, max_score) before the penalty, and the penalty."""

    scores: dict[str, tuple[float, float]]  # by grade_id, in the lesson's order
    late: LateSubmission
    graded: bool  # any autograded score saved


def submissions_with_scores(gradebook: "Gradebook", assignment: str, student: str | None = None) -> "Query[SubmittedAssignment]":
    """The assignment's submissions (one student's, if named) with what read_submission_scores reads loaded with them.

    Three statements in all: read through nbgrader's lazy attributes, each submission took about 50
    (every grade's cell and maximum one by one), 7 ms per student filed and 3.5 s per 1,000 students listed.
    """
    query = (
        gradebook.db.query(SubmittedAssignment)
        .join(Assignment, Assignment.id == SubmittedAssignment.assignment_id)
        .filter(Assignment.name == assignment)
    )
    if student is not None:
        query = query.filter(SubmittedAssignment.student_id == student)
    grades = selectinload(SubmittedAssignment.notebooks).selectinload(SubmittedNotebook.grades)
    return query.options(
        joinedload(SubmittedAssignment.assignment),
        joinedload(SubmittedAssignment.student),
        grades.undefer(Grade.max_score),
        grades.joinedload(Grade.cell),
    )


def read_submission_scores(submission: SubmittedAssignment, lesson: Lesson) -> SubmissionScores:
    """Scores and late penalty of a submission, read as nbgrader reads them (Grade.score, the notebooks' late_submission_penalty)."""
    found: dict[str, tuple[float, float]] = {}
    penalty = 0.0
    graded = False
    for notebook in submission.notebooks:
        penalty += float(notebook.late_submission_penalty or 0.0)
        for grade in notebook.grades:
            if grade.name in lesson.by_grade_id:
                graded = graded or grade.auto_score is not None
                score, maximum = found.get(grade.name, (0.0, 0.0))
                found[grade.name] = (score + float(grade.score or 0.0), maximum + float(grade.max_score))
    scores = {grade_id: found[grade_id] for grade_id in lesson.by_grade_id if grade_id in found}
    raw = sum(score for score, _ in scores.values())
    late = LateSubmission(
        seconds_late=float(submission.total_seconds_late or 0.0),
        penalty=penalty,
        raw_score=raw,
        timestamp=_iso(submission.timestamp),
        duedate=_iso(submission.duedate),
    )
    return SubmissionScores(scores, late, graded)


def take_penalty(scores: Mapping[str, float], penalty: float) -> dict[str, float]:
    """Each test's score after a penalty of `penalty` points, taken from the last test back (no score below zero).

    The total is then nbgrader's own: max(0, raw score - penalty), as `nbgrader export` writes it.
    """
    out = dict(scores)
    left = max(0.0, float(penalty))
    for grade_id in reversed(list(out)):
        if left <= EPSILON:
            break
        lost = min(out[grade_id], left)
        left -= lost
        out[grade_id] = 0.0 if out[grade_id] - lost <= EPSILON else out[grade_id] - lost
    return out


def penalized_tests(tests: list[TestResult], penalty: float) -> list[TestResult]:
    """The tests with the late penalty taken from their scores (take_penalty); each that lost points says so, in Spanish."""
    if penalty <= EPSILON:
        return tests
    after = take_penalty({str(index): test.score for index, test in enumerate(tests)}, penalty)
    out = []
    for index, test in enumerate(tests):
        score = after[str(index)]
        lost = test.score - score
        if lost <= EPSILON:
            out.append(test)
            continue
        note = msg.LATE_TEST.format(lost=lost, score=test.score)
        out.append(replace(test, score=score, output=f"{test.output}\n{note}" if test.output else note, mistake=test.mistake or LATE_SUBMISSION))
    return out


def delay_text(seconds: float) -> str:
    """How late, as a student reads it: "1 día, 2 h y 5 min", "40 s"."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    days, rest = divmod(seconds // 60, 24 * 60)
    hours, minutes = divmod(rest, 60)
    pieces = [f"{days} día" + ("s" if days != 1 else "")] if days else []
    pieces += [f"{hours} h"] if hours else []
    pieces += [f"{minutes} min"] if minutes else []
    return pieces[0] if len(pieces) == 1 else ", ".join(pieces[:-1]) + " y " + pieces[-1]


def _iso(moment: datetime | None) -> str | None:
    """A gradebook time (naive, UTC, as nbgrader stores it) in ISO 8601 with its zone."""
    if moment is None:
        return None
    return (moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)).isoformat()


def _submissions(course: Course, assignment: str) -> list[tuple[str, Path]]:
    """Every (student, folder) under submitted/<student>/<assignment>."""
    return sorted((folder.parent.name, folder) for folder in course.submitted.glob(f"*/{glob.escape(assignment)}"))


def submitted_students(course: Course, assignment: str) -> list[str]:
    """The students with a submission of `assignment` (submitted/<student>/<assignment>/), sorted."""
    return [student for student, _ in _submissions(course, assignment)]


def _graded_students(course: Course, assignment: str, lesson: Lesson) -> set[str]:
    """Students with graded scores in gradebook.db and their autograded folder in place."""
    autograded = course.root / "autograded"
    return {row.student for row in scores(course, assignment, lesson) if row.graded and (autograded / row.student / assignment).is_dir()}


def _why_not_graded(course: Course, notebook: Path, assignment: str, lesson: Lesson, reason: str) -> str:
    """The submission's own defect when we can name it (read as intake reads it: no link followed), else what grading said."""
    try:
        read_submission(notebook, assignment, lesson=lesson, within=course.submitted)
    except NotebookError as error:
        return error.reason
    except Exception:  # noqa: BLE001 - naming the defect is a courtesy; what grading said stands
        return reason
    return reason


def _ungradable_result(course: Course, assignment: str, lesson: Lesson, notebook: Path, reason: str) -> GradingResult:
    from autograder.adapter.pipeline import ungradable

    try:
        return ungradable(notebook, reason, course, assignment, lesson)
    except Exception:  # noqa: BLE001 - the course's points could not be read: the reason still stands
        return GradingResult.ungradable(str(notebook), reason, {}, lesson, assignment)


def fingerprint(folder: Path) -> str:
    """sha256 over the submission folder: every path in it, the content of its files, the target of its links.

    A linked student or assignment folder is never entered: its digest is that of the links themselves.
    """
    digest = hashlib.sha256()
    linked = [path for path in (folder.parent, folder) if path.is_symlink()]
    if linked:
        for path in linked:
            digest.update(path.name.encode("utf-8", "surrogateescape") + b"\0" + _content_digest(path) + b"\0")
        return digest.hexdigest()
    for path in sorted(_walk(folder)):
        digest.update(path.relative_to(folder).as_posix().encode("utf-8", "surrogateescape") + b"\0")
        digest.update(_content_digest(path) + b"\0")
    return digest.hexdigest()


def _walk(folder: Path) -> Iterator[Path]:
    """Every file and link under `folder`, without following links."""
    for directory, _, names in os.walk(folder, followlinks=False):
        for name in names:
            yield Path(directory) / name


def _content_digest(path: Path) -> bytes:
    """A link's target, a regular file's sha256, or a marker for anything else (opened without following links or waiting)."""
    try:
        if path.is_symlink():
            return b"link:" + os.readlink(path).encode("utf-8", "surrogateescape")
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return b"special"
            with os.fdopen(fd, "rb") as handle:
                fd = -1
                return hashlib.file_digest(handle, "sha256").hexdigest().encode()
        finally:
            if fd >= 0:
                os.close(fd)
    except OSError as error:  # unreadable (or swapped for a link meanwhile): intake will say why
        return f"unreadable:{type(error).__name__}".encode()


def journal_path(course: Course, assignment: str) -> Path:
    """Where the batch journal lives: in autograded/, so it goes when the graded output goes."""
    return course.root / "autograded" / f".autograder-batch-{assignment}.json"


def load_journal(path: Path) -> dict[str, JournalEntry]:
    """The journal's entries; a missing, unreadable or malformed journal is an empty one (everything is regraded)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        students = data["students"]
        if data.get("version") != JOURNAL_VERSION or not isinstance(students, dict):
            raise ValueError(f"unexpected journal layout (version {data.get('version')!r})")
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        log.warning("ignoring the batch journal %s (%s): every submission will be graded", path, error)
        return {}
    return {student: entry for student, raw in students.items() if (entry := _entry(raw)) is not None}


def _entry(raw: object) -> JournalEntry | None:
    """One journal entry from its JSON form, or None when it is not one."""
    if not isinstance(raw, dict):
        return None
    try:
        entry = JournalEntry(**raw)
    except TypeError:
        return None
    fields_ok = all(isinstance(value, str) for value in asdict(entry).values())
    return entry if fields_ok and entry.status in (GRADED, FAILED) else None


def save_journal(path: Path, assignment: str, entries: dict[str, JournalEntry]) -> None:
    """Write the journal atomically (temporary file, fsync, rename): a kill leaves the old one or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"version": JOURNAL_VERSION, "assignment": assignment, "students": {s: asdict(e) for s, e in sorted(entries.items())}}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp makes it 0600; the journal is as readable as any file here
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1, ensure_ascii=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)  # only left when writing failed


@contextmanager
def _batch_lock(course: Course, assignment: str) -> Iterator[None]:
    """Hold an exclusive lock on the course's batch for this assignment (the kernel drops it if we are killed)."""
    lock = journal_path(course, assignment).with_suffix(".lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with lock.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            raise CourseError(course.root, f"another `autograder autograde` of {assignment} is running here ({lock} is locked)") from error
        yield


def _now() -> str:
    """The current UTC time, ISO 8601, to the microsecond."""
    return datetime.now(timezone.utc).isoformat()


def submitted_assignments(course: Course) -> list[str]:
    """The course's assignments that have at least one submission (submitted/<student>/<assignment>/); else the default one."""
    found = [name for name in course.assignments() if any(course.submitted.glob(f"*/{glob.escape(name)}"))]
    return found or [course.default_assignment()]


def scores(course: Course, assignment: str, lesson: Lesson) -> list[StudentScore]:
    """Per-part scores of every submission in gradebook.db, after its late penalty (as in the students' results files)."""
    rows = []
    with open_gradebook(f"sqlite:///{course.gradebook}") as gradebook:
        for submission in submissions_with_scores(gradebook, assignment):
            filed = read_submission_scores(submission, lesson)
            after = take_penalty({grade_id: score for grade_id, (score, _) in filed.scores.items()}, filed.late.penalty)
            parts = {part.name: 0.0 for part in lesson.parts}
            maxima = {part.name: 0.0 for part in lesson.parts}
            for grade_id, (_, maximum) in filed.scores.items():
                part = lesson.by_grade_id[grade_id].part.name
                parts[part] += after[grade_id]
                maxima[part] += maximum
            penalty = min(filed.late.penalty, filed.late.raw_score) if filed.late.penalty > EPSILON else 0.0
            rows.append(StudentScore(submission.student.id, parts, maxima, filed.graded, penalty))
    return sorted(rows, key=lambda row: row.student)
