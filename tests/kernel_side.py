"""One test's conversation with a kernel, run in this process: the grader's request, the stub's record, the verdict."""

from __future__ import annotations

import json
from typing import Any

from autograder_stub import runner

from activation import ANSWER_NAMES, LESSON, spec_for
from autograder.engine.checks import Verdict, plan, verdict_from_record

SECRET = b"tests-secret".ljust(32, b".")


def through_json(data: Any) -> Any:
    return json.loads(json.dumps(data))


def converse(grade_id: str, answer: Any, secret: bytes = SECRET) -> tuple[dict, dict]:
    """The request for grade_id and the record the stub makes of `answer` (as the kernel's namespace holds it)."""
    request = plan(LESSON, grade_id, secret)
    name = ANSWER_NAMES[spec_for(grade_id).part]
    record = runner.answer(through_json(request), {name: answer})
    return request, through_json(record)


def judge(grade_id: str, record: Any, request: dict, secret: bytes = SECRET) -> Verdict:
    return verdict_from_record(LESSON, grade_id, record, request, secret)


def graded(grade_id: str, answer: Any) -> Verdict:
    request, record = converse(grade_id, answer)
    return judge(grade_id, record, request)
