"""Test families for the student's maxpool2d(x, kernel_size, stride=None), compared with nn.MaxPool2d."""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from autograder.lessons.activation_maxpool import hints
from autograder.lessons.activation_maxpool.mistakes import LessonMistake
from autograder.lessons.activation_maxpool.catalog import MAXPOOL2D
from autograder.engine.checks.core import Case, Mistake, Verdict, device, generator, run_cases
from autograder.lessons.activation_maxpool.inputs import pooling_image

WHAT = "función maxpool2d"
_OMITTED = object()  # marks a case that leaves `stride` out of the call


def reference(x: torch.Tensor, kernel_size: Any, stride: Any = None) -> torch.Tensor:
    """PyTorch's answer: nn.MaxPool2d(k) when stride is None, nn.MaxPool2d(k, stride=s) otherwise."""
    pool = nn.MaxPool2d(kernel_size) if stride is None else nn.MaxPool2d(kernel_size, stride=stride)
    return pool(x)


def _rand(test_id: str, *shape: int, salt: int = 0, dtype: torch.dtype = torch.float32, negative: bool = False):
    """Fresh non-negative inputs (all-negative when asked), so only the negative family exposes a max started at 0."""

    def make() -> torch.Tensor:
        values = torch.rand(*shape, generator=generator(test_id, salt), dtype=dtype)
        values = -values - 0.1 if negative else values
        return values.to(device())

    return make


def _case(make_x: Callable[[], torch.Tensor], kernel_size: Any, stride: Any = _OMITTED) -> Case:
    kwargs = {} if stride is _OMITTED else {"stride": stride}
    return Case(f"kernel_size={kernel_size!r}", lambda: (make_x(), kernel_size), kwargs)


def _refine(case: Case, args: tuple, got: Any, expected: torch.Tensor, verdict: Verdict) -> Verdict:
    """Name the usual pooling mistakes: stride None ignored, stride ignored, a max started at 0, pairs."""
    x, kernel_size = args[0].detach(), args[1]
    stride = case.kwargs.get("stride")
    if isinstance(got, torch.Tensor) and got.dtype == expected.dtype:
        got = got.detach()
        if stride is None and _same(got, reference(x, kernel_size, 1)):
            return verdict.recognised(LessonMistake.STRIDE_NONE_IGNORED, hints.HINT_STRIDE_NONE)
        if stride is not None and stride != kernel_size:
            if _same(got, reference(x, kernel_size, 1)) or _same(got, reference(x, kernel_size)):
                return verdict.recognised(LessonMistake.STRIDE_IGNORED, hints.HINT_STRIDE_IGNORED)
        if bool((expected < 0).any()) and _same(got, expected.clamp(min=0)):
            return verdict.recognised(LessonMistake.MAX_STARTED_AT_ZERO, hints.HINT_MAX_AT_ZERO)
    if verdict.mistake is Mistake.WRONG_SHAPE and (isinstance(kernel_size, tuple) or isinstance(stride, tuple)):
        return verdict.recognised(Mistake.WRONG_SHAPE, hints.HINT_PAIR)
    if verdict.mistake is Mistake.WRONG_SHAPE and stride is None and isinstance(got, torch.Tensor):
        k = kernel_size if isinstance(kernel_size, int) else kernel_size[0]
        if k > 1 and tuple(got.shape) == tuple(reference(x, kernel_size, 1).shape):
            return verdict.recognised(LessonMistake.STRIDE_NONE_IGNORED, hints.HINT_STRIDE_NONE)
    return verdict


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and bool((a == b).all())


def _run(answer: Any, cases: list[Case], *, require_unmodified: bool = False) -> Verdict:
    return run_cases(
        MAXPOOL2D,
        WHAT,
        "maxpool2d",
        answer,
        cases,
        reference,
        require_unmodified=require_unmodified,
        hint_values=hints.HINT_POOL_VALUES,
        hint_shape=hints.HINT_SHAPE_POOL,
        refine=_refine,
    )


def example_stride1(answer: Any) -> Verdict:
    """The visible test's case, and like it, the input must be left as it was."""
    return _run(answer, [_case(pooling_image, 2, 1)], require_unmodified=True)


def example_default(answer: Any) -> Verdict:
    """The visible test's case, and like it, the input must be left as it was."""
    return _run(answer, [_case(pooling_image, 2)], require_unmodified=True)


def lesson(answer: Any) -> Verdict:
    return _run(answer, [_case(pooling_image, 2, 1), _case(pooling_image, 2), _case(pooling_image, 2, None)])


