"""Grade every submission of an assignment into the course gradebook: in parallel, filed by nbgrader's own Autograde.

A journal in autograded/ records each finished student with a fingerprint of their submission, so a batch
that was killed resumes where it stopped: unchanged, graded submissions are not graded again.
"""

from __future__ import annotations

import fcntl
import glob
import hashlib
import json
import logging
import os
import tempfile
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from nbgrader.api import MissingEntry
from nbgrader.preprocessors import SaveAutoGrades

from .catalog import ASSIGNMENT, BY_GRADE_ID, Part
from .course import Course
from .errors import CourseError, NotebookError
from .nbgrader_cli import ensure_tools_on_path, open_gradebook
from .parallel import GradingPool, Outcome
from .zygote import Zygote
from .preprocessors import UseExecuted
from .release import generate
from .sandbox import check_available
from .submission import read_submission

log = logging.getLogger(__name__)

GRADED = "graded"
FAILED = "failed"
JOURNAL_VERSION = 1

Progress = Callable[[int, int, "Outcome"], None]


@dataclass(frozen=True)
class StudentScore:
    """One student's score per part, as stored in gradebook.db."""

    student: str
    parts: dict[Part, float]
    max_parts: dict[Part, float]
    graded: bool

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


@dataclass(frozen=True)
class JournalEntry:
    """How one student's submission, identified by its fingerprint, fared in the last batch that graded it."""

    fingerprint: str
    status: str  # GRADED or FAILED
    at: str  # ISO 8601 time the entry was written
    reason: str = ""


def ensure_registered(course: Course, assignment: str = ASSIGNMENT) -> None:
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
    assignment: str = ASSIGNMENT,
    force: bool = False,
    progress: Progress | None = None,
    sandbox: bool = True,
    workers: int | None = None,
    zygote: "Zygote | None" = None,
) -> BatchResult:
    """Grade each submission in submitted/ that is new or changed (all with `force`), in parallel, into gradebook.db.

    Worker processes run the expensive steps (kernel, Verify) for several students at once, each in a
    scratch gradebook; this process then files every finished notebook with nbgrader's own Autograde
    converter (UseExecuted in place of the steps already run), so gradebook.db has one writer, and
    journals the student. Every submission ends graded or with a reason; none is dropped.
    """
    if sandbox:
        check_available()  # one clear line before any student is touched, never a silent unsafe batch
    with _batch_lock(course, assignment):
        ensure_registered(course, assignment)
        path = journal_path(course, assignment)
        folders = dict(_submissions(course, assignment))
        submissions = {student: fingerprint(folder) for student, folder in folders.items()}
        journal = {s: e for s, e in load_journal(path).items() if s in submissions}
        todo = pending(submissions, journal, _graded_students(course, assignment), force)
        notebooks = {student: folders[student] / f"{assignment}.ipynb" for student in todo}
        with tempfile.TemporaryDirectory(prefix="autograder-executed-") as staging, GradingPool(
            course, assignment, workers, sandbox, jobs=len(todo), zygote=zygote
        ) as pool:
            filer = _Filer(course, assignment, Path(staging))
            for index, outcome in enumerate(pool.grade(notebooks), start=1):
                journal[outcome.student] = filer.file(outcome, submissions[outcome.student], notebooks[outcome.student])
                save_journal(path, assignment, journal)
                if progress is not None:
                    progress(index, len(todo), outcome)
        failures = {s: journal[s].reason for s in sorted(submissions) if journal[s].status == FAILED}
        rows = [row for row in scores(course, assignment) if row.graded and row.student not in failures]
    return BatchResult(rows, failures, sorted(set(submissions) - set(todo)))


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


