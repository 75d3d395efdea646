"""The lesson's catalogue of typical mistakes: each sample gets its own diagnosis and hint, and no other; messages read clean."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from activation import KERNEL, LESSON, MAXPOOL2D, PARTS, RELU, TESTS
from autograder.engine.checks import TestFailure, evaluate
from autograder.lessons.activation_maxpool.mistakes import LABELS, LABELS_ES, LessonMistake
from conftest import EXPECTED_SCORES, SAMPLES, load_samples_builder
from kernel_side import graded

BUILDER = load_samples_builder()
CATALOGUE = LESSON.catalogue
DOCS = Path(__file__).resolve().parents[1] / "docs" / "instructors.md"
# Samples that are not a catalogued mistake: the answer, the guard's alias test, and hard-coded lesson outputs.
NOT_A_MISTAKE = {"solution", "relu_via_alias", "lesson_outputs_only"}
# What no student-facing text may show: the dispatcher's, the codec's and torch's internal names.
INTERNAL = re.compile(r"aten::|Opaque|return_types|torch\._|quantized::|mkldnn::|autograder")
DECIMAL = re.compile(r"-?\d+\.\d+(?:e[+-]?\d+)?")


def answers_for(scenario: str) -> dict:
    """A sample's answers, run from its cells' source in a fresh namespace as the notebook would."""
    namespace: dict[str, object] = {"torch": torch, "nn": torch.nn}
    sources = {**BUILDER.CORRECT, **BUILDER.SCENARIOS[scenario]}
    for grade_id in ("kernel_gx", "relu_impl", "maxpool2d_impl"):
        exec(sources[grade_id], namespace)  # noqa: S102 - our own fixture code
    return {KERNEL: namespace["Gx"], RELU: namespace["relu"], MAXPOOL2D: namespace["maxpool2d"]}


def failures(scenario: str, *, recorded: bool = True) -> dict[str, object]:
    """grade_id -> failing verdict: decided from the stub's record of the sample's answer (the grading path, through
    JSON), or from a local call (traced, as in an instructor's Jupyter; the only way to see the taught operation
    called without a grading kernel's guard)."""
    answers = answers_for(scenario)
    decide = graded if recorded else (lambda grade_id, answer: evaluate(LESSON, grade_id, answer))
    verdicts = {spec.grade_id: decide(spec.grade_id, answers[spec.part]) for spec in TESTS}
    return {grade_id: verdict for grade_id, verdict in verdicts.items() if not verdict.passed}


def name_of(mistake) -> str:
    return str(getattr(mistake, "value", mistake))


def significant_digits(number: str) -> int:
    mantissa = number.lstrip("-").split("e")[0].replace(".", "").lstrip("0")
    return len(mantissa.rstrip("0")) if mantissa else 0


def unclean(text: str) -> list[str]:
    """What a student should not read in a message: internal names, numbers with more than 4 significant digits."""
    problems = INTERNAL.findall(text)
    problems += [n for n in DECIMAL.findall(text) if significant_digits(n) > 4]
    return problems


def test_every_catalogued_mistake_has_a_sample_and_every_sample_a_mistake():
    samples = {entry.sample for entry in CATALOGUE}
    assert len(samples) == len(CATALOGUE), "one sample per catalogued mistake"
    assert samples <= set(BUILDER.SCENARIOS) and samples <= set(EXPECTED_SCORES)
    assert all((SAMPLES / f"{sample}.ipynb").is_file() for sample in samples)
    assert set(BUILDER.SCENARIOS) - samples == NOT_A_MISTAKE


def test_every_catalogued_name_has_a_label_in_both_languages():
    labels = LESSON.mistake_labels
    assert all(entry.name in labels for entry in CATALOGUE)
    assert set(LABELS_ES) == set(LABELS) == {m.value for m in LessonMistake}
    assert {entry.part for entry in CATALOGUE} == {part.name for part in PARTS}


@pytest.mark.parametrize("entry", CATALOGUE, ids=lambda entry: f"{entry.part}-{entry.name}")
@pytest.mark.parametrize("recorded", [True, False], ids=["recorded", "local"])
def test_each_sample_gets_its_own_diagnosis_and_no_other(entry, recorded):
    if recorded and entry.name == "reference_op":
        pytest.skip("refused only by a grading kernel's guard: test_pipeline grades this sample for real")
    failed = failures(entry.sample, recorded=recorded)
    assert failed, f"{entry.sample} passes every test"
    assert {(LESSON.spec(g).part.name, name_of(v.mistake)) for g, v in failed.items()} == {(entry.part, entry.name)}
    assert {v.hint for v in failed.values()} == {entry.hint}


@pytest.mark.parametrize("scenario", sorted(BUILDER.SCENARIOS))
@pytest.mark.parametrize("recorded", [True, False], ids=["recorded", "local"])
def test_messages_show_no_internal_names_and_rounded_numbers(scenario, recorded):
    for grade_id, verdict in failures(scenario, recorded=recorded).items():
        text = TestFailure(LESSON.spec(grade_id), verdict).render()
        assert not unclean(text), f"{grade_id}: {unclean(text)}\n{text}"


def test_the_docs_table_lists_every_catalogued_mistake_with_its_hint():
    docs = DOCS.read_text(encoding="utf-8")
    for entry in CATALOGUE:
        assert f"`{entry.name}`" in docs and entry.hint in docs, entry


# -- diagnoses beyond the samples: other spellings of the same mistakes, and what must not be diagnosed --


def maxpool_loop(rows: str = "(H - kh) // sh + 1", cols: str = "(W - kw) // sw + 1"):
    source = BUILDER.MAXPOOL_LOOP.replace("(H - kh) // sh + 1, (W - kw) // sw + 1", f"{rows}, {cols}")
    namespace: dict[str, object] = {"torch": torch}
    exec(source, namespace)  # noqa: S102 - our own fixture code
    return namespace["maxpool2d"]


def range_off_by_one(x, kernel_size, stride=None):
    """The other off-by-one: window starts from range(0, H - kh, sh), which misses the last one when it fits exactly."""
    kh, kw = (kernel_size,) * 2 if isinstance(kernel_size, int) else kernel_size
    sh, sw = (kh, kw) if stride is None else ((stride,) * 2 if isinstance(stride, int) else stride)
    rows = [torch.stack([x[..., i:i + kh, j:j + kw].amax(dim=(-2, -1)) for j in range(0, x.shape[-1] - kw, sw)], -1)
            for i in range(0, x.shape[-2] - kh, sh)]
    return torch.stack(rows, -2)


@pytest.mark.parametrize("grade_id", ["maxpool2d_example_stride1", "maxpool2d_lesson", "maxpool2d_stride", "maxpool2d_batch"])
def test_range_off_by_one_is_diagnosed_as_such(grade_id):
    verdict = evaluate(LESSON, grade_id, range_off_by_one)
    assert verdict.mistake is LessonMistake.OUTPUT_OFF_BY_ONE


def test_an_output_one_short_in_the_lesson_example_is_not_called_stride_ignored():
    # On the lesson's 4×4 image, one window short and stride ignored give the same 2×2 result (issue 13).
    for grade_id in ("maxpool2d_example_stride1", "maxpool2d_lesson"):
        assert evaluate(LESSON, grade_id, maxpool_loop("(H - kh) // sh", "(W - kw) // sw")).mistake is LessonMistake.OUTPUT_OFF_BY_ONE


def test_a_local_torch_max_call_is_diagnosed_like_a_recorded_one():
    verdict = evaluate(LESSON, "relu_batch", lambda z: torch.max(z, 0))
    assert verdict.mistake is LessonMistake.MAX_WITH_DIM
    assert not unclean("\n".join(verdict.lines()))


def test_a_mistake_that_explains_only_some_failures_is_not_named():
    # Leaky on negatives AND wrong on positives: no single catalogued cause, so the plain verdict stands.
    verdict = evaluate(LESSON, "relu_batch", lambda z: torch.where(z > 0, z + 1, 0.01 * z))
    assert name_of(verdict.mistake) == "wrong_values" and verdict.hint


def test_wrong_dtype_names_the_students_dtype_and_the_expected_one():
    verdict = evaluate(LESSON, "relu_dtype", lambda z: torch.where(z > 0, z, 0.0).float())
    assert "es float32, pero se esperaba float64" in verdict.lines()[0]


def test_a_transposed_float32_kernel_is_reported_as_float32():
    gx = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]]).T
    text = "\n".join(graded("kernel_values", gx).lines())
    assert "float32" in text and "float64" not in text


