"""The graded tests of the assignment: one entry per nbgrader test cell, so names live in one place."""

from __future__ import annotations

import enum
from dataclasses import dataclass

ASSIGNMENT = "activation_maxpool"
from autograder_stub.protocol import RECORD_MIME

# The MIME type under which a test cell's record leaves the kernel (see autograder_stub.runner).
PROBE_MIME = RECORD_MIME


class Part(str, enum.Enum):
    """The three things a student writes; every test belongs to exactly one."""

    KERNEL = "kernel"
    RELU = "relu"
    MAXPOOL2D = "maxpool2d"


class Visibility(str, enum.Enum):
    """When a student may see a test's result (Gradescope's vocabulary)."""

    VISIBLE = "visible"
    AFTER_PUBLISHED = "after_published"
    HIDDEN = "hidden"


@dataclass(frozen=True)
class TestSpec:
    """A graded test cell: its grade_id, the part it scores and its Spanish title."""

    __test__ = False  # not a pytest test class

    grade_id: str
    part: Part
    title: str
    in_release: bool
    # None: the default for where the test lives (see default_visibility); a course may override it.
    visibility: Visibility | None = None

    def __post_init__(self) -> None:
        if self.visibility is None:
            object.__setattr__(self, "visibility", default_visibility(self.in_release))

    @property
    def name(self) -> str:
        """The name shown in results: always starts with the part."""
        return f"{self.part.value}: {self.title}"


def default_visibility(in_release: bool) -> Visibility:
    """A test students have in their notebook is visible; a hidden one shows once grades are published."""
    return Visibility.VISIBLE if in_release else Visibility.AFTER_PUBLISHED


def _visible(grade_id: str, part: Part, title: str) -> TestSpec:
    return TestSpec(grade_id, part, title, in_release=True)


def _hidden(grade_id: str, part: Part, title: str) -> TestSpec:
    return TestSpec(grade_id, part, title, in_release=False)


_K, _R, _M = Part.KERNEL, Part.RELU, Part.MAXPOOL2D

TESTS: tuple[TestSpec, ...] = (
    _visible("kernel_form", _K, "forma (3, 3) y tipo de dato de coma flotante"),
    _hidden("kernel_values", _K, "valores del núcleo de Sobel horizontal"),
    _hidden("kernel_lesson", _K, "mapa de activación de la lección (línea vertical)"),
    _hidden("kernel_images", _K, "efecto sobre imágenes aleatorias"),
    _visible("relu_example", _R, "ejemplo pequeño y mapa de activación de la lección"),
    _hidden("relu_lesson", _R, "ReLU(Z) de la lección comparada con torch.relu"),
    _hidden("relu_batch", _R, "lotes aleatorios (N > 1), varios canales y otras formas"),
    _hidden("relu_dtype", _R, "conserva el tipo de dato (float64)"),
    _hidden("relu_noncontiguous", _R, "entradas no contiguas"),
    _hidden("relu_unmodified", _R, "no modifica la entrada y devuelve un tensor nuevo"),
    _visible("maxpool2d_example_stride1", _M, "ejemplo de la lección con paso 1"),
    _visible("maxpool2d_example_default", _M, "ejemplo de la lección con paso None"),
    _hidden("maxpool2d_lesson", _M, "casos de la lección comparados con nn.MaxPool2d"),
    _hidden("maxpool2d_stride_none", _M, "paso None igual al tamaño del núcleo"),
    _hidden("maxpool2d_stride", _M, "pasos enteros distintos del tamaño del núcleo"),
    _hidden("maxpool2d_batch", _M, "lotes (N > 1), varios canales y entradas (C, H, W)"),
    _hidden("maxpool2d_rect", _M, "núcleos no cuadrados y pasos en pareja"),
    _hidden("maxpool2d_remainder", _M, "tamaños que no son múltiplos del paso"),
    _hidden("maxpool2d_negative", _M, "entradas todas negativas"),
    _hidden("maxpool2d_dtype", _M, "conserva el tipo de dato (float64)"),
    _hidden("maxpool2d_noncontiguous", _M, "entradas no contiguas"),
    _hidden("maxpool2d_unmodified", _M, "no modifica la entrada"),
)

BY_GRADE_ID: dict[str, TestSpec] = {spec.grade_id: spec for spec in TESTS}

# The nbgrader solution cells (answer cells), one per part.
ANSWER_CELLS: dict[str, Part] = {
    "kernel_gx": Part.KERNEL,
    "relu_impl": Part.RELU,
    "maxpool2d_impl": Part.MAXPOOL2D,
}


# The name each part's answer has in the student's notebook, and the parts whose answer is a value, not a function.
ANSWER_NAMES: dict[Part, str] = {Part.KERNEL: "Gx", Part.RELU: "relu", Part.MAXPOOL2D: "maxpool2d"}
VALUE_PARTS: frozenset[Part] = frozenset({Part.KERNEL})

