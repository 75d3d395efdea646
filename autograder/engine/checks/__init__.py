"""The test families behind every graded cell, looked up in the lesson by the cell's grade_id; they run only in the grader's process.

Grading a test cell is a conversation with the kernel: `plan` turns the family into a request (the
inputs, drawn from the grading's secret), the kernel's stub answers it with a record of what the
student's function did, and `verdict_from_record` replays that record through the same family,
which computes PyTorch's references here and compares. `check` is the local form, for a notebook
run in the instructor's own Jupyter: the answer is called in this very process.
"""

from __future__ import annotations

import secrets
from typing import Any

from autograder_stub.protocol import CALL_CPU_SECONDS, CALL_WALL_SECONDS, KIND_CALLS, KIND_VALUE, VERSION

from autograder.engine import messages as msg
from autograder.engine.checks import probe
from autograder.engine.checks.core import TestFailure, Verdict, device, inputs_secret
from autograder.engine.lesson import Lesson
from autograder.engine.mistakes import Mistake


def evaluate(lesson: Lesson, grade_id: str, answer: Any) -> Verdict:
    """Run the family registered under grade_id against the student's answer."""
    lesson.spec(grade_id)  # unknown ids fail loudly, before any student code runs
    return lesson.families[grade_id](answer)


def plan(lesson: Lesson, grade_id: str, secret: bytes) -> dict[str, Any]:
    """The request for one test cell: what to send back (a value) or which calls to make, with a fresh id."""
    part = lesson.spec(grade_id).part
    request: dict[str, Any] = {
        "version": VERSION, "request": secrets.token_hex(16), "test": grade_id, "name": part.answer,
    }
    if part.is_value:
        return {**request, "kind": KIND_VALUE}
    with inputs_secret(secret), probe.plan_calls() as calls:
        lesson.families[grade_id](probe.Planned())
    return {
        **request,
        "kind": KIND_CALLS,
        "calls": [probe.encode_call(args, kwargs) for args, kwargs in calls],
        "cpu_s": CALL_CPU_SECONDS,
        "wall_s": CALL_WALL_SECONDS,
    }


def answers(record: Any, request: dict[str, Any]) -> bool:
    """Whether a record is the kernel's answer to this request (anything else counts for nothing)."""
    return (
        isinstance(record, dict)
        and record.get("version") == VERSION
        and record.get("request") == request.get("request")
        and record.get("name") == request.get("name")
    )


def verdict_from_record(lesson: Lesson, grade_id: str, record: Any, request: dict[str, Any], secret: bytes) -> Verdict:
    """The verdict for the kernel's record of a request: inputs rebuilt from the secret, references computed here."""
    if request.get("test") != grade_id or not answers(record, request):
        return Verdict.fail(Mistake.NOT_EVALUATED, msg.NOT_EVALUATED)
    answer = probe.answer_from_record(record, device())
    part = lesson.spec(grade_id).part
    if isinstance(answer, probe.Missing):
        return Verdict.fail(Mistake.NOT_DEFINED, msg.NOT_DEFINED.format(what=f"«{part.answer}»"))
    with inputs_secret(secret):
        return evaluate(lesson, grade_id, answer)


def check(lesson: Lesson, grade_id: str, answer: Any) -> None:
    """In a test cell run outside grading (the instructor's Jupyter): pass silently or raise TestFailure with the feedback."""
    verdict = evaluate(lesson, grade_id, answer)
    if not verdict.passed:
        raise TestFailure.from_verdict(lesson.spec(grade_id), verdict)


__all__ = ["Mistake", "TestFailure", "Verdict", "answers", "check", "evaluate", "plan", "verdict_from_record"]
