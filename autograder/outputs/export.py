"""A cohort's grades as files other tools read: CSV for spreadsheets and gradebooks, JUnit XML for CI dashboards.

Exports are for instructors: hidden tests and their full Spanish output are included.

JUnit layout: one `<testsuite>` per student (named after the student, with the score as properties), one
`<testcase>` per graded test (classname = part, name = the test's name). Dashboards (GitLab, Jenkins, GitHub
test reporters) list suites first, so each student's failures sit together under their name. A failing test
is a `<failure>` whose message and text are the feedback the student got and whose type is the mistake's name;
every test of a submission that could not be graded is an `<error>` carrying the reason. A submission an
instructor should look at (GradingResult.review) has a `review` property on its suite, as the CSV has a `review`
column: the reasons joined by " | ".
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

from autograder.outputs.cohort import Cohort, CohortEntry, load_cohort, reports_folder
from autograder.engine.course import Course
from autograder.outputs.outfiles import write_bytes
from autograder.engine.results import UNGRADABLE

CSV_NAME = "grades.csv"
JUNIT_NAME = "junit.xml"
# The CSV's columns: these, with one column per part of the lesson after max_score.
CSV_LEADING = ("student", "score", "max_score")
CSV_TRAILING = ("error", "review")
# Between a student's review reasons, in the CSV's review column.
REVIEW_SEPARATOR = " | "
# Characters XML 1.0 cannot hold (control characters a student's exception message may carry).
_NOT_XML = re.compile(r"[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\U00010000-\U0010FFFF]")


class ExportFormat(str, enum.Enum):
    """Which files `export` writes."""

    CSV = "csv"
    JUNIT = "junit"
    BOTH = "both"


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
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(csv_rows(cohort))
    return buffer.getvalue()


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
# member and one entry here; BOTH writes them all.
WRITERS: dict[ExportFormat, tuple[str, Callable[[Cohort], bytes]]] = {
    ExportFormat.CSV: (CSV_NAME, lambda cohort: csv_text(cohort).encode("utf-8")),
    ExportFormat.JUNIT: (JUNIT_NAME, junit_bytes),
}


def export(cohort: Cohort, fmt: ExportFormat, output: Path) -> Exported:
    """Write the chosen format(s): to `output` as a file for one format, into `output` as a folder for both."""
    if fmt is ExportFormat.BOTH:
        targets = [(output / name, kind) for kind, (name, _) in WRITERS.items()]
    else:
        targets = [(output, fmt)]
    for path, kind in targets:
        write_bytes(path, WRITERS[kind][1](cohort))
    return Exported(cohort, tuple(path for path, _ in targets))


def default_output(folder: Path, fmt: ExportFormat) -> Path:
    """The file (one format) or folder (both) written when no --output is given."""
    return folder if fmt is ExportFormat.BOTH else folder / WRITERS[fmt][0]

