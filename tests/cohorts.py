"""A small constructed cohort of results files (full marks, typical mistakes, ungradable, corrupt) for export and report tests."""

from __future__ import annotations

import shutil
from pathlib import Path

from activation import ASSIGNMENT, LESSON, TESTS
from conftest import ROOT
from autograder.engine.course import Course
from autograder.engine.results import PASSED_OUTPUT, GradingResult, TestResult

EMPTY_REASON = "el archivo está vacío"
CORRUPT = b"{not json"

# student -> {grade_id: mistake} of the failing tests (1 point each); every other test passes.
FAILURES: dict[str, dict[str, str | None]] = {
    "ana": {},
    "bruno": {
        "kernel_values": "kernel_sign", "kernel_lesson": "kernel_sign", "kernel_images": "kernel_sign",
        "maxpool2d_stride": "stride_ignored", "maxpool2d_rect": "stride_ignored", "maxpool2d_remainder": "stride_ignored",
    },
    "carla": {"maxpool2d_stride": "stride_ignored", "maxpool2d_rect": "stride_ignored", "maxpool2d_negative": "max_started_at_zero"},
    "diego": {
        **{spec.grade_id: "reference_op" for spec in TESTS if spec.part.name == "relu"},
        "maxpool2d_stride": "stride_ignored",
    },
    "félix": {
        **{g: "leaky_relu" for g in ("relu_example", "relu_lesson", "relu_batch", "relu_dtype", "relu_noncontiguous")},
        "maxpool2d_batch": "fault",
    },
}
# What each part scores per student (kernel / 4, relu / 6, maxpool2d / 12), and the CSV the cohort exports.
EXPECTED_CSV = [
    ["student", "score", "max_score", "kernel", "relu", "maxpool2d", "error"],
    ["ana", "22", "22", "4", "6", "12", ""],
    ["bruno", "16", "22", "1", "6", "9", ""],
    ["carla", "19", "22", "4", "6", "9", ""],
    ["diego", "15", "22", "4", "0", "11", ""],
    ["elena", "0", "22", "0", "0", "0", EMPTY_REASON],
    ["félix", "16", "22", "4", "1", "11", ""],
]
CORRUPT_STUDENT = "zz_corrupt"


def output_for(spec_name: str, mistake: str | None) -> str:
    return f"{spec_name}: no superada.\nSe esperaba otra cosa ({mistake})."


def graded(failures: dict[str, str | None]) -> GradingResult:
    """A graded notebook failing exactly the given tests, with the given mistakes."""
    tests = [
        TestResult(spec, 0.0, 1.0, output_for(spec.name, failures[spec.grade_id]), failures[spec.grade_id])
        if spec.grade_id in failures
        else TestResult(spec, 1.0, 1.0, PASSED_OUTPUT)
        for spec in TESTS
    ]
    return GradingResult(notebook="entrega.ipynb", tests=tests, execution_time=12.5)


def ungradable(reason: str = EMPTY_REASON) -> GradingResult:
    return GradingResult.ungradable("entrega.ipynb", reason, {spec.grade_id: 1.0 for spec in TESTS}, LESSON)


def write_cohort(folder: Path, corrupt: bool = True) -> Path:
    """The constructed cohort as `<student>.json` files in `folder` (plus one corrupt file unless told not to)."""
    folder.mkdir(parents=True, exist_ok=True)
    for student, failures in FAILURES.items():
        graded(failures).write(folder / f"{student}.json")
    ungradable().write(folder / "elena.json")
    if corrupt:
        (folder / f"{CORRUPT_STUDENT}.json").write_bytes(CORRUPT)
    return folder


def empty_course(root: Path) -> Course:
    """A course directory with nothing in it but its config file and the lesson's source, so default folders land in `root`."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "nbgrader_config.py").write_text("c = get_config()\n", encoding="utf-8")
    source = root / "solutions" / ASSIGNMENT
    source.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", source)
    return Course.at(root)
