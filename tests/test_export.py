"""Exports: one CSV row per student with exact scores; JUnit XML that parses, with the right counts and feedback."""

from __future__ import annotations

import csv
import xml.etree.ElementTree as ET

import pytest

from activation import ASSIGNMENT, BY_GRADE_ID, LESSON, TESTS
from autograder.cli import main
from autograder.outputs.cohort import Cohort, CohortEntry, load_cohort
from autograder.outputs.export import CSV_NAME, JUNIT_NAME, ExportFormat, csv_rows, export, junit_bytes, junit_tree
from autograder.engine.results import GradingResult, TestResult
from cohorts import CORRUPT_STUDENT, EMPTY_REASON, EXPECTED_CSV, FAILURES, empty_course, graded, output_for, ungradable, write_cohort
from conftest import ROOT


# The constructed cohort's CSV with the review column (empty: nobody in it is flagged).
EXPECTED_ROWS = [EXPECTED_CSV[0] + ["review"], *(row + [""] for row in EXPECTED_CSV[1:])]


@pytest.fixture
def cohort(course, tmp_path) -> Cohort:
    return load_cohort(course, ASSIGNMENT, LESSON, results_dir=write_cohort(tmp_path / "results"))


def test_csv_rows_are_exact_and_sorted(cohort):
    rows = csv_rows(cohort)
    assert rows[:-1] == EXPECTED_ROWS
    corrupt = rows[-1]
    assert corrupt[:6] == [CORRUPT_STUDENT, "0", "22", "0", "0", "0"]
    assert corrupt[6].startswith("results file could not be read (JSONDecodeError") and corrupt[7] == ""


