"""A cohort's grades as files other tools read: CSV for spreadsheets and gradebooks, JUnit XML for CI dashboards.

Exports are for instructors: hidden tests and their full Spanish output are included.

JUnit layout: one `<testsuite>` per student (named after the student, with the score as properties), one
`<testcase>` per graded test (classname = part, name = the test's name). Dashboards (GitLab, Jenkins, GitHub
test reporters) list suites first, so each student's failures sit together under their name. A failing test
is a `<failure>` whose message and text are the feedback the student got and whose type is the mistake's name;
every test of a submission that could not be graded is an `<error>` carrying the reason. A submission an
instructor should look at (GradingResult.review) has a `review` property on its suite, as the CSV has a `review`
column: the reasons joined by " | ".

Gradebook files for learning platforms, in the layouts their CSV importers read (docs/instructors.md):
- Moodle ("Import grades → CSV file"): a header row, then a row per student: `Username` (nbgrader's student id,
  mapped in Moodle's import form to username, ID number or email), the assignment's total (a column named after
  the assignment) and a Spanish feedback sentence (`<assignment> (feedback)`).
- Canvas ("Import gradebook CSV"): `Student,ID,SIS User ID,SIS Login ID,Section,<assignment>`, then the
  `Points Possible` row, then a row per student with nbgrader's student id as `SIS Login ID` and the total.
A student whose results file could not be read is left out of both (their grade is unknown, and an importer
would overwrite what the gradebook holds); export warns about them on stderr.
"""

from __future__ import annotations

import csv
import enum
import io
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from autograder.engine import messages
from autograder.outputs.cohort import Cohort, CohortEntry, load_cohort, reports_folder
from autograder.engine.course import Course
from autograder.outputs.outfiles import write_bytes
from autograder.engine.results import UNGRADABLE

CSV_NAME = "grades.csv"
JUNIT_NAME = "junit.xml"
MOODLE_NAME = "moodle.csv"
CANVAS_NAME = "canvas.csv"
# Moodle's import form maps this column to a user field (username, ID number or email address).
MOODLE_ID = "Username"
MOODLE_FEEDBACK = "{assignment} (feedback)"
# Canvas's gradebook importer: the student columns, in the order it reads them, and the row of maxima.
CANVAS_STUDENT_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
CANVAS_LOGIN = CANVAS_STUDENT_COLUMNS.index("SIS Login ID")
CANVAS_POINTS_POSSIBLE = "Points Possible"
# The CSV's columns: these, with one column per part of the lesson after max_score.
CSV_LEADING = ("student", "score", "max_score")
CSV_TRAILING = ("error", "review")
# Between a student's review reasons, in the CSV's review column.
REVIEW_SEPARATOR = " | "
# Characters XML 1.0 cannot hold (control characters a student's exception message may carry).
_NOT_XML = re.compile(r"[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\U00010000-\U0010FFFF]")


class ExportFormat(str, enum.Enum):
    """Which files `export` writes: one format, `both` (CSV and JUnit, the default) or `all`."""

    CSV = "csv"
    JUNIT = "junit"
    MOODLE = "moodle"
    CANVAS = "canvas"
    BOTH = "both"
    ALL = "all"


@dataclass(frozen=True)
class Exported:
    """The cohort exported and the files written."""

    cohort: Cohort
    paths: tuple[Path, ...]


def export_results(
    course: Course,
    assignment: str,
    fmt: ExportFormat = ExportFormat.BOTH,
    output: Path | None = None,
    results_dir: Path | None = None,
) -> Exported:
    """Export the course's results (or those in `results_dir`); by default both formats into reports/<assignment>/."""
    cohort = load_cohort(course, assignment, course.lesson(assignment), results_dir)
    return export(cohort, fmt, output if output is not None else default_output(reports_folder(course, assignment), fmt))


def number(value: float) -> str:
    """A score as people write it: 4, 1.5."""
    return f"{value:g}"


def csv_rows(cohort: Cohort) -> list[list[str]]:
    """The header and one row per student, in the cohort's (sorted) order."""
    columns = cohort.parts
    rows = [[*CSV_LEADING, *columns, *CSV_TRAILING]]
    for entry in cohort.entries:
        result = entry.result
        by_name = {p.part.name: p.score for p in result.parts()}
        parts = [number(by_name.get(name, 0.0)) for name in columns]
        rows.append([entry.student, number(result.score), number(result.max_score), *parts, entry.reason or "", review_text(entry)])
    return rows


def review_text(entry: CohortEntry) -> str:
    """A student's review reasons on one line, joined by REVIEW_SEPARATOR ("" when there are none)."""
    return REVIEW_SEPARATOR.join(" ".join(reason.split()) for reason in entry.review)


def csv_text(cohort: Cohort) -> str:
    return _csv(csv_rows(cohort))


def _csv(rows: list[list[str]]) -> str:
    """Rows as RFC 4180 CSV: comma-separated, quoted where a field holds a comma, a quote or a line break."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def _known(cohort: Cohort) -> list[CohortEntry]:
    """The students whose grade is known (graded, or not gradable: 0); an unreadable results file is left out."""
    return [entry for entry in cohort.entries if not entry.unreadable]


def moodle_rows(cohort: Cohort) -> list[list[str]]:
    """Moodle's CSV grade import: the header, then per student the id, the total and the Spanish feedback."""
    rows = [[MOODLE_ID, cohort.assignment, MOODLE_FEEDBACK.format(assignment=cohort.assignment)]]
    rows += [[entry.student, number(entry.result.score), lms_feedback(entry)] for entry in _known(cohort)]
    return rows


