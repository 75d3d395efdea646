"""Test families for the student's relu(z), each compared with torch.relu."""

from __future__ import annotations

from typing import Any, Callable

import torch

from autograder.lessons.activation_maxpool import hints
from autograder.lessons.activation_maxpool.mistakes import LessonMistake
from autograder.lessons.activation_maxpool.catalog import RELU
from autograder.engine.checks.core import Case, Mistake, Verdict, device, generator, run_cases
from autograder.lessons.activation_maxpool.inputs import activation_map

WHAT = "función relu"


def _randn(test_id: str, *shape: int, dtype: torch.dtype = torch.float32, salt: int = 0) -> Callable[[], tuple]:
    def make() -> tuple[torch.Tensor]:
        values = torch.randn(*shape, generator=generator(test_id, salt), dtype=dtype)
        return (values.to(device()),)

    return make


def _literal(values: Any) -> Callable[[], tuple]:
    return lambda: (torch.tensor(values, device=device()),)


def _refine(case: Case, args: tuple, got: Any, expected: torch.Tensor, verdict: Verdict) -> Verdict:
    """Recognise a leaky ReLU: right on non-negatives, a negative fraction on negatives."""
    if verdict.mistake is Mistake.WRONG_VALUES:
        z = args[0].detach()
        wrong = got.detach() != expected
        if bool((z[wrong] < 0).all()) and bool((got.detach()[wrong] < 0).all()):
            return verdict.recognised(LessonMistake.LEAKY_RELU, hints.HINT_LEAKY)
    return verdict


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
        refine=_refine,
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
