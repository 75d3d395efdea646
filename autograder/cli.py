"""The `autograder` command: each verb a thin wrapper over a plain function that holds the defaults."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from autograder.engine.course import Course
from autograder.engine.errors import AutograderError, CourseError, GradingError, NotebookError
from autograder.engine.heap import importing
from autograder.engine.language import DEFAULT_LANGUAGE, Language
from autograder.engine.progress import Progress
from autograder.outputs.export import ExportFormat
from autograder.commands.grade import grade
from autograder.engine.lesson import Lesson
from autograder.engine.teacher_text import TeacherText, teacher_text
from autograder.isolation.warmsession import DEFAULT_IDLE_S
from autograder.isolation.zygote import Zygote

if TYPE_CHECKING:
    from autograder.commands.autograde import BatchResult
    from autograder.outputs.cohort import Cohort

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_UNGRADABLE = 2
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM, as a shell reports a command killed by SIGINT
INTERRUPTED = "autograder: interrupted"


NO_SANDBOX_WARNING = (
    "autograder: WARNING: --no-sandbox: student code runs with your user's rights, network and files; "
    "grade only trusted notebooks this way"
)


def _cmd_grade(args: argparse.Namespace) -> int:
    _warn_unsandboxed(args)
    try:
        result = grade(
            args.notebook, args.results, args.course, args.assignment, sandbox=not args.no_sandbox, feedback=args.feedback
        )
    except (NotebookError, GradingError) as error:
        print(f"autograder: cannot grade {error}", file=sys.stderr)
        return EXIT_UNGRADABLE
    print(result.table())
    return EXIT_OK


def _cmd_warm(args: argparse.Namespace) -> int:
    from autograder.commands.warm import keep_warm, stop_warm

    if args.stop:
        pids = stop_warm()
        print(f"stopped the warm processes (pids {', '.join(map(str, pids))})" if pids else "no warm process was running")
        return EXIT_OK
    idle = DEFAULT_IDLE_S if args.idle is None else args.idle
    warm = keep_warm(idle)
    how = f"started in {warm.seconds:.1f} s, stopping after {idle:g} s unused" if warm.started else "already running"
    print(
        f"warm processes {how} (pids {warm.kernels.pid}, {warm.commands.pid}): `autograder grade` and `autograder autograde` "
        "on this machine run in them; `autograder warm --stop` ends them"
    )
    if not warm.started and args.idle is not None:
        print("--idle applies to warm processes this command starts: they keep their own; `autograder warm --stop` first to change it")
    return EXIT_OK


def _cmd_check(args: argparse.Namespace) -> int:
    # The kernel first: it boots (and starts running the notebook) while the check's code and lesson load.
    from autograder.commands.localkernel import LocalKernel

    kernel = LocalKernel.started_for(args.notebook)
    from autograder.commands.check import check_notebook

    try:
        report = check_notebook(args.notebook, args.assignment, args.course, kernel=kernel)
    except (NotebookError, GradingError) as error:
        print(f"autograder: cannot check {error}", file=sys.stderr)
        return EXIT_UNGRADABLE
    print(report.render())
    return EXIT_OK if report.all_visible_passed else EXIT_ERROR


def _cmd_autograde(args: argparse.Namespace) -> int:
    _warn_unsandboxed(args)
    # The warm process imports torch on the other core while nbgrader loads here; then the first grading
    # worker is forked from this process and imports only what this one lacks (torch, the checks). The
    # batch owns both from then on. Not with --scheduler: a Dask cluster's workers warm their own.
    local = not args.scheduler
    # Its kernels are all of the first batch's lesson (later batches start their own).
    zygote = Zygote.warm_or_start(one_lesson=True) if local and not args.no_sandbox and Zygote.available() else None
    from autograder.engine.parallel import default_workers, prestart_workers

    failed = False
    timed: list[tuple[str, "BatchResult", int | None]] = []
    try:
        with importing():  # the batch's modules and the course's configuration (nbgrader)
            from autograder.commands.autograde import autograde, submitted_assignments

            course = Course.at(args.course) if args.course else Course.find()
            words = teacher_text(_language(args, course))
            named = args.assignment_name or args.assignment
            assignments = [named] if named else submitted_assignments(course)
            lessons = {name: course.lesson(name) for name in assignments}  # every lesson resolved before any grading
            from autograder.adapter.pipeline import register_ahead  # (the filing uses the module; the worker forked below has it)
            from autograder.engine.submission import compile_schema_checks

            compile_schema_checks()  # the workers forked below inherit them
        if local:
            if assignments:  # the first batch's workers, forked below, inherit its registration
                register_ahead(course, assignments[0], lessons[assignments[0]])
            prestart_workers(args.workers, fork=True)
        chosen = _chosen_students(course, assignments, args.student) if args.student else None
        if chosen is not None:
            assignments = [name for name in assignments if chosen[name]]
        for index, assignment in enumerate(assignments):
            progress = None if args.quiet else Progress.for_stream(sys.stderr, language=words.language)
            batch = autograde(
                course,
                assignment,
                lessons[assignment],
                force=args.force,
                progress=progress,
                sandbox=not args.no_sandbox,
                workers=args.workers,
                # The warm process started early goes to the first batch, which owns it; later ones start their own.
                zygote=zygote if index == 0 else None,
                students=chosen[assignment] if chosen is not None else None,
                scheduler=args.scheduler,
            )
            if len(assignments) > 1:
                print(f"== {assignment}")
            _print_batch(batch, lessons[assignment], course, words)
            failed = failed or bool(batch.failures)
            timed.append((assignment, batch, (args.workers or default_workers()) if local else None))  # a cluster's: its own count
    finally:
        if zygote is not None:
            zygote.close()
        if args.timings is not None:
            from autograder.outputs.timings import write_timings

            try:
                write_timings(args.timings, timed)
            except OSError as error:  # the grades are filed: the batch's own outcome stands, with one line about this
                print(f"autograder: could not write the timings to {args.timings}: {error.strerror or error}", file=sys.stderr)
    return EXIT_UNGRADABLE if failed else EXIT_OK


def _chosen_students(course: Course, assignments: list[str], students: list[str]) -> dict[str, list[str]]:
    """Per assignment, the named students who submitted it; CourseError (before any grading) names any who submitted none of them."""
    from autograder.commands.autograde import submitted_students

    wanted = set(students)
    found = {assignment: sorted(wanted & set(submitted_students(course, assignment))) for assignment in assignments}
    unknown = sorted(wanted - {student for chosen in found.values() for student in chosen})
    if unknown:
        raise CourseError.unknown_students(course.root, assignments, unknown)
    return found


def _language(args: argparse.Namespace, course: Course) -> Language:
    """--language when given, else the course's (c.Instructor.language, Spanish by default)."""
    return Language(args.language) if args.language else course.language()


