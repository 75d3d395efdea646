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
    KERNEL_INTEGERS = "kernel_integers"
    OUTPUT_OFF_BY_ONE = "output_off_by_one"
    MAX_WITH_DIM = "max_with_dim"
    CHW_INPUT_UNHANDLED = "chw_input_unhandled"
    PAIR_UNHANDLED = "pair_unhandled"
    MAX_OVER_BATCH = "max_over_batch"
    TENSOR_AS_BOOL = "tensor_as_bool"


# Short labels for instructors' reports: English here, Spanish in LABELS_ES below (one entry per name in each).
LABELS: dict[str, str] = {
    LessonMistake.STRIDE_NONE_IGNORED.value: "stride None not treated as kernel_size",
    LessonMistake.STRIDE_IGNORED.value: "stride ignored",
    LessonMistake.MAX_STARTED_AT_ZERO.value: "max started at 0",
    LessonMistake.LEAKY_RELU.value: "leaky ReLU",
    LessonMistake.KERNEL_SIGN.value: "wrong kernel sign",
    LessonMistake.KERNEL_TRANSPOSED.value: "kernel transposed",
    LessonMistake.KERNEL_INTEGERS.value: "kernel of integers",
    LessonMistake.OUTPUT_OFF_BY_ONE.value: "output size off by one",
    LessonMistake.MAX_WITH_DIM.value: "torch.max with a dim (values, indices)",
    LessonMistake.CHW_INPUT_UNHANDLED.value: "(C, H, W) input not handled",
    LessonMistake.PAIR_UNHANDLED.value: "pair kernel_size/stride not handled",
    LessonMistake.MAX_OVER_BATCH.value: "max taken over images and channels",
    LessonMistake.TENSOR_AS_BOOL.value: "tensor used as one truth value",
}

LABELS_ES: dict[str, str] = {
    LessonMistake.STRIDE_NONE_IGNORED.value: "stride None no tomado como kernel_size",
    LessonMistake.STRIDE_IGNORED.value: "ignoró el stride",
    LessonMistake.MAX_STARTED_AT_ZERO.value: "el máximo empezó en 0",
    LessonMistake.LEAKY_RELU.value: "ReLU con fuga (leaky ReLU)",
    LessonMistake.KERNEL_SIGN.value: "signo del núcleo invertido",
    LessonMistake.KERNEL_TRANSPOSED.value: "núcleo traspuesto",
    LessonMistake.KERNEL_INTEGERS.value: "núcleo de números enteros",
    LessonMistake.OUTPUT_OFF_BY_ONE.value: "tamaño de salida con uno de menos",
    LessonMistake.MAX_WITH_DIM.value: "torch.max con dimensión (valores, índices)",
    LessonMistake.CHW_INPUT_UNHANDLED.value: "entrada (C, H, W) sin tratar",
    LessonMistake.PAIR_UNHANDLED.value: "kernel_size/stride en pareja sin tratar",
    LessonMistake.MAX_OVER_BATCH.value: "máximo sobre imágenes y canales",
    LessonMistake.TENSOR_AS_BOOL.value: "tensor usado como un solo valor de verdad",
}