def lms_feedback(entry: CohortEntry) -> str:
    """The sentence a student reads beside the grade in their LMS: the total and each part's score, or why there is none."""
    result = entry.result
    if entry.ungradable:
        return messages.LMS_FEEDBACK_NOT_GRADED.format(reason=" ".join((entry.reason or "").split()))
    parts = "; ".join(
        messages.LMS_FEEDBACK_PART.format(part=p.part.name, score=number(p.score), max_score=number(p.max_score)) for p in result.parts()
    )
    return messages.LMS_FEEDBACK.format(score=number(result.score), max_score=number(result.max_score), parts=parts)


def canvas_rows(cohort: Cohort) -> list[list[str]]:
    """Canvas's gradebook import: the header, the Points Possible row, then per student the login id and the total."""
    blank = [""] * len(CANVAS_STUDENT_COLUMNS)
    maximum = max((entry.result.max_score for entry in cohort.entries), default=0.0)
    rows = [[*CANVAS_STUDENT_COLUMNS, cohort.assignment], [CANVAS_POINTS_POSSIBLE, *blank[1:], number(maximum)]]
    for entry in _known(cohort):
        row = [entry.student, *blank[1:], number(entry.result.score)]
        row[CANVAS_LOGIN] = entry.student
        rows.append(row)
    return rows


def junit_tree(cohort: Cohort) -> ET.ElementTree:
    """`<testsuites>` with one `<testsuite>` per student; counts on every suite and in total."""
    root = ET.Element("testsuites", name=cohort.assignment)
    totals = {"tests": 0, "failures": 0, "errors": 0}
    time = 0.0
    for entry in cohort.entries:
        suite = _suite(entry)
        root.append(suite)
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
        time += entry.result.execution_time
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{time:.3f}")
    return ET.ElementTree(root)


def _suite(entry: CohortEntry) -> ET.Element:
    result = entry.result
    suite = ET.Element("testsuite", name=xml_safe(entry.student))
    properties = ET.SubElement(suite, "properties")
    _property(properties, "score", number(result.score))
    _property(properties, "max_score", number(result.max_score))
    for part in result.parts():
        _property(properties, f"score.{part.part.name}", number(part.score))
    if entry.reason:
        _property(properties, "error", entry.reason)
    if entry.review:
        _property(properties, "review", review_text(entry))
    failures = errors = 0
    for test in result.tests:
        case = ET.SubElement(suite, "testcase", classname=test.spec.part.name, name=xml_safe(test.spec.name), time="0")
        case_properties = ET.SubElement(case, "properties")
        _property(case_properties, "grade_id", test.spec.grade_id)
        _property(case_properties, "hidden", "false" if test.spec.in_release else "true")
        _property(case_properties, "visibility", test.spec.visibility.value)
        _property(case_properties, "score", f"{number(test.score)}/{number(test.max_score)}")
        if entry.ungradable:
            errors += 1
            reason = xml_safe(entry.reason or "")
            problem = ET.SubElement(case, "error", message=reason, type=UNGRADABLE)
            problem.text = reason
        elif not test.passed:
            failures += 1
            mistake = test.mistake or "unnamed"
            _property(case_properties, "mistake", mistake)
            output = xml_safe(test.output)
            problem = ET.SubElement(case, "failure", message=output, type=xml_safe(mistake))
            problem.text = output
    suite.set("tests", str(len(result.tests)))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    suite.set("skipped", "0")
    suite.set("time", f"{result.execution_time:.3f}")
    return suite


def _property(parent: ET.Element, name: str, value: str) -> None:
    ET.SubElement(parent, "property", name=name, value=xml_safe(value))


def xml_safe(text: str) -> str:
    """The text with characters XML cannot hold replaced by U+FFFD, so the file always parses."""
    return _NOT_XML.sub("\ufffd", text)


def junit_bytes(cohort: Cohort) -> bytes:
    tree = junit_tree(cohort)
    ET.indent(tree)
    return ET.tostring(tree.getroot(), encoding="utf-8", xml_declaration=True) + b"\n"


# Every format: its default file name and how it renders a cohort. A new format is one ExportFormat
# member and one entry here; ALL writes them all, BOTH the CSV and the JUnit XML.
WRITERS: dict[ExportFormat, tuple[str, Callable[[Cohort], bytes]]] = {
    ExportFormat.CSV: (CSV_NAME, lambda cohort: csv_text(cohort).encode("utf-8")),
    ExportFormat.JUNIT: (JUNIT_NAME, junit_bytes),
    ExportFormat.MOODLE: (MOODLE_NAME, lambda cohort: _csv(moodle_rows(cohort)).encode("utf-8")),
    ExportFormat.CANVAS: (CANVAS_NAME, lambda cohort: _csv(canvas_rows(cohort)).encode("utf-8")),
}
GROUPS: dict[ExportFormat, tuple[ExportFormat, ...]] = {
    ExportFormat.BOTH: (ExportFormat.CSV, ExportFormat.JUNIT),
    ExportFormat.ALL: tuple(WRITERS),
}


def export(cohort: Cohort, fmt: ExportFormat, output: Path) -> Exported:
    """Write the chosen format(s): to `output` as a file for one format, into `output` as a folder for several."""
    if fmt in GROUPS:
        targets = [(output / WRITERS[kind][0], kind) for kind in GROUPS[fmt]]
    else:
        targets = [(output, fmt)]
    for path, kind in targets:
        write_bytes(path, WRITERS[kind][1](cohort))
    return Exported(cohort, tuple(path for path, _ in targets))


def default_output(folder: Path, fmt: ExportFormat) -> Path:
    """The file (one format) or folder (several) written when no --output is given."""
    return folder if fmt in GROUPS else folder / WRITERS[fmt][0]

