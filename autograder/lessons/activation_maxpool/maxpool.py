"""Test families for the student's maxpool2d(x, kernel_size, stride=None), compared with nn.MaxPool2d."""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from autograder.lessons.activation_maxpool import hints
from autograder.lessons.activation_maxpool.mistakes import LessonMistake
from autograder.lessons.activation_maxpool.catalog import MAXPOOL2D
from autograder.engine.checks.core import Case, Diagnosis, Trial, Verdict, device, generator, run_cases
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


def _case(make_x: Callable[[], torch.Tensor], kernel_size: Any, stride: Any = _OMITTED, *, scored: bool = True) -> Case:
    kwargs = {} if stride is _OMITTED else {"stride": stride}
    return Case(f"kernel_size={kernel_size!r}", lambda: (make_x(), kernel_size), kwargs, scored=scored)


# -- recognising the usual pooling mistakes from every case of a test -----------------------


def _pair(value: Any) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _parts(trial: Trial) -> tuple[torch.Tensor, Any, Any]:
    """The input, kernel_size and stride (None when left out) of a case."""
    return trial.args[0].detach(), trial.args[1], trial.case.kwargs.get("stride")


def _same(got: Any, expected: torch.Tensor) -> bool:
    return (
        isinstance(got, torch.Tensor)
        and got.shape == expected.shape
        and got.dtype == expected.dtype
        and bool((got.detach() == expected).all())
    )


def _matches_any(trial: Trial, mimics: list[torch.Tensor]) -> bool:
    return any(_same(trial.result, mimic) for mimic in mimics)


def _all_differ(trial: Trial, mimics: list[torch.Tensor]) -> bool:
    return bool(mimics) and not any(_same(mimic, trial.expected) for mimic in mimics)


def _stride_none_mimics(trial: Trial) -> list[torch.Tensor]:
    """Stride None taken as 1."""
    x, k, stride = _parts(trial)
    return [reference(x, k, 1)] if stride is None else []


def _stride_none_unhandled(trial: Trial) -> bool:
    """Stride None taken as 1 (e.g. a default of stride=1), or an explicit None that raised."""
    if "stride" in trial.case.kwargs and trial.case.kwargs["stride"] is None and trial.outcome.error is not None:
        return True
    return _matches_any(trial, _stride_none_mimics(trial))


def _stride_ignored_mimics(trial: Trial) -> list[torch.Tensor]:
    """A given stride replaced by kernel_size, or by 1."""
    x, k, stride = _parts(trial)
    if stride is None or _pair(stride) == _pair(k):
        return []
    return [reference(x, k), reference(x, k, 1)]


def _off_by_one_mimics(trial: Trial) -> list[torch.Tensor]:
    """The right windows, but one position short: (H - kh) // sh without the + 1, or range(0, H - kh, sh)."""
    x, k, stride = _parts(trial)
    (kh, kw), (sh, sw) = _pair(k), _pair(k if stride is None else stride)
    (h, w), expected = x.shape[-2:], trial.expected
    mimics = []
    for rows, cols in (((h - kh) // sh, (w - kw) // sw), (-(-(h - kh) // sh), -(-(w - kw) // sw))):
        if (rows, cols) != tuple(expected.shape[-2:]) and rows >= 0 and cols >= 0:
            mimics.append(expected[..., :rows, :cols])
    return mimics


def _started_at_zero_mimics(trial: Trial) -> list[torch.Tensor]:
    return [trial.expected.clamp(min=0)]


def _over_batch_mimics(trial: Trial) -> list[torch.Tensor]:
    """Each window's max taken over every image and channel too."""
    expected = trial.expected
    leading = tuple(range(expected.dim() - 2))
    if not leading:
        return []
    return [expected.amax(dim=leading, keepdim=True).expand_as(expected)]


def _by_mimics(make: Callable[[Trial], list[torch.Tensor]]) -> tuple[Callable[[Trial], bool], Callable[[Trial], bool]]:
    """explains/would_fail for a mistake that gives a result we can compute: the case got it; it differs from the reference."""
    return (lambda trial: _matches_any(trial, make(trial))), (lambda trial: _all_differ(trial, make(trial)))


def _max_with_dim(trial: Trial) -> bool:
    """x.max(dim) or torch.max(x, dim): a (values, indices) pair instead of a tensor."""
    got = trial.result
    return isinstance(got, tuple) and len(got) == 2 and all(isinstance(item, torch.Tensor) for item in got)


def _three_d(trial: Trial) -> bool:
    return trial.args[0].dim() == 3


def _chw_unhandled(trial: Trial) -> bool:
    """A (C, H, W) input that failed in any way (with every 4-D case passing: see would_fail)."""
    return _three_d(trial)


def _pair_unhandled(trial: Trial) -> bool:
    """A pair kernel_size or stride that raised, or of which only the first number was used."""
    x, k, stride = _parts(trial)
    if not isinstance(k, tuple) and not isinstance(stride, tuple):
        return False
    first_k = _pair(k)[0]
    first_s = first_k if stride is None else _pair(stride)[0]
    return trial.outcome.error is not None or _same(trial.result, reference(x, first_k, first_s))


DIAGNOSES = (
    Diagnosis(LessonMistake.MAX_WITH_DIM, hints.HINT_MAX_WITH_DIM, _max_with_dim),
    Diagnosis(LessonMistake.CHW_INPUT_UNHANDLED, hints.HINT_CHW, _chw_unhandled, _three_d),
    Diagnosis(LessonMistake.PAIR_UNHANDLED, hints.HINT_PAIR, _pair_unhandled),
    Diagnosis(LessonMistake.OUTPUT_OFF_BY_ONE, hints.HINT_OFF_BY_ONE, *_by_mimics(_off_by_one_mimics)),
    Diagnosis(
        LessonMistake.STRIDE_NONE_IGNORED,
        hints.HINT_STRIDE_NONE,
        _stride_none_unhandled,
        _by_mimics(_stride_none_mimics)[1],
    ),
    Diagnosis(LessonMistake.STRIDE_IGNORED, hints.HINT_STRIDE_IGNORED, *_by_mimics(_stride_ignored_mimics)),
    Diagnosis(LessonMistake.MAX_STARTED_AT_ZERO, hints.HINT_MAX_AT_ZERO, *_by_mimics(_started_at_zero_mimics)),
    Diagnosis(LessonMistake.MAX_OVER_BATCH, hints.HINT_MAX_OVER_BATCH, *_by_mimics(_over_batch_mimics)),
)


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
        diagnoses=DIAGNOSES,
    )


def example_stride1(answer: Any) -> Verdict:
    """The visible test's case, and like it, the input must be left as it was.

    The stride-None call is evidence only (never scored): on this image a result one window short
    and a result with the stride ignored look alike, and that call tells them apart.
    """
    return _run(answer, [_case(pooling_image, 2, 1), _case(pooling_image, 2, scored=False)], require_unmodified=True)


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
