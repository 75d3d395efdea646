"""The cohort report: score distributions of graded students, and each mistake counted once per student and part."""

from __future__ import annotations

import pytest

from activation import ASSIGNMENT, BY_GRADE_ID, KERNEL, LESSON, MAXPOOL2D, PARTS, RELU
from autograder.engine.checks.core import Mistake
from autograder.cli import main
from autograder.outputs.cohort import Cohort, load_cohort
from autograder.adapter.preprocessors.verify import FAULT_MISTAKE
from autograder.outputs.report import WIDTH, build_report, mistake_label, text_table, write_report
from autograder.engine.language import Language
from autograder.engine.mistakes import LABELS, LABELS_ES
from autograder.engine.results import UNGRADABLE, GradingResult
from autograder.engine.teacher_text import ES, EN
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
    # bruno and carla trip stride_ignored in several tests each, diego in one: 3 students (ties in the labels' order)
    assert mistakes(report, MAXPOOL2D) == [("stride_ignored", 3), (UNGRADABLE, 2), ("max_started_at_zero", 1), (FAULT_MISTAKE, 1)]
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


def test_every_mistake_name_has_a_label_in_both_languages():
    names = {m.value for m in Mistake} | {FAULT_MISTAKE, UNGRADABLE}
    assert names <= set(LESSON.mistake_labels) and names <= set(LABELS_ES)
    assert set(LABELS) == set(LABELS_ES)  # the engine's vocabulary, once per language
    assert set(LESSON.mistakes) == set(LESSON.mistakes_es)  # the lesson's own, once per language
    assert set(LESSON.labels(Language.ES)) == set(LESSON.labels(Language.EN))
    assert mistake_label("stride_none_ignored", MAXPOOL2D, LESSON) == "stride None no tomado como kernel_size"
    assert mistake_label("stride_none_ignored", MAXPOOL2D, LESSON, Language.EN) == "stride None not treated as kernel_size"
    assert "nn.MaxPool2d" in mistake_label("reference_op", MAXPOOL2D)
    assert mistake_label("reference_op", RELU).startswith("usó la operación enseñada (torch.relu")
    assert mistake_label("reference_op", RELU, language=Language.EN).startswith("taught operation called (torch.relu")
    assert mistake_label("something_new", RELU) == "something_new"


def test_text_table_fits_the_terminal_and_says_how_it_counts(cohort):
    table = text_table(build_report(cohort))
    lines = table.splitlines()
    assert max(len(line) for line in lines) <= WIDTH
    assert sum(ES.counted_once in line for line in lines) == len(PARTS)
    [stride] = [line for line in lines if line.strip().startswith("ignoró el stride")]
    assert stride.split()[-1] == "3"
    assert "7 estudiantes: 5 calificados, 2 sin calificar" in table
    assert "  elena: el archivo está vacío" in lines


def test_each_mistake_names_the_students_who_made_it(cohort):
    report = build_report(cohort)
    maxpool = next(s for s in report.parts if s.part is MAXPOOL2D)
    assert {m.name: m.names for m in maxpool.mistakes}["stride_ignored"] == ("bruno", "carla", "diego")
    lines = text_table(report).splitlines()
    stride = next(i for i, line in enumerate(lines) if line.strip().startswith("ignoró el stride"))
    assert lines[stride + 1] == "    quiénes: bruno, carla, diego"


def test_every_test_has_its_pass_rate_by_its_spanish_title(cohort):
    report = build_report(cohort)
    maxpool = next(s for s in report.parts if s.part is MAXPOOL2D)
    rates = {rate.spec.grade_id: (rate.passed, rate.graded) for rate in maxpool.tests}
    assert list(rates) == [spec.grade_id for spec in LESSON.tests if spec.part is MAXPOOL2D]
    # stride_ignored: bruno, carla and diego fail maxpool2d_stride; 5 graded students
    assert rates["maxpool2d_stride"] == (2, 5) and rates["maxpool2d_negative"] == (4, 5) and rates["maxpool2d_lesson"] == (5, 5)
    assert maxpool.pass_rate == 1 / 5
    title = BY_GRADE_ID["maxpool2d_stride"].title
    [line] = [line for line in text_table(report).splitlines() if line.strip().startswith(title)]
    assert line.split()[-3:] == ["2/5", "40", "%"]


def test_the_total_scores_are_a_distribution_of_graded_students(cohort):
    report = build_report(cohort)
    assert report.total.max_score == 22 and sorted(report.total.scores) == [15, 16, 16, 19, 22]
    assert [(v, n) for v, n in report.total.histogram if n] == [(15.0, 1), (16.0, 2), (19.0, 1), (22.0, 1)]
    assert "Nota total (máx. 22): notas de 5 calificados" in text_table(report)


