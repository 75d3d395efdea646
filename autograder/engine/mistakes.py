"""The engine's mistake vocabulary, without torch: what a failing test got wrong, named for feedback and reports.

A lesson adds its own recognised causes (its `mistakes`, with `mistakes_es`); reports read both by name, with the
labels of the teacher's language (autograder.engine.language).
"""

from __future__ import annotations

import enum

from autograder.engine.language import Language


class Mistake(str, enum.Enum):
    """The generic mistakes any family can report; a lesson refines them with names of its own."""

    NOT_DEFINED = "not_defined"
    NOT_IMPLEMENTED = "not_implemented"
    NOT_CALLABLE = "not_callable"
    RAISED = "raised"
    REFERENCE_OP = "reference_op"
    NOT_TENSOR = "not_tensor"
    WRONG_SHAPE = "wrong_shape"
    WRONG_DTYPE = "wrong_dtype"
    WRONG_DEVICE = "wrong_device"
    WRONG_VALUES = "wrong_values"
    INPUT_MODIFIED = "input_modified"
    SHARES_INPUT = "shares_input"
    TIMEOUT = "timeout"
    NOT_EVALUATED = "not_evaluated"


# Names that are not a family's: a kernel fault decided by Verify, a notebook that could not be graded,
# and a failing test whose result names no mistake (results written before mistakes were recorded).
FAULT = "fault"
UNGRADABLE = "ungradable"
UNNAMED = "unnamed"
# A test whose points went to nbgrader's late-submission penalty (it had passed).
LATE_SUBMISSION = "late_submission"

# Short labels for instructors' reports: English here, Spanish in LABELS_ES (one entry per name in each).
LABELS: dict[str, str] = {
    Mistake.NOT_DEFINED: "not defined",
    Mistake.NOT_IMPLEMENTED: "not implemented",
    Mistake.NOT_CALLABLE: "not a function",
    Mistake.RAISED: "raised an exception",
    Mistake.REFERENCE_OP: "taught operation called",
    Mistake.NOT_TENSOR: "did not return a tensor",
    Mistake.WRONG_SHAPE: "wrong shape",
    Mistake.WRONG_DTYPE: "wrong dtype",
    Mistake.WRONG_DEVICE: "wrong device",
    Mistake.WRONG_VALUES: "wrong values",
    Mistake.INPUT_MODIFIED: "input modified",
    Mistake.SHARES_INPUT: "result shares the input's memory",
    Mistake.TIMEOUT: "call timed out",
    Mistake.NOT_EVALUATED: "not evaluated",
    FAULT: "kernel fault (crash/timeout)",
    UNGRADABLE: "ungradable",
    UNNAMED: "failed (no mistake named)",
    LATE_SUBMISSION: "points lost to the late penalty",
}
LABELS = {str(getattr(key, "value", key)): label for key, label in LABELS.items()}

LABELS_ES: dict[str, str] = {
    Mistake.NOT_DEFINED.value: "sin definir",
    Mistake.NOT_IMPLEMENTED.value: "sin implementar",
    Mistake.NOT_CALLABLE.value: "no es una función",
    Mistake.RAISED.value: "lanzó una excepción",
    Mistake.REFERENCE_OP.value: "usó la operación enseñada",
    Mistake.NOT_TENSOR.value: "no devolvió un tensor",
    Mistake.WRONG_SHAPE.value: "forma incorrecta",
    Mistake.WRONG_DTYPE.value: "tipo de dato incorrecto",
    Mistake.WRONG_DEVICE.value: "dispositivo incorrecto",
    Mistake.WRONG_VALUES.value: "valores incorrectos",
    Mistake.INPUT_MODIFIED.value: "modificó la entrada",
    Mistake.SHARES_INPUT.value: "el resultado comparte memoria con la entrada",
    Mistake.TIMEOUT.value: "la llamada excedió el tiempo",
    Mistake.NOT_EVALUATED.value: "no evaluada",
    FAULT: "fallo del núcleo (caída o tiempo excedido)",
    UNGRADABLE: "sin calificar",
    UNNAMED: "no superada (sin error identificado)",
    LATE_SUBMISSION: "puntos perdidos por entrega tardía",
}


def labels(language: Language) -> dict[str, str]:
    """The engine's labels in `language` (a name without a label there keeps its English one)."""
    return LABELS if language is Language.EN else {**LABELS, **LABELS_ES}
