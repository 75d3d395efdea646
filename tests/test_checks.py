"""Each test family passes the reference answers and fails exactly the families a typical mistake touches."""

from __future__ import annotations

import pytest
import torch

from activation import KERNEL, MAXPOOL2D, PARTS, RELU, TESTS
from autograder.lessons.activation_maxpool.mistakes import LessonMistake
from autograder.engine.checks import Mistake, TestFailure, evaluate
from autograder.engine.checks import check as check_in
from activation import LESSON

FAMILIES = LESSON.families


def check(grade_id, answer):
    return check_in(LESSON, grade_id, answer)
from conftest import EXPECTED_SCORES, load_samples_builder

BUILDER = load_samples_builder()


def answers_for(scenario: str) -> dict[PARTS, object]:
    """Execute a sample scenario's answer cells in a fresh namespace, as the notebook would."""
    namespace: dict[str, object] = {"torch": torch, "nn": torch.nn}
    sources = {**BUILDER.CORRECT, **BUILDER.SCENARIOS[scenario]}
    for grade_id in ("kernel_gx", "relu_impl", "maxpool2d_impl"):
        exec(sources[grade_id], namespace)  # noqa: S102 - our own fixture code
    return {KERNEL: namespace["Gx"], RELU: namespace["relu"], MAXPOOL2D: namespace["maxpool2d"]}


def part_scores(answers: dict[PARTS, object]) -> dict[str, float]:
    scores = {part.name: 0.0 for part in PARTS}
    for spec in TESTS:
        if evaluate(LESSON, spec.grade_id, answers[spec.part]).passed:
            scores[spec.part.name] += 1
    return scores


def test_every_catalogued_test_has_a_family():
    assert set(FAMILIES) == {spec.grade_id for spec in TESTS}


@pytest.mark.parametrize("scenario", sorted(BUILDER.SCENARIOS))
def test_sample_scenarios_score_as_expected(scenario):
    assert part_scores(answers_for(scenario)) == EXPECTED_SCORES[scenario]


@pytest.mark.parametrize(
    "scenario, grade_id, mistake",
    [
        ("wrong_kernel_sign", "kernel_values", LessonMistake.KERNEL_SIGN),
        ("kernel_transposed", "kernel_images", LessonMistake.KERNEL_TRANSPOSED),
        ("leaky_relu", "relu_batch", LessonMistake.LEAKY_RELU),
        ("inplace_relu", "relu_unmodified", Mistake.INPUT_MODIFIED),
        ("calls_torch_relu", "relu_lesson", Mistake.REFERENCE_OP),
        ("relu_via_alias", "relu_example", Mistake.REFERENCE_OP),
        ("stride1_when_none", "maxpool2d_stride_none", LessonMistake.STRIDE_NONE_IGNORED),
        ("max_started_at_zero", "maxpool2d_negative", LessonMistake.MAX_STARTED_AT_ZERO),
        ("calls_nn_maxpool", "maxpool2d_batch", Mistake.REFERENCE_OP),
    ],
)
def test_typical_mistakes_are_named(scenario, grade_id, mistake):
    spec_part = next(s.part for s in TESTS if s.grade_id == grade_id)
    verdict = evaluate(LESSON, grade_id, answers_for(scenario)[spec_part])
    assert not verdict.passed
    assert verdict.mistake is mistake
    assert verdict.hint or mistake is Mistake.INPUT_MODIFIED or mistake is Mistake.REFERENCE_OP


def test_failure_message_is_spanish_and_names_the_test():
    def relu(z):
        return z.float() * (z > 0)

    with pytest.raises(TestFailure) as raised:
        check("relu_dtype", relu)
    text = str(raised.value)
    assert text.startswith("relu: conserva el tipo de dato")
    assert "Se esperaba" in text and "float64" in text and "Pista:" in text
    assert isinstance(raised.value, AssertionError)


def test_unimplemented_stub_fails_with_its_own_message():
    def relu(z):
        raise NotImplementedError("Sin implementar")

    verdict = evaluate(LESSON, "relu_example", relu)
    assert verdict.mistake is Mistake.NOT_IMPLEMENTED


