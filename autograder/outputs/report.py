"""The instructor's cohort report, written: report.html and report.png for an assignment's results."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from autograder.engine.course import Course
from autograder.engine.language import Language
from autograder.outputs.cohort import Cohort, load_cohort, reports_folder
from autograder.outputs.outfiles import write_bytes
from autograder.outputs.report_model import (  # noqa: F401  (the report's data and text, re-exported)
    WIDTH,
    CohortReport,
    Distribution,
    MistakeCount,
    PartSummary,
    TestPassRate,
    build_report,
    mistake_label,
    review_lines,
    score_text,
    student_mistakes,
    text_table,
)
from autograder.outputs.report_render import render_html, render_png


@dataclass(frozen=True)
class ReportFiles:
    """What `write_report` wrote."""

    html: Path
    png: Path


def write_report(report: CohortReport, folder: Path) -> ReportFiles:
    """report.png (matplotlib) and report.html (self-contained, the PNG embedded) in `folder`."""
    png = render_png(report)
    files = ReportFiles(folder / "report.html", folder / "report.png")
    write_bytes(files.png, png)
    write_bytes(files.html, render_html(report, png).encode("utf-8"))
    return files


@dataclass(frozen=True)
class WrittenReport:
    """A cohort, its report and the files written for it."""

    cohort: Cohort
    report: CohortReport
    files: ReportFiles


def report_results(
    course: Course,
    assignment: str,
    output_dir: Path | None = None,
    results_dir: Path | None = None,
    language: Language | None = None,
) -> WrittenReport:
    """Report on the course's results (or those in `results_dir`), written to reports/<assignment>/ by default.

    In `language`, else the course's (c.Instructor.language, Spanish by default).
    """
    cohort = load_cohort(course, assignment, course.lesson(assignment), results_dir)
    report = build_report(cohort, language if language is not None else course.language())
    files = write_report(report, output_dir if output_dir is not None else reports_folder(course, assignment))
    return WrittenReport(cohort, report, files)
