"""The lesson's parts and graded tests: one entry per nbgrader test cell, so names live in one place."""

from __future__ import annotations

from autograder.engine.lesson import Part, TestSpec, hidden, visible

# The operators that *are* what a part teaches, by their dispatcher names: every public spelling
# (torch.relu, F.relu, nn.ReLU, Tensor.relu_, F.threshold, F.leaky_relu(z, 0), F.elu(z, 0), fused
# add/conv/linear + relu, mkldnn and quantized kernels, torch.max_pool2d, F.max_pool2d, nn.MaxPool2d,
# return_indices=True, 1-D/3-D, adaptive, fractional…) ends in one of these. A grading kernel refuses
# them all (autograder_stub.guard); tests/test_tracing.py checks that this torch has no other.
RELU_OPS: frozenset[str] = frozenset(
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
)
MAXPOOL_OPS: frozenset[str] = frozenset(
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
)

KERNEL = Part("kernel", answer="Gx", answer_cell="kernel_gx", is_value=True)
RELU = Part(
    "relu",
    answer="relu",
    answer_cell="relu_impl",
    forbidden_ops=RELU_OPS,
    spellings="torch.relu, F.relu, nn.ReLU, Tensor.relu o sus variantes in situ",
)
MAXPOOL2D = Part(
    "maxpool2d",
    answer="maxpool2d",
    answer_cell="maxpool2d_impl",
    forbidden_ops=MAXPOOL_OPS,
    spellings="torch.max_pool2d, F.max_pool2d, nn.MaxPool2d o sus variantes",
)
PARTS: tuple[Part, ...] = (KERNEL, RELU, MAXPOOL2D)

_K, _R, _M = KERNEL, RELU, MAXPOOL2D

TESTS: tuple[TestSpec, ...] = (
    visible("kernel_form", _K, "forma (3, 3) y tipo de dato de coma flotante"),
    visible("kernel_values", _K, "valores del núcleo de Sobel horizontal"),
    hidden("kernel_lesson", _K, "mapa de activación de la lección (línea vertical)"),
    hidden("kernel_images", _K, "efecto sobre imágenes aleatorias"),
    visible("relu_example", _R, "ejemplo pequeño y mapa de activación de la lección"),
    hidden("relu_lesson", _R, "ReLU(Z) de la lección comparada con torch.relu"),
    hidden("relu_batch", _R, "lotes aleatorios (N > 1), varios canales y otras formas"),
    hidden("relu_dtype", _R, "conserva el tipo de dato (float64)"),
    hidden("relu_noncontiguous", _R, "entradas no contiguas"),
    hidden("relu_unmodified", _R, "no modifica la entrada y devuelve un tensor nuevo"),
    visible("maxpool2d_example_stride1", _M, "ejemplo de la lección con paso 1"),
    visible("maxpool2d_example_default", _M, "ejemplo de la lección con paso None"),
    hidden("maxpool2d_lesson", _M, "casos de la lección comparados con nn.MaxPool2d"),
    hidden("maxpool2d_stride_none", _M, "paso None igual al tamaño del núcleo"),
    hidden("maxpool2d_stride", _M, "pasos enteros distintos del tamaño del núcleo"),
    hidden("maxpool2d_batch", _M, "lotes (N > 1), varios canales y entradas (C, H, W)"),
    hidden("maxpool2d_rect", _M, "núcleos no cuadrados y pasos en pareja"),
    hidden("maxpool2d_remainder", _M, "tamaños que no son múltiplos del paso"),
    hidden("maxpool2d_negative", _M, "entradas todas negativas"),
    hidden("maxpool2d_dtype", _M, "conserva el tipo de dato (float64)"),
    hidden("maxpool2d_noncontiguous", _M, "entradas no contiguas"),
    hidden("maxpool2d_unmodified", _M, "no modifica la entrada"),
)

