"""Test families for the student's Sobel kernel Gx: its form, its values and its effect on images."""

from __future__ import annotations

from typing import Any

import torch

from autograder.engine import messages as msg
from autograder.lessons.activation_maxpool import hints
from autograder.lessons.activation_maxpool.mistakes import LessonMistake
from autograder.engine.checks.core import Mistake, Verdict, compare, describe, device, dtype_name, generator, kind_name
from autograder.lessons.activation_maxpool.inputs import convolve, sobel_x, vertical_line_image

WHAT = "el núcleo Gx"


def _as_kernel(answer: Any) -> torch.Tensor | Verdict:
    """The answer as a (3, 3) tensor when it holds nine numbers, else a failing verdict."""
    if answer is None:
        return _not_answered()
    try:
        kernel = torch.as_tensor(answer, device=device())
    except (TypeError, ValueError, RuntimeError):  # torch's reason names its own internals: the kind says enough
        return Verdict.fail(Mistake.NOT_TENSOR, msg.NOT_TENSOR.format(kind=kind_name(answer)), hint=hints.HINT_KERNEL_FORM)
    if kernel.is_complex():
        return Verdict.fail(
            Mistake.WRONG_DTYPE,
            msg.WRONG_DTYPE_OF.format(got=dtype_name(kernel.dtype), expected="float32"),
            msg.GOT.format(what=describe(kernel)),
            hint=hints.HINT_KERNEL_FORM,
        )
    if kernel.numel() != 9:
        return Verdict.fail(
            Mistake.WRONG_SHAPE,
            msg.WRONG_SHAPE,
            msg.EXPECTED.format(what=describe(sobel_x())),
            msg.GOT.format(what=describe(kernel)),
            hint=hints.HINT_KERNEL_FORM,
        )
    return kernel.detach().reshape(3, 3)


def _numeric(kernel: torch.Tensor) -> torch.Tensor:
    """The kernel's values in float64, for recognising mistakes whatever its dtype."""
    return kernel.to(torch.float64)


def _refine(kernel: torch.Tensor, verdict: Verdict) -> Verdict:
    """Recognise the two classic slips: the sign flipped and the kernel transposed (Gy)."""
    true, kernel = sobel_x(torch.float64), _numeric(kernel)
    if torch.equal(kernel, -true):
        return verdict.recognised(LessonMistake.KERNEL_SIGN, hints.HINT_KERNEL_SIGN)
    if torch.equal(kernel, true.T) or torch.equal(kernel, -true.T):
        return verdict.recognised(LessonMistake.KERNEL_TRANSPOSED, hints.HINT_KERNEL_TRANSPOSED)
    return verdict.recognised(verdict.mistake, _structure_hint(kernel)) if verdict.mistake is Mistake.WRONG_VALUES else verdict


def _structure_hint(kernel: torch.Tensor) -> str:
    """Which property of a horizontal Sobel kernel this one lacks, in the order the statement builds it."""
    if bool((kernel[:, 1] != 0).any()):
        return hints.HINT_KERNEL_MIDDLE
    if not torch.equal(kernel[:, 0], -kernel[:, 2]):
        return hints.HINT_KERNEL_MIRROR
    if not (kernel[0, 0] == kernel[2, 0] and kernel[1, 0] == 2 * kernel[0, 0]):
        return hints.HINT_KERNEL_ROWS
    return hints.HINT_KERNEL_SCALE


def _not_answered() -> Verdict:
    """The release's placeholder (`Gx = None`) still in place: unanswered, not a wrong tensor."""
    return Verdict.fail(Mistake.NOT_IMPLEMENTED, hints.KERNEL_NOT_ANSWERED, hint=hints.HINT_KERNEL_FORM)


def form(answer: Any) -> Verdict:
    if answer is None:
        return _not_answered()
    got = msg.GOT.format(what=describe(answer))
    if not isinstance(answer, torch.Tensor):
        return Verdict.fail(Mistake.NOT_TENSOR, msg.NOT_TENSOR.format(kind=kind_name(answer)), got, hint=hints.HINT_KERNEL_FORM)
    if tuple(answer.shape) != (3, 3):
        return Verdict.fail(Mistake.WRONG_SHAPE, msg.WRONG_SHAPE, got, hint=hints.HINT_KERNEL_FORM)
    if not answer.is_floating_point():
        wrong = msg.WRONG_DTYPE_OF.format(got=dtype_name(answer.dtype), expected="float32 (o float64)")
        if answer.dtype != torch.bool and not answer.is_complex():
            return Verdict.fail(LessonMistake.KERNEL_INTEGERS, wrong, got, hint=hints.HINT_KERNEL_INTEGERS)
        return Verdict.fail(Mistake.WRONG_DTYPE, wrong, got, hint=hints.HINT_KERNEL_FORM)
    return Verdict.ok()


def values(answer: Any) -> Verdict:
    kernel = _as_kernel(answer)
    if isinstance(kernel, Verdict):
        return kernel
    # Compared in the student's own dtype, so messages name it (an integer kernel with the right values passes here).
    dtype = kernel.dtype if kernel.dtype != torch.bool else torch.float64
    expected = sobel_x(torch.float64).to(dtype)
    verdict = compare(kernel.to(dtype), expected, "Gx", hint_values=hints.HINT_KERNEL_VALUES, reveal=False)
    return verdict if verdict.passed else _refine(kernel, verdict)


def _effect(answer: Any, images: torch.Tensor, call: str) -> Verdict:
    kernel = _as_kernel(answer)
    if isinstance(kernel, Verdict):
        return kernel
    expected = convolve(images, sobel_x())
    got = convolve(images, kernel)
    verdict = compare(got, expected, call, exact=False, hint_values=hints.HINT_KERNEL_VALUES)
    return verdict if verdict.passed else _refine(kernel, verdict)


def lesson(answer: Any) -> Verdict:
    return _effect(answer, vertical_line_image(), "conv(image) con la imagen de la línea vertical de la lección")


def images(answer: Any) -> Verdict:
    noise = torch.randn(3, 1, 8, 8, generator=generator("kernel_images")).to(device())
    edge = torch.zeros(1, 1, 8, 8, device=device())
    edge[..., 4:] = 1.0  # a vertical edge: Gx must respond to it
    stripes = torch.zeros(1, 1, 8, 8, device=device())
    stripes[..., 4:, :] = 1.0  # a horizontal edge: Gx must ignore it
    return _effect(answer, torch.cat([noise, edge, stripes]), "conv(imágenes) con 3 imágenes aleatorias y 2 bordes")


FAMILIES = {
    "kernel_form": form,
    "kernel_values": values,
    "kernel_lesson": lesson,
    "kernel_images": images,
}