class _Filer:
    """Files finished gradings into the course: results file, then gradebook.db and autograded/ through nbgrader."""

    def __init__(self, course: Course, assignment: str, staging: Path) -> None:
        from nbgrader.coursedir import CourseDirectory

        warnings.filterwarnings("ignore", module="nbgrader.api")  # SQLAlchemy noise from nbgrader's own code
        self.course = course
        self.assignment = assignment
        self.staging = staging
        self.config = course.config()
        chain = list(self.config.Autograde.autograde_preprocessors or [])
        tail = chain[chain.index(SaveAutoGrades):] if SaveAutoGrades in chain else [SaveAutoGrades]
        self.config.Autograde.autograde_preprocessors = [UseExecuted, *tail]
        self.config.UseExecuted.folder = str(staging)
        self.config.BaseConverter.force = True
        self.coursedir = CourseDirectory(config=self.config)
        self.coursedir.assignment_id = assignment

    def file(self, outcome: Outcome, digest: str, notebook: Path) -> JournalEntry:
        """The journal entry for one outcome, after filing it (a failure to file is this student's failure only)."""
        outcome.result.write(results_path(self.course, self.assignment, outcome.student))
        if outcome.notebook is None:
            reason = outcome.error or "no se pudo calificar"
            self._register_submission(outcome.student)
            return JournalEntry(digest, FAILED, _now(), _why_not_graded(notebook, self.assignment, reason))
        executed = self.staging / f"{outcome.student}.ipynb"
        executed.write_text(outcome.notebook, encoding="utf-8")
        try:
            self._convert(outcome.student)
        except Exception as error:  # noqa: BLE001 - nbgrader refused this one: say why, go on
            return JournalEntry(digest, FAILED, _now(), f"nbgrader could not file it: {type(error).__name__}: {error}"[:300])
        finally:
            executed.unlink(missing_ok=True)
        if not _is_graded(self.course, self.assignment, outcome.student):
            return JournalEntry(digest, FAILED, _now(), "nbgrader could not file it: no grades were saved")
        return JournalEntry(digest, GRADED, _now())

    def _register_submission(self, student: str) -> None:
        """An ungradable submission is still on record in gradebook.db, as nbgrader itself leaves it, with no grades."""
        with open_gradebook(f"sqlite:///{self.course.gradebook}") as gradebook:
            gradebook.update_or_create_student(student)
            gradebook.update_or_create_submission(self.assignment, student)

    def _convert(self, student: str) -> None:
        from nbgrader.converters import Autograde

        from .pipeline import LOG

        ensure_tools_on_path()
        self.coursedir.student_id = glob.escape(student)
        Autograde(coursedir=self.coursedir, config=self.config, log=LOG).start()


def _submissions(course: Course, assignment: str) -> list[tuple[str, Path]]:
    """Every (student, folder) under submitted/<student>/<assignment>."""
    return sorted((folder.parent.name, folder) for folder in course.submitted.glob(f"*/{assignment}"))


def _is_graded(course: Course, assignment: str, student: str) -> bool:
    """Whether this one student has autograded scores in gradebook.db and their autograded folder (one query, not the cohort's)."""
    if not (course.root / "autograded" / student / assignment).is_dir():
        return False
    with open_gradebook(f"sqlite:///{course.gradebook}") as gradebook:
        try:
            submission = gradebook.find_submission(assignment, student)
        except MissingEntry:
            return False
        return any(grade.auto_score is not None for notebook in submission.notebooks for grade in notebook.grades)


def _graded_students(course: Course, assignment: str) -> set[str]:
    """Students with graded scores in gradebook.db and their autograded folder in place."""
    autograded = course.root / "autograded"
    return {row.student for row in scores(course, assignment) if row.graded and (autograded / row.student / assignment).is_dir()}


def _why_not_graded(notebook: Path, assignment: str, reason: str) -> str:
    """The submission's own defect when we can name it, else what grading said."""
    try:
        read_submission(notebook, assignment)
    except NotebookError as error:
        return error.reason
    return reason


def fingerprint(folder: Path) -> str:
    """sha256 over the submission folder: every path in it, the content of its files, the target of its links."""
    digest = hashlib.sha256()
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
    """A link's target, a regular file's sha256, or a marker for anything else (a fifo is never opened)."""
    try:
        if path.is_symlink():
            return b"link:" + os.readlink(path).encode("utf-8", "surrogateescape")
        if not path.is_file():
            return b"special"
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest().encode()
    except OSError as error:  # unreadable: nbgrader will say why when it grades it
        return f"unreadable:{type(error).__name__}".encode()


def journal_path(course: Course, assignment: str = ASSIGNMENT) -> Path:
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
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes it 0600; the journal is as readable as any file here
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


def _umask() -> int:
    """The process umask (reading it means setting it; it is put straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _now() -> str:
    """The current UTC time, ISO 8601, to the microsecond."""
    return datetime.now(timezone.utc).isoformat()


def scores(course: Course, assignment: str = ASSIGNMENT) -> list[StudentScore]:
    """Per-part scores of every submission in gradebook.db."""
    rows = []
    with open_gradebook(f"sqlite:///{course.gradebook}") as gradebook:
        for submission in gradebook.assignment_submissions(assignment):
            parts = {part: 0.0 for part in Part}
            maxima = {part: 0.0 for part in Part}
            graded = False
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    spec = BY_GRADE_ID.get(grade.name)
                    if spec is None:
                        continue
                    parts[spec.part] += float(grade.score or 0.0)
                    maxima[spec.part] += float(grade.max_score)
                    graded = graded or grade.auto_score is not None
            rows.append(StudentScore(submission.student.id, parts, maxima, graded))
    return sorted(rows, key=lambda row: row.student)
