"""Test families for the student's relu(z), each compared with torch.relu."""

from __future__ import annotations

from typing import Any, Callable

import torch

from autograder.lessons.activation_maxpool import hints
from autograder.lessons.activation_maxpool.mistakes import LessonMistake
from autograder.lessons.activation_maxpool.catalog import RELU
from autograder.engine.checks.core import Case, Diagnosis, Trial, Verdict, device, generator, run_cases
from autograder.lessons.activation_maxpool.inputs import activation_map

WHAT = "función relu"
# How torch words a tensor of many values used as one truth value (if z > 0, max(z, 0), z and w).
BOOL_AMBIGUOUS = "Boolean value of Tensor with more than one value is ambiguous"


def _randn(test_id: str, *shape: int, dtype: torch.dtype = torch.float32, salt: int = 0) -> Callable[[], tuple]:
    def make() -> tuple[torch.Tensor]:
        values = torch.randn(*shape, generator=generator(test_id, salt), dtype=dtype)
        return (values.to(device()),)

    return make


def _literal(values: Any) -> Callable[[], tuple]:
    return lambda: (torch.tensor(values, device=device()),)


def _same_kind(got: Any, expected: torch.Tensor) -> bool:
    return isinstance(got, torch.Tensor) and got.shape == expected.shape and got.dtype == expected.dtype


def _leaky(trial: Trial) -> bool:
    """Right on non-negatives, a negative fraction where the input is negative."""
    if not _same_kind(trial.result, trial.expected):
        return False
    z, got = trial.args[0].detach(), trial.result.detach()
    wrong = got != trial.expected
    return bool(wrong.any()) and bool((z[wrong] < 0).all()) and bool((got[wrong] < 0).all())


def _has_negatives(trial: Trial) -> bool:
    return bool((trial.args[0].detach() < 0).any())


def _tensor_as_bool(trial: Trial) -> bool:
    """Python's if/max/and on a whole tensor: torch refuses to turn many values into one truth value."""
    return trial.outcome.error is not None and BOOL_AMBIGUOUS in str(trial.outcome.error)


def _several_values(trial: Trial) -> bool:
    return trial.args[0].numel() > 1


def _max_with_dim(trial: Trial) -> bool:
    """torch.max(z, 0): a (values, indices) pair instead of a tensor, or its values (dimension 0 reduced)."""
    got, z = trial.result, trial.args[0].detach()
    if isinstance(got, tuple):
        return len(got) == 2 and all(isinstance(item, torch.Tensor) for item in got)
    reduced = z.amax(dim=0) if z.dim() > 0 and z.shape[0] > 0 else None
    return (
        isinstance(got, torch.Tensor) and reduced is not None and got.shape == reduced.shape
        and got.shape != z.shape and bool((got.detach() == reduced).all())
    )


DIAGNOSES = (
    Diagnosis(LessonMistake.MAX_WITH_DIM, hints.HINT_MAX_WITH_DIM, _max_with_dim),
    Diagnosis(LessonMistake.TENSOR_AS_BOOL, hints.HINT_TENSOR_AS_BOOL, _tensor_as_bool, _several_values),
    Diagnosis(LessonMistake.LEAKY_RELU, hints.HINT_LEAKY, _leaky, _has_negatives),
)


def _run(test_id: str, answer: Any, cases: list[Case], *, require_unmodified: bool = False) -> Verdict:
    return run_cases(
        RELU,
        WHAT,
        "relu",
        answer,
        cases,
        torch.relu,
        require_unmodified=require_unmodified,
        hint_values=hints.HINT_RELU_VALUES,
        hint_shape=hints.HINT_SHAPE_RELU,
        diagnoses=DIAGNOSES,
    )


def relu_example(answer: Any) -> Verdict:
    cases = [
        Case("ejemplo pequeño", _literal([-2.0, -0.5, 0.0, 1.5, 3.0])),
        Case("mapa Z de la lección", _literal([[[[-4.0, 0.0, 4.0]] * 3]])),
    ]
    return _run("relu_example", answer, cases)


def relu_lesson(answer: Any) -> Verdict:
    return _run("relu_lesson", answer, [Case("Z = conv(image) de la lección", lambda: (activation_map(),))])


def relu_batch(answer: Any) -> Verdict:
    t = "relu_batch"
    shapes = [(4, 3, 5, 5), (2, 1, 7, 3), (6,), (3, 4), (2, 3, 4)]
    return _run(t, answer, [Case(f"forma {s}", _randn(t, *s, salt=i)) for i, s in enumerate(shapes)])


def relu_dtype(answer: Any) -> Verdict:
    t = "relu_dtype"
    return _run(t, answer, [Case("float64", _randn(t, 3, 2, 4, 4, dtype=torch.float64))])


def relu_noncontiguous(answer: Any) -> Verdict:
    t = "relu_noncontiguous"

    def transposed() -> tuple[torch.Tensor]:
        return (_randn(t, 4, 5, 6)()[0].transpose(0, 2),)

    def strided() -> tuple[torch.Tensor]:
        return (_randn(t, 2, 3, 8, 8, salt=1)()[0][..., ::2],)

    return _run(t, answer, [Case("traspuesta", transposed), Case("cada dos columnas", strided)])


def relu_unmodified(answer: Any) -> Verdict:
    t = "relu_unmodified"
    return _run(t, answer, [Case("lote aleatorio", _randn(t, 2, 3, 4, 4))], require_unmodified=True)


FAMILIES = {
    "relu_example": relu_example,
    "relu_lesson": relu_lesson,
    "relu_batch": relu_batch,
    "relu_dtype": relu_dtype,
    "relu_noncontiguous": relu_noncontiguous,
    "relu_unmodified": relu_unmodified,
}