# The operators that *are* what a part teaches, by their dispatcher names: every public spelling
# (torch.relu, F.relu, nn.ReLU, Tensor.relu_, F.threshold, F.leaky_relu(z, 0), F.elu(z, 0), fused
# add/conv/linear + relu, mkldnn and quantized kernels, torch.max_pool2d, F.max_pool2d, nn.MaxPool2d,
# return_indices=True, 1-D/3-D, adaptive, fractional…) ends in one of these. A grading kernel refuses
# them all (autograder_stub.guard); tests/test_tracing.py checks that this torch has no other.
FORBIDDEN_OPS: dict[Part, frozenset[str]] = {
    Part.KERNEL: frozenset(),
    Part.RELU: frozenset(
        {
            "_quantized::conv2d_relu", "_quantized::conv3d_relu", "aten::_add_relu", "aten::_add_relu_",
            "aten::_prelu_kernel", "aten::_prelu_kernel_backward", "aten::celu", "aten::celu_",
            "aten::cudnn_convolution_add_relu", "aten::cudnn_convolution_relu", "aten::elu", "aten::elu_",
            "aten::elu_backward", "aten::leaky_relu", "aten::leaky_relu_", "aten::leaky_relu_backward",
            "aten::miopen_convolution_add_relu", "aten::miopen_convolution_relu", "aten::prelu",
            "aten::quantized_rnn_relu_cell", "aten::relu", "aten::relu6", "aten::relu6_", "aten::relu_",
            "aten::rnn_relu", "aten::rnn_relu_cell", "aten::rrelu", "aten::rrelu_", "aten::rrelu_with_noise",
            "aten::rrelu_with_noise_", "aten::rrelu_with_noise_backward", "aten::rrelu_with_noise_functional",
            "aten::threshold", "aten::threshold_", "aten::threshold_backward", "onednn::linear_relu_dynamic_fp16",
            "onednn::qadd_relu", "quantized::add_relu", "quantized::add_relu_out", "quantized::add_scalar_relu",
            "quantized::add_scalar_relu_out", "quantized::batch_norm1d_relu", "quantized::batch_norm2d_relu",
            "quantized::batch_norm3d_relu", "quantized::batch_norm_relu", "quantized::cat_relu",
            "quantized::cat_relu_out", "quantized::celu", "quantized::conv1d_relu", "quantized::conv2d_add_relu",
            "quantized::conv2d_relu", "quantized::conv3d_relu", "quantized::elu", "quantized::leaky_relu",
            "quantized::linear_leaky_relu", "quantized::linear_relu", "quantized::linear_relu_dynamic",
            "quantized::linear_relu_dynamic_fp16", "quantized::linear_with_input_q_dq_qweight_dq_relu_output_fp32",
            "quantized::mul_relu", "quantized::mul_relu_out", "quantized::mul_scalar_relu",
            "quantized::mul_scalar_relu_out", "quantized::prelu", "quantized::quantized_rnn_relu_cell_dynamic",
            "quantized::relu6", "quantized::threshold", "sparse::qlinear_relu", "sparse::qlinear_relu_dynamic",
            # fused kernels whose "attr" may be "relu"
            "mkldnn::_convolution_pointwise", "mkldnn::_convolution_pointwise_",
            "mkldnn::_convolution_transpose_pointwise", "mkldnn::_linear_pointwise", "onednn::qconv1d_pointwise",
            "onednn::qconv2d_pointwise", "onednn::qconv3d_pointwise", "onednn::qconv_pointwise",
            "onednn::qlinear_pointwise",
        }
    ),
    Part.MAXPOOL2D: frozenset(
        {
            "aten::adaptive_max_pool1d", "aten::adaptive_max_pool2d", "aten::adaptive_max_pool2d_backward",
            "aten::adaptive_max_pool3d", "aten::adaptive_max_pool3d_backward", "aten::fractional_max_pool2d",
            "aten::fractional_max_pool2d_backward", "aten::fractional_max_pool3d",
            "aten::fractional_max_pool3d_backward", "aten::max_pool1d", "aten::max_pool1d_with_indices",
            "aten::max_pool2d", "aten::max_pool2d_backward", "aten::max_pool2d_with_indices",
            "aten::max_pool2d_with_indices_backward", "aten::max_pool3d", "aten::max_pool3d_with_indices",
            "aten::max_pool3d_with_indices_backward", "aten::mkldnn_max_pool2d", "aten::mkldnn_max_pool2d_backward",
            "aten::mkldnn_max_pool3d", "aten::mkldnn_max_pool3d_backward", "aten::quantized_max_pool1d",
            "aten::quantized_max_pool2d", "aten::quantized_max_pool3d", "quantized::max_pool1d",
            "quantized::max_pool2d",
        }
    ),
}


def blocked_operators() -> list[str]:
    """Every operator a grading kernel refuses: those of all parts (a part's answer never needs another's)."""
    return sorted(set().union(*FORBIDDEN_OPS.values()))


def spec_for(grade_id: str) -> TestSpec:
    """The test registered under grade_id; a KeyError names the unknown id."""
    try:
        return BY_GRADE_ID[grade_id]
    except KeyError:
        raise KeyError(f"unknown test grade_id: {grade_id!r}") from None