def test_png_and_html_are_written_and_self_contained(cohort, tmp_path):
    files = write_report(build_report(cohort), tmp_path / "out")
    png = files.png.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 20_000
    page = files.html.read_text(encoding="utf-8")
    for part in PARTS:
        assert f"<h2>{part.name} (máx." in page
    assert page.startswith('<!DOCTYPE html>\n<html lang="es">')
    assert "ignoró el stride" in page and "fallo del núcleo (caída o tiempo excedido)" in page
    assert '<td class="who">bruno, carla, diego</td>' in page and "Nota total (máx. 22)" in page
    assert f'<td class="label">{BY_GRADE_ID["maxpool2d_stride"].title}</td><td>2/5</td><td>40 %</td>' in page
    assert '<td class="label">elena</td><td class="label" lang="es">el archivo está vacío</td>' in page
    assert page.count("data:image/png;base64,") == 1 and "<link" not in page and "<script" not in page
    # no internal names: neither mistake identifiers nor the dispatcher's operator names
    assert "stride_ignored" not in page and "aten::" not in page
    assert not any(op in page for op in LESSON.blocked_operators())


def test_english_is_an_option_with_the_same_content(cohort, tmp_path):
    report = build_report(cohort, Language.EN)
    table = text_table(report)
    assert "7 students: 5 graded, 2 ungradable" in table and EN.counted_once in table
    assert "    who: bruno, carla, diego" in table.splitlines()
    page = write_report(report, tmp_path / "out").html.read_text(encoding="utf-8")
    assert page.startswith('<!DOCTYPE html>\n<html lang="en">') and "stride ignored" in page and "ignoró" not in page


def test_cli_report_prints_the_table_and_writes_the_files(tmp_path, capsys):
    results = write_cohort(tmp_path / "results")
    out = tmp_path / "out"
    assert main(["report", "--course", str(ROOT), "--results-dir", str(results), "--output-dir", str(out)]) == 0
    captured = capsys.readouterr()
    assert "ignoró el stride" in captured.out and str(out / "report.html") in captured.out
    assert len(captured.err.splitlines()) == 1 and "could not be read" in captured.err
    assert (out / "report.png").is_file() and (out / "report.html").is_file()


def test_cli_report_defaults_to_the_course_reports_folder(tmp_path, capsys):
    course = empty_course(tmp_path / "course")
    write_cohort(course.root / "results" / "activation_maxpool", corrupt=False)
    assert main(["report", "--course", str(course.root)]) == 0
    assert (course.root / "reports" / "activation_maxpool" / "report.html").is_file()
    assert capsys.readouterr().err == ""


def test_the_course_chooses_the_language_and_the_command_line_wins(tmp_path, capsys):
    course = empty_course(tmp_path / "course")
    write_cohort(course.root / "results" / "activation_maxpool", corrupt=False)
    with (course.root / "nbgrader_config.py").open("a", encoding="utf-8") as config:
        config.write('c.Instructor.language = "en"\n')
    assert main(["report", "--course", str(course.root)]) == 0
    assert "Cohort report: activation_maxpool" in capsys.readouterr().out
    assert main(["report", "--course", str(course.root), "--language", "es"]) == 0
    assert "Informe del grupo: activation_maxpool" in capsys.readouterr().out


def test_a_bad_language_setting_is_one_line(tmp_path, capsys):
    course = empty_course(tmp_path / "course")
    write_cohort(course.root / "results" / "activation_maxpool", corrupt=False)
    with (course.root / "nbgrader_config.py").open("a", encoding="utf-8") as config:
        config.write('c.Instructor.language = "fr"\n')
    assert main(["report", "--course", str(course.root)]) == 1
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "Instructor.language must be one of: es, en" in captured.err
    assert "Traceback" not in captured.err


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
    assert '<h2 id="review">Para revisar</h2>' in page and "diego" in page.split("Para revisar")[1]


def test_no_para_revisar_section_when_nobody_is_flagged(cohort, tmp_path):
    report = build_report(cohort)
    assert report.review == () and "Para revisar" not in text_table(report)
    assert "Para revisar" not in write_report(report, tmp_path / "out").html.read_text(encoding="utf-8")


def test_a_mean_is_written_with_the_teachers_decimal_separator():
    from autograder.engine.language import Language
    from autograder.engine.teacher_text import teacher_text
    from autograder.outputs.report_model import score_text

    assert score_text(17.6, teacher_text(Language.ES)) == "17,6"
    assert score_text(17.6, teacher_text(Language.EN)) == "17.6"
    assert score_text(22.0, teacher_text(Language.ES)) == "22" and score_text(None, teacher_text(Language.ES)) == "-"