def test_kernel_hints_and_messages_do_not_give_gx_away():
    for hint in (entry.hint for entry in CATALOGUE if entry.part == KERNEL.name):
        assert not re.search(r"-?\d", hint.replace("3×3", "")), hint
    text = "\n".join(graded("kernel_values", torch.zeros(3, 3)).lines())
    assert "-1.0" not in text and "2.0" not in text


def test_the_taught_operation_is_named_as_students_spell_it():
    text = "\n".join(evaluate(LESSON, "relu_example", lambda z: torch.relu(z)).lines())
    assert "torch.relu" in text and "aten" not in text


def relu_if(z):
    if z > 0:
        return z
    return torch.zeros_like(z)


def maxpool_stride_default_1(x, kernel_size, stride=1):
    """No None handling: stride=1 as the signature's default."""
    return x.unfold(-2, kernel_size, stride).unfold(-2, kernel_size, stride).amax(dim=(-2, -1))


def maxpool_fixed_dims(x, kernel_size, stride=None):
    """Dimensions 2 and 3 hard-coded: a (C, H, W) input pools the wrong dimensions, without raising."""
    stride = kernel_size if stride is None else stride
    return x.unfold(2, kernel_size, stride).unfold(3, kernel_size, stride).amax(dim=(-2, -1))


@pytest.mark.parametrize(
    "grade_id, answer, mistake",
    [
        ("relu_batch", lambda z: torch.max(z, 0)[0], LessonMistake.MAX_WITH_DIM),
        ("relu_example", relu_if, LessonMistake.TENSOR_AS_BOOL),
        ("maxpool2d_lesson", maxpool_stride_default_1, LessonMistake.STRIDE_NONE_IGNORED),
        ("maxpool2d_stride_none", maxpool_stride_default_1, LessonMistake.STRIDE_NONE_IGNORED),
        ("maxpool2d_batch", maxpool_fixed_dims, LessonMistake.CHW_INPUT_UNHANDLED),
    ],
    ids=["relu-max-values", "relu-if", "maxpool-stride-default-1-lesson", "maxpool-stride-default-1", "maxpool-fixed-dims"],
)
def test_other_spellings_of_catalogued_mistakes(grade_id, answer, mistake):
    assert evaluate(LESSON, grade_id, answer).mistake is mistake


def test_the_float32_default_hint_is_given_only_for_float32():
    verdict = evaluate(LESSON, "relu_example", lambda z: z > 0)
    assert name_of(verdict.mistake) == "wrong_dtype" and "bool" in verdict.lines()[0]
    assert verdict.hint != next(e.hint for e in CATALOGUE if e.name == "wrong_dtype")
