"""The test families behind every graded cell, looked up by the cell's grade_id; they run only in the grader's process.

Grading a test cell is a conversation with the kernel: `plan` turns the family into a request (the
inputs, drawn from the grading's secret), the kernel's stub answers it with a record of what the
student's function did, and `verdict_from_record` replays that record through the same family,
which computes PyTorch's references here and compares. `check` is the local form, for a notebook
run in the instructor's own Jupyter: the answer is called in this very process.
"""

from __future__ import annotations

import secrets
from typing import Any, Callable

from autograder_stub.protocol import CALL_CPU_SECONDS, CALL_WALL_SECONDS, KIND_CALLS, KIND_VALUE, VERSION

from .. import messages as msg
from ..catalog import ANSWER_NAMES, VALUE_PARTS, spec_for
from . import kernel, maxpool, probe, relu
from .core import Mistake, TestFailure, Verdict, device, inputs_secret

FAMILIES: dict[str, Callable[[Any], Verdict]] = {**kernel.FAMILIES, **relu.FAMILIES, **maxpool.FAMILIES}


def evaluate(grade_id: str, answer: Any) -> Verdict:
    """Run the family registered under grade_id against the student's answer."""
    spec_for(grade_id)  # unknown ids fail loudly, before any student code runs
    return FAMILIES[grade_id](answer)


def plan(grade_id: str, secret: bytes) -> dict[str, Any]:
    """The request for one test cell: what to send back (a value) or which calls to make, with a fresh id."""
    part = spec_for(grade_id).part
    request: dict[str, Any] = {
        "version": VERSION, "request": secrets.token_hex(16), "test": grade_id, "name": ANSWER_NAMES[part],
    }
    if part in VALUE_PARTS:
        return {**request, "kind": KIND_VALUE}
    with inputs_secret(secret), probe.plan_calls() as calls:
        FAMILIES[grade_id](probe.Planned())
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


def verdict_from_record(grade_id: str, record: Any, request: dict[str, Any], secret: bytes) -> Verdict:
    """The verdict for the kernel's record of a request: inputs rebuilt from the secret, references computed here."""
    if request.get("test") != grade_id or not answers(record, request):
        return Verdict.fail(Mistake.NOT_EVALUATED, msg.NOT_EVALUATED)
    answer = probe.answer_from_record(record, device())
    part = spec_for(grade_id).part
    if isinstance(answer, probe.Missing):
        return Verdict.fail(Mistake.NOT_DEFINED, msg.NOT_DEFINED.format(what=f"«{ANSWER_NAMES[part]}»"))
    with inputs_secret(secret):
        return evaluate(grade_id, answer)


def check(grade_id: str, answer: Any) -> None:
    """In a test cell run outside grading (the instructor's Jupyter): pass silently or raise TestFailure with the feedback."""
    verdict = evaluate(grade_id, answer)
    if not verdict.passed:
        raise TestFailure.from_verdict(spec_for(grade_id), verdict)


__all__ = [
    "FAMILIES", "Mistake", "TestFailure", "Verdict", "answers", "check", "evaluate", "plan", "verdict_from_record",
]
