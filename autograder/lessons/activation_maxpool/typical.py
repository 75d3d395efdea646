"""The lesson's catalogue of typical mistakes: what its families diagnose, the hint each gets, the sample that makes it.

Names are those verdicts carry, so feedback, results and the cohort report agree; no torch here.
"""

from __future__ import annotations

import enum

from autograder.engine import messages as msg
from autograder.engine.lesson import TypicalMistake
from autograder.engine.mistakes import Mistake
from autograder.lessons.activation_maxpool import hints
from autograder.lessons.activation_maxpool.catalog import KERNEL, MAXPOOL2D, RELU
from autograder.lessons.activation_maxpool.mistakes import LessonMistake as L

_K, _R, _M = KERNEL.name, RELU.name, MAXPOOL2D.name


def _entry(name: enum.Enum, part: str, hint: str, sample: str, description: str) -> TypicalMistake:
    return TypicalMistake(str(getattr(name, "value", name)), part, hint, sample, description)


CATALOGUE: tuple[TypicalMistake, ...] = (
    _entry(L.KERNEL_SIGN, _K, hints.HINT_KERNEL_SIGN, "wrong_kernel_sign",
           "Gx with every sign flipped"),
    _entry(L.KERNEL_TRANSPOSED, _K, hints.HINT_KERNEL_TRANSPOSED, "kernel_transposed",
           "Gx transposed: the vertical Sobel kernel Gy"),
    _entry(L.KERNEL_INTEGERS, _K, hints.HINT_KERNEL_INTEGERS, "kernel_integers",
           "Gx written with integers (`torch.tensor([[1, 0, -1], ...])` is int64)"),
    _entry(L.LEAKY_RELU, _R, hints.HINT_LEAKY, "leaky_relu",
           "a leaky ReLU: negatives scaled instead of set to 0"),
    _entry(L.MAX_WITH_DIM, _R, hints.HINT_MAX_WITH_DIM, "relu_torch_max",
           "`torch.max(z, 0)`: reduces dimension 0 and returns (values, indices)"),
    _entry(L.TENSOR_AS_BOOL, _R, hints.HINT_TENSOR_AS_BOOL, "relu_python_max",
           "Python's `max(z, 0)` or `if z > 0` on a whole tensor"),
    _entry(Mistake.WRONG_DTYPE, _R, msg.HINT_DTYPE_DEFAULT, "relu_float32_output",
           "float32 result for a float64 input (a new tensor made without dtype)"),
    _entry(Mistake.INPUT_MODIFIED, _R, msg.HINT_MODIFIED, "inplace_relu",
           "the input changed in place (`z[z < 0] = 0`, `z.clamp_(min=0)`)"),
    _entry(Mistake.REFERENCE_OP, _R, msg.HINT_REFERENCE_OP, "calls_torch_relu",
           "the taught operation called (`torch.relu`, `F.relu`, `nn.ReLU`…)"),
    _entry(L.OUTPUT_OFF_BY_ONE, _M, hints.HINT_OFF_BY_ONE, "maxpool_off_by_one",
           "output one window short: `(H - kh) // sh` without `+ 1`, or `range(0, H - kh, sh)`"),
    _entry(L.STRIDE_NONE_IGNORED, _M, hints.HINT_STRIDE_NONE, "stride1_when_none",
           "`stride=None` taken as 1 instead of kernel_size"),
    _entry(L.STRIDE_IGNORED, _M, hints.HINT_STRIDE_IGNORED, "maxpool_stride_ignored",
           "a given stride ignored (kernel_size or 1 used instead)"),
    _entry(L.MAX_STARTED_AT_ZERO, _M, hints.HINT_MAX_AT_ZERO, "max_started_at_zero",
           "the running max started at 0: wrong on all-negative windows"),
    _entry(L.CHW_INPUT_UNHANDLED, _M, hints.HINT_CHW, "maxpool_4d_only",
           "only (N, C, H, W) works: a (C, H, W) input fails (`N, C, H, W = x.shape`)"),
    _entry(L.PAIR_UNHANDLED, _M, hints.HINT_PAIR, "maxpool_int_kernel_only",
           "kernel_size or stride as a pair (kh, kw) not handled"),
    _entry(L.MAX_OVER_BATCH, _M, hints.HINT_MAX_OVER_BATCH, "maxpool_max_over_batch",
           "each window's max taken over all images and channels (`window.max()`)"),
    _entry(L.MAX_WITH_DIM, _M, hints.HINT_MAX_WITH_DIM, "maxpool_max_with_dim",
           "`x.max(dim)` returned as it is: (values, indices)"),
    _entry(Mistake.WRONG_DTYPE, _M, msg.HINT_DTYPE_DEFAULT, "maxpool_float32_output",
           "float32 result for a float64 input (`torch.zeros(...)` without dtype)"),
    _entry(Mistake.REFERENCE_OP, _M, msg.HINT_REFERENCE_OP, "calls_nn_maxpool",
           "the taught operation called (`nn.MaxPool2d`, `F.max_pool2d`…)"),
)
