"""The engine's mistake vocabulary, without torch: what a failing test got wrong, named for feedback and reports.

A lesson adds its own recognised causes (its `mistakes`); reports read both by name.
"""

from __future__ import annotations

import enum


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

# Short English labels for instructors' reports.
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