def test_csv_file_is_utf8_and_reads_back(cohort, tmp_path):
    exported = export(cohort, ExportFormat.CSV, tmp_path / "out" / "notas.csv")
    assert exported.paths == (tmp_path / "out" / "notas.csv",)
    with open(exported.paths[0], encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows == csv_rows(cohort)
    assert ["félix", "16", "22", "4", "1", "11", "", ""] in rows and ["elena", "0", "22", "0", "0", "0", EMPTY_REASON, ""] in rows


def test_junit_counts(cohort):
    root = ET.fromstring(junit_bytes(cohort))
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [e.student for e in cohort.entries]
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == (str(7 * len(TESTS)), "22", "44")
    counts = {s.get("name"): (int(s.get("tests")), int(s.get("failures")), int(s.get("errors"))) for s in suites}
    assert counts == {
        "ana": (22, 0, 0), "bruno": (22, 6, 0), "carla": (22, 3, 0), "diego": (22, 7, 0),
        "elena": (22, 0, 22), "félix": (22, 6, 0), CORRUPT_STUDENT: (22, 0, 22),
    }
    for suite in suites:  # the attributes agree with the elements
        assert len(suite.findall("testcase")) == int(suite.get("tests"))
        assert len(suite.findall("testcase/failure")) == int(suite.get("failures"))
        assert len(suite.findall("testcase/error")) == int(suite.get("errors"))


def test_junit_failures_carry_the_spanish_feedback_and_the_mistake(cohort):
    root = junit_tree(cohort).getroot()
    bruno = root.find("testsuite[@name='bruno']")
    properties = {p.get("name"): p.get("value") for p in bruno.find("properties")}
    assert properties["score"] == "16" and properties["score.maxpool2d"] == "9"
    failing = {case.get("name"): case for case in bruno.findall("testcase") if case.find("failure") is not None}
    assert set(failing) == {BY_GRADE_ID[g].name for g in FAILURES["bruno"]}
    case = failing[BY_GRADE_ID["maxpool2d_rect"].name]
    assert case.get("classname") == "maxpool2d"
    failure = case.find("failure")
    assert failure.get("type") == "stride_ignored"
    assert failure.get("message") == failure.text == output_for(BY_GRADE_ID["maxpool2d_rect"].name, "stride_ignored")
    case_properties = {p.get("name"): p.get("value") for p in case.find("properties")}
    assert case_properties == {"grade_id": "maxpool2d_rect", "hidden": "true", "visibility": "after_published", "score": "0/1", "mistake": "stride_ignored"}
    # hidden tests are exported too (instructor-facing), passed ones without failure
    ana = root.find("testsuite[@name='ana']")
    assert len(ana.findall("testcase")) == len(TESTS) and ana.find("testcase/failure") is None


def test_junit_ungradable_submissions_are_errors_with_the_reason(cohort):
    root = junit_tree(cohort).getroot()
    elena = root.find("testsuite[@name='elena']")
    errors = elena.findall("testcase/error")
    assert len(errors) == len(TESTS)
    assert {(e.get("type"), e.get("message")) for e in errors} == {("ungradable", EMPTY_REASON)}
    corrupt = root.find(f"testsuite[@name='{CORRUPT_STUDENT}']")
    assert corrupt.find("testcase/error").get("message").startswith("results file could not be read")


def test_junit_parses_whatever_the_feedback_holds(tmp_path):
    spec = BY_GRADE_ID["relu_batch"]
    tests = [TestResult(spec, 0.0, 1.0, "error del alumno: \x00\x1b[31m<&>\x7f", "raised")]
    cohort = Cohort("activation_maxpool", tmp_path, (CohortEntry("ana", tmp_path / "ana.json", GradingResult("nb", tests)),))
    failure = ET.fromstring(junit_bytes(cohort)).find(".//failure")
    assert failure.text == "error del alumno: \ufffd\ufffd[31m<&>\x7f"


def test_both_formats_go_into_one_folder(cohort, tmp_path):
    exported = export(cohort, ExportFormat.BOTH, tmp_path / "out")
    assert exported.paths == (tmp_path / "out" / CSV_NAME, tmp_path / "out" / JUNIT_NAME)
    assert ET.parse(exported.paths[1]).getroot().get("tests") == str(7 * len(TESTS))


def test_cli_export_warns_once_per_unreadable_file(tmp_path, capsys):
    results = write_cohort(tmp_path / "results")
    out = tmp_path / "junit.xml"
    code = main(["export", "--course", str(ROOT), "--results-dir", str(results), "--format", "junit", "--output", str(out)])
    captured = capsys.readouterr()
    assert code == 0
    [warning] = captured.err.splitlines()
    assert warning.startswith(f"autograder: warning: {results / (CORRUPT_STUDENT + '.json')}: results file could not be read (")
    assert ET.parse(out).getroot().get("errors") == "44"
    assert str(out) in captured.out


def test_cli_export_defaults_to_both_formats_in_reports(tmp_path, capsys):
    course = empty_course(tmp_path / "course")
    write_cohort(course.root / "results" / "activation_maxpool", corrupt=False)
    assert main(["export", "--course", str(course.root)]) == 0
    folder = course.root / "reports" / "activation_maxpool"
    assert (folder / CSV_NAME).read_text(encoding="utf-8").splitlines()[1] == "ana,22,22,4,6,12,,"
    assert (folder / JUNIT_NAME).is_file()
    assert capsys.readouterr().err == ""


def test_cli_export_without_results_exits_non_zero_with_one_line(tmp_path, capsys):
    course = empty_course(tmp_path / "course")
    assert main(["export", "--course", str(course.root)]) == 1
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "run `autograder autograde` first" in captured.err
    assert "Traceback" not in captured.err and captured.out == ""


def test_cli_export_to_an_unwritable_place_exits_non_zero_with_one_line(tmp_path, capsys):
    results = write_cohort(tmp_path / "results", corrupt=False)
    blocker = tmp_path / "a-file"
    blocker.write_text("x", encoding="utf-8")
    code = main(["export", "--course", str(ROOT), "--results-dir", str(results), "--format", "csv", "--output", str(blocker / "g.csv")])
    captured = capsys.readouterr()
    assert code == 1 and captured.err.count("\n") == 1 and captured.err.startswith(f"autograder: cannot write {blocker / 'g.csv'}")


REVIEW = [
    "Una celda emitió un registro de prueba que el calificador no pidió (posible falsificación).",
    "Durante la calificación, el cuaderno\nleyó archivos del calificador.",
]


def flagged_cohort(course, tmp_path) -> Cohort:
    """The constructed cohort with review marks on bruno (graded) and elena (ungradable)."""
    folder = write_cohort(tmp_path / "results", corrupt=False)
    for student in ("bruno", "elena"):
        result = GradingResult.read(folder / f"{student}.json")
        result.review = list(REVIEW)
        result.write(folder / f"{student}.json")
    return load_cohort(course, ASSIGNMENT, LESSON, results_dir=folder)


def test_review_marks_are_a_csv_column_and_a_junit_property(course, tmp_path):
    cohort = flagged_cohort(course, tmp_path)
    rows = {row[0]: row for row in csv_rows(cohort)}
    assert rows["student"][-1] == "review"
    joined = "Una celda emitió un registro de prueba que el calificador no pidió (posible falsificación). | Durante la calificación, el cuaderno leyó archivos del calificador."
    assert rows["bruno"][-1] == rows["elena"][-1] == joined
    assert rows["bruno"][1] == "16"  # a mark never changes the score
    assert rows["ana"][-1] == ""
    root = junit_tree(cohort).getroot()
    properties = {s.get("name"): {p.get("name"): p.get("value") for p in s.find("properties")} for s in root.findall("testsuite")}
    assert properties["bruno"]["review"] == properties["elena"]["review"] == joined
    assert "review" not in properties["ana"]


# --- gradebook files for Moodle and Canvas, read back as their importers read them ---------------------------

# Students whose ids a naive CSV writer breaks: a comma and quotes, non-ASCII letters, a leading dot, dots inside.
AWKWARD = {'pérez, "ñandú"': {"relu_example": "leaky_relu"}, ".alice": {}, "josé.maría": {"maxpool2d_stride": "stride_ignored"}, "Ángela": {}}


@pytest.fixture
def awkward(course, tmp_path) -> Cohort:
    """The constructed cohort plus students with awkward ids, one of them ungradable, and the corrupt file."""
    folder = write_cohort(tmp_path / "results")
    for student, failures in AWKWARD.items():
        graded(failures).write(folder / f"{student}.json")
    ungradable("el cuaderno está truncado, \"no es JSON\"").write(folder / "ñoño.json")
    return load_cohort(course, ASSIGNMENT, LESSON, results_dir=folder)


def read_csv(path) -> list[list[str]]:
    """The file as an importer reads it: UTF-8, comma-separated, RFC 4180 quoting."""
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def expected_totals(cohort: Cohort) -> dict[str, float]:
    """Every student whose grade is known (the unreadable file is left out), with their total."""
    return {e.student: e.result.score for e in cohort.entries if not e.unreadable}


def test_moodle_file_reads_as_moodles_csv_import_does(awkward, tmp_path):
    [path] = export(awkward, ExportFormat.MOODLE, tmp_path / "moodle.csv").paths
    header, *rows = read_csv(path)
    # Moodle's import form: a header of distinct, non-empty column names; one mapped to a user field, one per grade item
    assert header == ["Username", ASSIGNMENT, f"{ASSIGNMENT} (feedback)"]
    assert len(set(header)) == len(header) and all(name.strip() for name in header)
    assert all(len(row) == len(header) for row in rows)  # Moodle skips lines of one field or fewer
    grades = {row[0]: float(row[1]) for row in rows}  # the grade column is numeric
    assert grades == expected_totals(awkward)
    assert grades['pérez, "ñandú"'] == 21 and grades[".alice"] == 22 and grades["josé.maría"] == 21 and grades["ñoño"] == 0
    assert CORRUPT_STUDENT not in grades
    feedback = {row[0]: row[2] for row in rows}
    assert feedback["bruno"] == "Calificación automática: 16 de 22 puntos (kernel: 1 de 4; relu: 6 de 6; maxpool2d: 9 de 12)."
    assert feedback["ñoño"] == 'Calificación automática: no se pudo calificar tu entrega (el cuaderno está truncado, "no es JSON").'
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf") and '"pérez, ""ñandú"""'.encode("utf-8") in raw  # UTF-8, quoted as RFC 4180 says


def test_canvas_file_reads_as_canvas_gradebook_import_does(awkward, tmp_path):
    [path] = export(awkward, ExportFormat.CANVAS, tmp_path / "canvas.csv").paths
    header, points, *rows = read_csv(path)
    # Canvas's importer: Student and ID first, the SIS columns, Section last before the assignments
    assert header == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", ASSIGNMENT]
    assert "Student" in header[0] and "ID" in header[1] and "Section" in header[4]
    assert points[0] == "Points Possible" and float(points[5]) == 22  # the row it reads the maxima from, not a student
    assert all(len(row) == len(header) for row in rows)
    login = header.index("SIS Login ID")
    grades = {row[login]: float(row[5]) for row in rows}
    assert grades == expected_totals(awkward)
    assert all(row[0] == row[login] and row[1] == row[2] == row[4] == "" for row in rows)
    assert {row[0] for row in rows} >= {'pérez, "ñandú"', ".alice", "josé.maría", "Ángela", "ñoño"}


def test_all_writes_every_format_into_one_folder(cohort, tmp_path):
    exported = export(cohort, ExportFormat.ALL, tmp_path / "out")
    assert [p.name for p in exported.paths] == [CSV_NAME, JUNIT_NAME, "moodle.csv", "canvas.csv"]
    assert all(p.is_file() for p in exported.paths)


def test_cli_export_offers_every_format(tmp_path, capsys):
    course = empty_course(tmp_path / "course")
    write_cohort(course.root / "results" / "activation_maxpool", corrupt=False)
    assert main(["export", "--course", str(course.root), "--format", "canvas"]) == 0
    rows = read_csv(course.root / "reports" / "activation_maxpool" / "canvas.csv")
    assert rows[1][0] == "Points Possible" and rows[2][3] == "ana" and rows[2][5] == "22"
    assert main(["export", "--course", str(course.root), "--format", "moodle", "--output", str(tmp_path / "m.csv")]) == 0
    assert read_csv(tmp_path / "m.csv")[1][:2] == ["ana", "22"]