def test_student_exception_is_reported_not_raised():
    def maxpool2d(x, kernel_size, stride=None):
        return x.view(-1)[10**6]

    verdict = evaluate(LESSON, "maxpool2d_batch", maxpool2d)
    assert verdict.mistake is Mistake.RAISED
    assert any("IndexError" in line for line in verdict.details)


def test_not_callable_answer():
    assert evaluate(LESSON, "relu_example", 3).mistake is Mistake.NOT_CALLABLE


def test_flattened_result_gets_the_shape_hint():
    verdict = evaluate(LESSON, "relu_batch", lambda z: torch.where(z > 0, z, 0.0).flatten())
    assert verdict.mistake is Mistake.WRONG_SHAPE
    assert "forma" in verdict.hint


def test_student_prints_and_warnings_do_not_escape(capfd):
    import warnings

    def relu(z):
        print("hola")
        warnings.warn("cuidado")
        import sys

        print("a stderr", file=sys.stderr)
        return torch.where(z > 0, z, torch.zeros_like(z))

    assert evaluate(LESSON, "relu_example", relu).passed
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_kernel_as_nested_list_earns_values_but_not_form():
    as_list = [[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]]
    assert not evaluate(LESSON, "kernel_form", as_list).passed
    assert evaluate(LESSON, "kernel_values", as_list).passed
    assert evaluate(LESSON, "kernel_images", as_list).passed


def test_integer_kernel_fails_only_its_form():
    ints = torch.tensor([[1, 0, -1], [2, 0, -2], [1, 0, -1]])
    assert evaluate(LESSON, "kernel_form", ints).mistake is LessonMistake.KERNEL_INTEGERS
    assert all(evaluate(LESSON, g, ints).passed for g in ("kernel_values", "kernel_lesson", "kernel_images"))


def test_inputs_are_seeded_and_reproducible():
    seen = []

    def relu(z):
        seen.append(z.clone())
        return torch.where(z > 0, z, torch.zeros_like(z))

    evaluate(LESSON, "relu_batch", relu)
    first = list(seen)
    seen.clear()
    evaluate(LESSON, "relu_batch", relu)
    assert all(torch.equal(a, b) for a, b in zip(first, seen)) and len(first) == len(seen) > 1


def test_hidden_entry_point_checks_with_the_lesson_of_the_test():
    from autograder.hidden import check as hidden_check, lesson_with

    assert lesson_with("relu_example", "/") is LESSON
    hidden_check("relu_example", lambda z: torch.where(z > 0, z, torch.zeros_like(z)))
    with pytest.raises(TestFailure):
        hidden_check("relu_example", lambda z: z)


def test_wrong_values_list_the_differing_positions_with_both_values():
    verdict = evaluate(LESSON, "relu_example", lambda z: torch.where(z > 0, z, 0.1 * z))
    text = "\n".join(verdict.lines())
    assert verdict.mistake == LessonMistake.LEAKY_RELU
    assert "Posiciones distintas" in text and "→" in text


def test_an_unanswered_kernel_is_not_implemented_not_a_wrong_tensor():
    for grade_id in ("kernel_form", "kernel_values"):
        verdict = evaluate(LESSON, grade_id, None)
        assert verdict.mistake == Mistake.NOT_IMPLEMENTED and "None" in "\n".join(verdict.lines())


@pytest.mark.parametrize(
    "rows, hint",
    [
        ([[1.0, 0.0, -1.0]] * 3, "la fila central pesa el doble"),  # Prewitt
        ([[0.25, 0.0, -0.25], [0.5, 0.0, -0.5], [0.25, 0.0, -0.25]], "revisa la escala"),
        ([[1.0, 1.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]], "la columna central no cuenta"),
        ([[1.0, 0.0, -2.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]], "la columna de la derecha"),
    ],
)
def test_a_wrong_kernel_gets_the_hint_of_the_property_it_lacks_without_the_values(rows, hint):
    import torch

    from autograder.lessons.activation_maxpool import kernel

    verdict = kernel.values(torch.tensor(rows))
    assert not verdict.passed and verdict.hint.startswith(hint)
    assert "[[1.0, 0.0, -1.0], [2.0" not in "\n".join(verdict.lines())


def test_the_checks_run_torch_on_one_thread_as_the_kernels_do():
    import torch

    import autograder.engine.checks.core  # noqa: F401

    assert torch.get_num_threads() == 1