def stride_none(answer: Any) -> Verdict:
    t = "maxpool2d_stride_none"
    return _run(
        answer,
        [
            _case(_rand(t, 1, 1, 6, 6), 2),
            _case(_rand(t, 2, 2, 9, 9, salt=1), 3, None),
            _case(_rand(t, 1, 3, 8, 8, salt=2), 4),
        ],
    )


def stride(answer: Any) -> Verdict:
    t = "maxpool2d_stride"
    return _run(
        answer,
        [
            _case(_rand(t, 1, 1, 6, 6), 2, 1),
            _case(_rand(t, 1, 2, 7, 7, salt=1), 3, 1),
            _case(_rand(t, 2, 1, 9, 9, salt=2), 3, 2),
            _case(_rand(t, 1, 1, 8, 8, salt=3), 2, 3),
        ],
    )


def batch(answer: Any) -> Verdict:
    t = "maxpool2d_batch"
    return _run(
        answer,
        [
            _case(_rand(t, 4, 3, 6, 6), 2, 2),
            _case(_rand(t, 2, 4, 8, 8, salt=1), 3, 1),
            _case(_rand(t, 3, 5, 5, salt=2), 2, 1),
            _case(_rand(t, 5, 6, 6, salt=3), 3, 3),
        ],
    )


def rect(answer: Any) -> Verdict:
    t = "maxpool2d_rect"
    return _run(
        answer,
        [
            _case(_rand(t, 2, 2, 6, 9), (2, 3), (1, 2)),
            _case(_rand(t, 1, 1, 7, 5, salt=1), (3, 1), (2, 1)),
            _case(_rand(t, 1, 2, 4, 8, salt=2), (1, 2), (1, 2)),
            _case(_rand(t, 2, 1, 6, 6, salt=3), 2, (2, 1)),
        ],
    )


def remainder(answer: Any) -> Verdict:
    t = "maxpool2d_remainder"
    return _run(
        answer,
        [
            _case(_rand(t, 1, 1, 5, 5), 2, 2),
            _case(_rand(t, 2, 3, 7, 6, salt=1), 3, 2),
            _case(_rand(t, 1, 1, 9, 8, salt=2), 2, 3),
        ],
    )


def negative(answer: Any) -> Verdict:
    t = "maxpool2d_negative"
    return _run(
        answer,
        [
            _case(_rand(t, 2, 3, 6, 6, negative=True), 2, 2),
            _case(_rand(t, 1, 1, 5, 5, salt=1, negative=True), 3, 1),
        ],
    )


def dtype(answer: Any) -> Verdict:
    t = "maxpool2d_dtype"
    return _run(
        answer,
        [
            _case(_rand(t, 2, 2, 6, 6, dtype=torch.float64), 2, 2),
            _case(_rand(t, 1, 3, 5, 5, salt=1, dtype=torch.float64), 3, 1),
        ],
    )


def noncontiguous(answer: Any) -> Verdict:
    t = "maxpool2d_noncontiguous"

    def transposed() -> torch.Tensor:
        return _rand(t, 2, 3, 8, 6)().transpose(-1, -2)

    def strided() -> torch.Tensor:
        return _rand(t, 1, 2, 6, 12, salt=1)()[..., ::2]

    def channels_last() -> torch.Tensor:
        return _rand(t, 2, 3, 6, 6, salt=2)().contiguous(memory_format=torch.channels_last)

    return _run(answer, [_case(transposed, 2, 2), _case(strided, 3, 1), _case(channels_last, 2, 2)])


def unmodified(answer: Any) -> Verdict:
    t = "maxpool2d_unmodified"
    return _run(answer, [_case(_rand(t, 2, 3, 6, 6), 2, 2), _case(_rand(t, 1, 1, 4, 4, salt=1), 1, 1)], require_unmodified=True)


FAMILIES = {
    "maxpool2d_example_stride1": example_stride1,
    "maxpool2d_example_default": example_default,
    "maxpool2d_lesson": lesson,
    "maxpool2d_stride_none": stride_none,
    "maxpool2d_stride": stride,
    "maxpool2d_batch": batch,
    "maxpool2d_rect": rect,
    "maxpool2d_remainder": remainder,
    "maxpool2d_negative": negative,
    "maxpool2d_dtype": dtype,
    "maxpool2d_noncontiguous": noncontiguous,
    "maxpool2d_unmodified": unmodified,
}
