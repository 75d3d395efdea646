"""The causes this lesson's families recognise, beyond the engine's generic mistakes (no torch here: reports read it)."""

from __future__ import annotations

import enum


class LessonMistake(str, enum.Enum):
    """A failing case explained more precisely than "wrong values" or "wrong shape"."""

    STRIDE_NONE_IGNORED = "stride_none_ignored"
    STRIDE_IGNORED = "stride_ignored"
    MAX_STARTED_AT_ZERO = "max_started_at_zero"
    LEAKY_RELU = "leaky_relu"
    KERNEL_SIGN = "kernel_sign"
    KERNEL_TRANSPOSED = "kernel_transposed"


# Short labels for instructors' reports: English here, Spanish in LABELS_ES below (one entry per name in each).
LABELS: dict[str, str] = {
    LessonMistake.STRIDE_NONE_IGNORED.value: "stride None not treated as kernel_size",
    LessonMistake.STRIDE_IGNORED.value: "stride ignored",
    LessonMistake.MAX_STARTED_AT_ZERO.value: "max started at 0",
    LessonMistake.LEAKY_RELU.value: "leaky ReLU",
    LessonMistake.KERNEL_SIGN.value: "wrong kernel sign",
    LessonMistake.KERNEL_TRANSPOSED.value: "kernel transposed",
}

LABELS_ES: dict[str, str] = {
    LessonMistake.STRIDE_NONE_IGNORED.value: "stride None no tomado como kernel_size",
    LessonMistake.STRIDE_IGNORED.value: "ignoró el stride",
    LessonMistake.MAX_STARTED_AT_ZERO.value: "el máximo empezó en 0",
    LessonMistake.LEAKY_RELU.value: "ReLU con fuga (leaky ReLU)",
    LessonMistake.KERNEL_SIGN.value: "signo del núcleo invertido",
    LessonMistake.KERNEL_TRANSPOSED.value: "núcleo traspuesto",
}
