"""The graded tests of the assignment: one entry per nbgrader test cell, so names live in one place."""

from __future__ import annotations

import enum
from dataclasses import dataclass

ASSIGNMENT = "activation_maxpool"
# The MIME type under which a test cell's probe record leaves the kernel (see checks/probe.py).
PROBE_MIME = "application/vnd.autograder.probe+json"


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


def spec_for(grade_id: str) -> TestSpec:
    """The test registered under grade_id; a KeyError names the unknown id."""
    try:
        return BY_GRADE_ID[grade_id]
    except KeyError:
        raise KeyError(f"unknown test grade_id: {grade_id!r}") from None