def _print_batch(batch: "BatchResult", lesson: Lesson, course: Course, words: TeacherText = teacher_text(DEFAULT_LANGUAGE)) -> None:
    """The batch's table: per student, each part's score and the total; then who was not graded and who to review."""
    parts = [part.name for part in lesson.parts]
    print(f"{words.student:<24}" + "".join(f"{name:>12}" for name in parts) + f"{'total':>12}")
    for row in batch.scores:  # each "points/maximum" right-aligned under its heading
        cells = "".join(f"{_fraction(row.parts.get(name, 0.0), row.max_parts.get(name, 0.0)):>12}" for name in parts)
        print(f"{row.student:<24}{cells}{_fraction(row.score, row.max_score):>12}")
    for student, reason in batch.failures.items():
        print(f"{student:<24}{words.batch_not_graded.format(reason=reason)}")
    for line in review_lines(batch.review, words):
        print(line)
    if batch.only:
        print(words.batch_only.format(students=", ".join(batch.only)))
    if batch.skipped:
        print(words.batch_resumed.format(count=len(batch.skipped)))
    flagged = words.batch_flagged.format(count=len(batch.review)) if batch.review else ""
    print(words.batch_done.format(graded=len(batch.scores), failed=len(batch.failures), flagged=flagged, gradebook=course.gradebook.name))


def _fraction(points: float, maximum: float) -> str:
    return f"{points:g}/{maximum:g}"


def review_lines(review: dict[str, list[str]], words: TeacherText = teacher_text(DEFAULT_LANGUAGE)) -> list[str]:
    """One line per student an instructor should look at (GradingResult.review), reasons joined by " | "."""
    return [
        f"{student:<24}{words.batch_review.format(reasons=' | '.join(' '.join(r.split()) for r in reasons))}"
        for student, reasons in sorted(review.items())
        if reasons
    ]


def _warn_unsandboxed(args: argparse.Namespace) -> None:
    if args.no_sandbox:
        print(NO_SANDBOX_WARNING, file=sys.stderr)


def _cmd_release(args: argparse.Namespace) -> int:
    from autograder.commands.release import check_release, release

    course = Course.at(args.course) if args.course else Course.find()
    for assignment in [args.assignment] if args.assignment else course.assignments():
        if args.check:
            check_release(course, assignment)
            print(f"assignments/{assignment} is in sync with solutions/{assignment}")
        else:
            folder = release(course, assignment)
            print(f"released {folder.relative_to(course.root)}")
    return EXIT_OK


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {value}")
    return value


