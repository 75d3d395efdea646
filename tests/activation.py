"""The shipped lesson, activation_maxpool, under the names the tests use (its parts, tests and assignment)."""

from autograder.engine.lesson import TestSpec, Visibility  # noqa: F401
from autograder.lessons.activation_maxpool import LESSON
from autograder.lessons.activation_maxpool.catalog import KERNEL, MAXPOOL2D, PARTS, RELU, TESTS  # noqa: F401
from autograder_stub.protocol import RECORD_MIME as PROBE_MIME  # noqa: F401

ASSIGNMENT = "activation_maxpool"
BY_GRADE_ID = LESSON.by_grade_id
ANSWER_CELLS = LESSON.answer_cells
FORBIDDEN_OPS = {part: part.forbidden_ops for part in PARTS}


def blocked_operators() -> list[str]:
    return LESSON.blocked_operators()


def spec_for(grade_id: str) -> TestSpec:
    return LESSON.spec(grade_id)
ANSWER_NAMES = {part: part.answer for part in PARTS}
VALUE_PARTS = frozenset(part for part in PARTS if part.is_value)
