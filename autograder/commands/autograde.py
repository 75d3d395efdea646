"""Grade every submission of an assignment into the course gradebook: in parallel, filed by nbgrader's own Autograde.

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
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from nbgrader.api import MissingEntry
from nbgrader.preprocessors import SaveAutoGrades

from autograder.engine.course import Course
from autograder.engine.errors import CourseError, GradingError, NotebookError
from autograder.engine.lesson import Lesson
from autograder.adapter.nbgrader_cli import ensure_tools_on_path, open_gradebook
from autograder.engine.parallel import GradingPool, Outcome
from autograder.isolation.zygote import Zygote
from autograder.adapter.preprocessors import UseExecuted
from autograder.commands.release import generate
from autograder.isolation.bwrap import check_available
from autograder.engine.results import GradingResult
from autograder.engine.submission import file_kind, read_submission

log = logging.getLogger(__name__)

GRADED = "graded"
FAILED = "failed"
JOURNAL_VERSION = 1

Progress = Callable[[int, int, "Outcome"], None]


@dataclass(frozen=True)
class StudentScore:
    """One student's score per part (by part name), as stored in gradebook.db."""

    student: str
    parts: dict[str, float]
    max_parts: dict[str, float]
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
    # Why an instructor should look at a student's submission (GradingResult.review, from their results file).
    review: dict[str, list[str]] = field(default_factory=dict)


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
        todo = pending(submissions, journal, _graded_students(course, assignment, lesson), force)
        notebooks = {student: folders[student] / f"{assignment}.ipynb" for student in todo}
        # Intake: a submission with a link or a special file anywhere in it is refused here, never graded.
        refused = {student: error for student in todo if (error := intake(course, student, assignment)) is not None}
        to_grade = {student: notebook for student, notebook in notebooks.items() if student not in refused}
        with tempfile.TemporaryDirectory(prefix="autograder-executed-") as staging, GradingPool(
            course, assignment, lesson, workers, sandbox, jobs=len(to_grade), zygote=zygote
        ) as pool:
            filer = _Filer(course, assignment, lesson, Path(staging))
            outcomes = itertools.chain(
                _refusals(course, assignment, lesson, refused, notebooks), _outcomes(pool, to_grade, course, assignment, lesson)
            )
            for index, outcome in enumerate(outcomes, start=1):
                journal[outcome.student] = filer.file_safely(outcome, submissions[outcome.student], notebooks[outcome.student])
                save_journal(path, assignment, journal)
                if progress is not None:
                    progress(index, len(todo), outcome)
        failures = {s: journal[s].reason for s in sorted(submissions) if journal[s].status == FAILED}
        rows = [row for row in scores(course, assignment, lesson) if row.graded and row.student not in failures]
        review = reviews(course, assignment, lesson, sorted(submissions))
    return BatchResult(rows, failures, sorted(set(submissions) - set(todo)), review)


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


def _outcomes(pool: GradingPool, notebooks: dict[str, Path], course: Course, assignment: str, lesson: Lesson) -> Iterator[Outcome]:
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


class _Filer:
    """Files finished gradings into the course: results file, then gradebook.db and autograded/ through nbgrader."""

    def __init__(self, course: Course, assignment: str, lesson: Lesson, staging: Path) -> None:
        from nbgrader.coursedir import CourseDirectory

        warnings.filterwarnings("ignore", module="nbgrader.api")  # SQLAlchemy noise from nbgrader's own code
        self.course = course
        self.assignment = assignment
        self.lesson = lesson
        self.staging = staging
        self.config = course.config()
        chain = list(self.config.Autograde.autograde_preprocessors or [])
        tail = chain[chain.index(SaveAutoGrades):] if SaveAutoGrades in chain else [SaveAutoGrades]
        self.config.Autograde.autograde_preprocessors = [UseExecuted, *tail]
        self.config.UseExecuted.folder = str(staging)
        self.config.BaseConverter.force = True
        self.coursedir = CourseDirectory(config=self.config)
        self.coursedir.assignment_id = assignment

    def file_safely(self, outcome: Outcome, digest: str, notebook: Path) -> JournalEntry:
        """`file`, where anything that goes wrong is this student's failure: a reason in the journal and in their results file."""
        try:
            return self.file(outcome, digest, notebook)
        except Exception as error:  # noqa: BLE001 - one student's filing never stops the batch
            failure = GradingError.not_filed(notebook, error)
            log.warning("%s: %s", outcome.student, failure)
            try:
                _ungradable_result(self.course, self.assignment, self.lesson, notebook, str(failure)).write(
                    results_path(self.course, self.assignment, outcome.student)
                )
            except Exception as again:  # noqa: BLE001 - export then lists them from the journal's reason only if a file exists
                log.warning("%s: no results file written either (%s: %s)", outcome.student, type(again).__name__, again)
            return JournalEntry(digest, FAILED, _now(), f"{failure.reason} ({failure.cause})"[:300])

    def file(self, outcome: Outcome, digest: str, notebook: Path) -> JournalEntry:
        """The journal entry for one outcome, after filing it (a failure to file is this student's failure only)."""
        outcome.result.write(results_path(self.course, self.assignment, outcome.student))
        if outcome.notebook is None:
            reason = outcome.error or "no se pudo calificar"
            self._register_submission(outcome.student)
            return JournalEntry(digest, FAILED, _now(), _why_not_graded(self.course, notebook, self.assignment, self.lesson, reason))
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

        from autograder.adapter.pipeline import LOG

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


def submitted_assignments(course: Course) -> list[str]:
    """The course's assignments that have at least one submission (submitted/<student>/<assignment>/); else the default one."""
    found = [name for name in course.assignments() if any(course.submitted.glob(f"*/{glob.escape(name)}"))]
    return found or [course.default_assignment()]


def scores(course: Course, assignment: str, lesson: Lesson) -> list[StudentScore]:
    """Per-part scores of every submission in gradebook.db."""
    rows = []
    with open_gradebook(f"sqlite:///{course.gradebook}") as gradebook:
        for submission in gradebook.assignment_submissions(assignment):
            parts = {part.name: 0.0 for part in lesson.parts}
            maxima = {part.name: 0.0 for part in lesson.parts}
            graded = False
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    spec = lesson.by_grade_id.get(grade.name)
                    if spec is None:
                        continue
                    parts[spec.part.name] += float(grade.score or 0.0)
                    maxima[spec.part.name] += float(grade.max_score)
                    graded = graded or grade.auto_score is not None
            rows.append(StudentScore(submission.student.id, parts, maxima, graded))
    return sorted(rows, key=lambda row: row.student)