def _cmd_export(args: argparse.Namespace) -> int:
    from autograder.outputs.export import export_results

    course, assignment = _course_and_assignment(args)
    exported = export_results(course, assignment, ExportFormat(args.format), args.output, args.results_dir)
    _warn_cohort(exported.cohort)
    for path in exported.paths:
        print(f"wrote {path} ({len(exported.cohort.entries)} students)")
    return EXIT_OK


def _cmd_report(args: argparse.Namespace) -> int:
    from autograder.outputs.report import report_results, text_table

    course, assignment = _course_and_assignment(args)
    written = report_results(course, assignment, args.output_dir, args.results_dir, _language(args, course))
    _warn_cohort(written.cohort)
    print(text_table(written.report))
    print(f"\nwrote {written.files.html} and {written.files.png}")
    return EXIT_OK


def _course_and_assignment(args: argparse.Namespace) -> tuple[Course, str]:
    """The course (--course, else found from here) and the assignment (--assignment, else the course's only one)."""
    course = Course.at(args.course) if args.course else Course.find()
    return course, args.assignment or course.default_assignment()


def _warn_cohort(cohort: Cohort) -> None:
    """One warning line per unreadable results file (listed as ungradable) and per hidden leftover skipped."""
    for entry in cohort.unreadable:
        print(f"autograder: warning: {entry.path}: {entry.reason}", file=sys.stderr)
    for path in cohort.skipped:
        print(f"autograder: warning: {path}: hidden file that is not a results file; skipped (not a student)", file=sys.stderr)


def _cmd_gradescope(args: argparse.Namespace) -> int:
    from autograder.outputs.gradescope import build

    course, assignment = _course_and_assignment(args)
    built = build(course, args.output, assignment, allow_unsandboxed=args.allow_unsandboxed)
    print(f"wrote {built.path} ({len(built.names)} files); upload it on Gradescope's Configure Autograder page")
    if built.allow_unsandboxed:
        print("autograder: WARNING: --allow-unsandboxed: where the sandbox cannot start on Gradescope, student code runs unconfined", file=sys.stderr)
    return EXIT_OK


