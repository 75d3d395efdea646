"""The cohort report: score distributions of graded students, and each mistake counted once per student and part."""

from __future__ import annotations

import pytest

from activation import ASSIGNMENT, KERNEL, LESSON, MAXPOOL2D, PARTS, RELU
from autograder.engine.checks.core import Mistake
from autograder.cli import main
from autograder.outputs.cohort import Cohort, load_cohort
from autograder.adapter.preprocessors.verify import FAULT_MISTAKE
from autograder.outputs.report import WIDTH, build_report, mistake_label, text_table, write_report
from autograder.engine.results import UNGRADABLE, GradingResult
from cohorts import empty_course, write_cohort
from conftest import ROOT


@pytest.fixture
def cohort(course, tmp_path) -> Cohort:
    return load_cohort(course, ASSIGNMENT, LESSON, results_dir=write_cohort(tmp_path / "results"))


def mistakes(report, part) -> list[tuple[str, int]]:
    summary = next(s for s in report.parts if s.part is part)
    return [(m.name, m.students) for m in summary.mistakes]


def test_each_mistake_counts_once_per_student_and_part(cohort):
    report = build_report(cohort)
    # bruno and carla trip stride_ignored in several tests each, diego in one: 3 students
    assert mistakes(report, MAXPOOL2D) == [("stride_ignored", 3), (UNGRADABLE, 2), (FAULT_MISTAKE, 1), ("max_started_at_zero", 1)]
    assert mistakes(report, RELU) == [(UNGRADABLE, 2), ("leaky_relu", 1), ("reference_op", 1)]
    assert mistakes(report, KERNEL) == [(UNGRADABLE, 2), ("kernel_sign", 1)]


def test_score_distributions_are_of_graded_students(cohort):
    report = build_report(cohort)
    assert (report.students, report.graded, report.ungradable, report.unreadable) == (7, 5, 2, 1)
    kernel, relu, maxpool = report.parts
    assert maxpool.max_score == 12 and sorted(maxpool.scores) == [9, 9, 11, 11, 12]
    assert [(v, n) for v, n in maxpool.histogram if n] == [(9.0, 2), (11.0, 2), (12.0, 1)]
    assert [v for v, _ in maxpool.histogram] == [float(v) for v in range(13)]
    assert (maxpool.mean, maxpool.median, maxpool.full_marks, maxpool.zero) == (10.4, 11, 1, 0)
    assert (relu.full_marks, relu.zero, relu.median) == (3, 1, 6)
    assert [n for _, n in kernel.histogram] == [0, 1, 0, 0, 4]


def test_every_mistake_name_has_a_label():
    names = {m.value for m in Mistake} | {FAULT_MISTAKE, UNGRADABLE}
    assert names <= set(LESSON.mistake_labels)
    assert mistake_label("stride_none_ignored", MAXPOOL2D, LESSON) == "stride None not treated as kernel_size"
    assert "nn.MaxPool2d" in mistake_label("reference_op", MAXPOOL2D)
    assert "torch.relu" in mistake_label("reference_op", RELU)
    assert mistake_label("something_new", RELU) == "something_new"


def test_text_table_fits_the_terminal_and_says_how_it_counts(cohort):
    table = text_table(build_report(cohort))
    lines = table.splitlines()
    assert max(len(line) for line in lines) <= WIDTH
    assert sum("counted once per part" in line for line in lines) == len(PARTS)
    [stride] = [line for line in lines if line.strip().startswith("stride ignored")]
    assert stride.split()[-1] == "3"
    assert "7 students: 5 graded, 2 ungradable" in table
    assert "  elena: el archivo está vacío" in lines


def test_png_and_html_are_written_and_self_contained(cohort, tmp_path):
    files = write_report(build_report(cohort), tmp_path / "out")
    png = files.png.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 20_000
    page = files.html.read_text(encoding="utf-8")
    for part in PARTS:
        assert f"<h2>{part.name} (max" in page
    assert "stride ignored" in page and "kernel fault (crash/timeout)" in page
    assert '<td class="label">elena</td><td class="label">el archivo está vacío</td>' in page
    assert page.count("data:image/png;base64,") == 1 and "<link" not in page and "<script" not in page


def test_cli_report_prints_the_table_and_writes_the_files(tmp_path, capsys):
    results = write_cohort(tmp_path / "results")
    out = tmp_path / "out"
    assert main(["report", "--course", str(ROOT), "--results-dir", str(results), "--output-dir", str(out)]) == 0
    captured = capsys.readouterr()
    assert "stride ignored" in captured.out and str(out / "report.html") in captured.out
    assert len(captured.err.splitlines()) == 1 and "could not be read" in captured.err
    assert (out / "report.png").is_file() and (out / "report.html").is_file()


def test_cli_report_defaults_to_the_course_reports_folder(tmp_path, capsys):
    course = empty_course(tmp_path / "course")
    write_cohort(course.root / "results" / "activation_maxpool", corrupt=False)
    assert main(["report", "--course", str(course.root)]) == 0
    assert (course.root / "reports" / "activation_maxpool" / "report.html").is_file()
    assert capsys.readouterr().err == ""


def test_cli_report_without_results_exits_non_zero_with_one_line(tmp_path, capsys):
    course = empty_course(tmp_path / "course")
    assert main(["report", "--course", str(course.root)]) == 1
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "run `autograder autograde` first" in captured.err
    assert "Traceback" not in captured.err


def flagged(course, tmp_path) -> Cohort:
    folder = write_cohort(tmp_path / "results", corrupt=False)
    result = GradingResult.read(folder / "diego.json")
    result.review = ["Una celda emitió un registro de prueba que el calificador no pidió (posible falsificación). " * 3]
    result.write(folder / "diego.json")
    return load_cohort(course, ASSIGNMENT, LESSON, results_dir=folder)


def test_flagged_students_have_a_para_revisar_section_in_the_table_and_the_page(course, tmp_path):
    report = build_report(flagged(course, tmp_path))
    assert report.review == (("diego", (GradingResult.read(tmp_path / "results" / "diego.json").review[0],)),)
    table = text_table(report)
    section = table.split("Para revisar:")[1]
    assert "  diego:" in section and "posible falsificación" in section and "ana" not in section
    assert all(len(line) <= WIDTH for line in table.splitlines())
    assert section.count("posible falsificación") == 3  # wrapped to the width, never cut
    files = write_report(report, tmp_path / "out")
    page = files.html.read_text(encoding="utf-8")
    assert '<h2 id="review" lang="es">Para revisar</h2>' in page and "diego" in page.split("Para revisar")[1]


def test_no_para_revisar_section_when_nobody_is_flagged(cohort, tmp_path):
    report = build_report(cohort)
    assert report.review == () and "Para revisar" not in text_table(report)
    assert "Para revisar" not in write_report(report, tmp_path / "out").html.read_text(encoding="utf-8")