def _cmd_classroom(args: argparse.Namespace) -> int:
    from autograder.outputs import classroom as ci
    from autograder.engine import messages

    try:
        result = ci.load_result(args.results)
    except ci.ResultsFileError:
        if args.summary:  # the student still reads why there is no grade
            ci.append_text(args.summary, ci.not_graded_summary(messages.SUMMARY_NO_RESULTS))
        raise
    if args.summary:
        ci.append_text(args.summary, ci.step_summary(result))
    if args.points:
        print("\n".join(ci.classroom_annotations(ci.Points.of(result))))
    if args.outputs:
        ci.append_text(args.outputs, ci.outputs_text(ci.step_outputs(result)))
    if not (args.summary or args.points or args.outputs):
        print(result.table())
    return EXIT_UNGRADABLE if result.error else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--course", type=Path, help="course directory (default: found from the current directory)")
    common.add_argument(
        "--assignment", metavar="NAME", help="assignment name (default: the course's only one; for grade, the notebook's name)"
    )
    parser = argparse.ArgumentParser(
        prog="autograder",
        description="Grade a course's notebook exercises: one notebook for CI, or a whole nbgrader course.",
    )
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    p = verbs.add_parser("grade", parents=[common], help="grade one notebook without a gradebook (for CI)")
    p.add_argument("notebook", type=Path)
    p.add_argument("--results", type=Path, help="write Gradescope-format results.json here")
    p.add_argument(
        "--feedback",
        type=Path,
        metavar="FILE.html",
        help="write the student's feedback page here (nbgrader's feedback, without the hidden tests' code)",
    )
    p.add_argument("--no-sandbox", action="store_true", help="run student code unconfined (prints a warning; trusted notebooks only)")
    p.set_defaults(run=_cmd_grade)

    p = verbs.add_parser(
        "warm", help="keep a warm process (torch imported) between commands: later grade and autograde runs start faster"
    )
    p.add_argument(
        "--idle", type=float, default=None, metavar="SECONDS", help=f"stop after this long unused (default {DEFAULT_IDLE_S:g})"
    )
    p.add_argument("--stop", action="store_true", help="stop the warm process (and any kernel it runs) now")
    p.set_defaults(run=_cmd_warm)

    p = verbs.add_parser(
        "check", parents=[common], help="a student's self-check: run the notebook's visible tests, per part passed or not yet (exit 1)"
    )
    p.add_argument("notebook", type=Path)
    p.set_defaults(run=_cmd_check)

    p = verbs.add_parser("autograde", parents=[common], help="grade everything in submitted/ into gradebook.db (nbgrader autograde)")
    p.add_argument(
        "assignment_name", nargs="?", metavar="ASSIGNMENT", help="the assignment to grade (default: every one with submissions)"
    )
    p.add_argument("--force", action="store_true", help="regrade every submission, even those already graded and unchanged")
    p.add_argument(
        "--student",
        action="append",
        metavar="NAME",
        help="regrade only this student's submission, even if already graded (repeat for several); the others are left as they are",
    )
    p.add_argument("--workers", type=_positive_int, help="grading processes at once (default: one per core)")
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="grade on the Dask cluster of this scheduler (tcp://HOST:PORT; default: c.Cluster.scheduler; '': this machine)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress output, only the final table")
    p.add_argument("--no-sandbox", action="store_true", help="run student code unconfined (prints a warning; trusted notebooks only)")
    p.add_argument(
        "--timings",
        type=Path,
        metavar="FILE",
        help="write where the time went as JSON: seconds per stage of each submission (kernel start, cells, filing, ...)",
    )
    _language_option(p, "the summary and progress lines")
    p.set_defaults(run=_cmd_autograde)

    p = verbs.add_parser("classroom", help="show a results.json in a CI job: the student's summary and the points GitHub Classroom reads")
    p.add_argument("results", type=Path, help="a results.json written by `autograder grade --results`")
    p.add_argument("--summary", type=Path, metavar="FILE", help='append the Spanish Markdown summary to FILE (GitHub Actions: "$GITHUB_STEP_SUMMARY")')
    p.add_argument("--points", action="store_true", help="print the grade as the notice annotations GitHub Classroom reads (Points x/y)")
    p.add_argument("--outputs", type=Path, metavar="FILE", help='append points, max-points and graded to FILE (GitHub Actions: "$GITHUB_OUTPUT")')
    p.set_defaults(run=_cmd_classroom)

    p = verbs.add_parser(
        "release", parents=[common], help="regenerate assignments/ from solutions/ (nbgrader generate_assignment; every assignment unless named)"
    )
    p.add_argument("--check", action="store_true", help="only check that the committed release is in sync")
    p.set_defaults(run=_cmd_release)

    p = verbs.add_parser(
        "export", parents=[common], help="export every student's results as CSV, JUnit XML, or gradebook files for Moodle and Canvas"
    )
    formats = [fmt.value for fmt in ExportFormat]
    p.add_argument(
        "--format",
        choices=formats,
        default=ExportFormat.BOTH.value,
        help="what to write: one format, both (csv and junit, the default) or all",
    )
    p.add_argument("--output", type=Path, help="the file for one format, the folder for several (default: reports/<assignment>/)")
    p.add_argument("--results-dir", type=Path, help="folder of <student>.json results files (default: results/<assignment>/)")
    p.set_defaults(run=_cmd_export)

    p = verbs.add_parser(
        "report", parents=[common], help="cohort report: score distributions, pass rates per test and who made which mistake"
    )
    p.add_argument("--output-dir", type=Path, help="where report.html and report.png go (default: reports/<assignment>/)")
    p.add_argument("--results-dir", type=Path, help="folder of <student>.json results files (default: results/<assignment>/)")
    _language_option(p, "the report")
    p.set_defaults(run=_cmd_report)

    p = verbs.add_parser("gradescope", parents=[common], help="build the autograder zip to upload on Gradescope")
    p.add_argument("--output", type=Path, default=Path("autograder.zip"), help="where to write the zip (default: autograder.zip)")
    p.add_argument(
        "--allow-unsandboxed",
        action="store_true",
        help="where the sandbox cannot start on Gradescope, grade unconfined instead of refusing (see README)",
    )
    p.set_defaults(run=_cmd_gradescope)
    return parser


def _language_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--language",
        choices=[language.value for language in Language],
        help=f"language of {what}: es (Spanish) or en (English); default: the course's c.Instructor.language, else es",
    )


def terminated_as_interrupt(signum: int, frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C (worker pools, warm processes and sandboxes cleaned up)."""
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.ERROR, format="%(message)s")
    # A polite kill (SIGTERM) unwinds like Ctrl-C: worker pools, warm processes and sandboxes are cleaned up.
    signal.signal(signal.SIGTERM, terminated_as_interrupt)
    try:
        return args.run(args)
    except AutograderError as error:
        print(f"autograder: {error}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return EXIT_INTERRUPTED


def run() -> None:
    """The `autograder` command: main() (in the kept-warm command server when one runs), then exit at once.

    Exit at once: a torch-laden interpreter's teardown takes a second.
    """
    from autograder.commands.warmclient import forward

    try:
        forwarded = forward(sys.argv[1:])
    except KeyboardInterrupt:  # Ctrl-C while handing the command over: nothing ran, or the server stops it (we hung up)
        print(INTERRUPTED, file=sys.stderr)
        os._exit(EXIT_INTERRUPTED)
    if forwarded is not None:
        sys.stdout.flush()
        os._exit(forwarded)
    code = main()
    from autograder.isolation.zygote import close_shared

    close_shared()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
