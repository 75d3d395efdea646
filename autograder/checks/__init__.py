"""The test families behind every graded cell, looked up by the cell's grade_id."""

from __future__ import annotations

from typing import Any, Callable

from ..catalog import spec_for
from . import kernel, maxpool, relu
from .core import Mistake, TestFailure, Verdict

FAMILIES: dict[str, Callable[[Any], Verdict]] = {**kernel.FAMILIES, **relu.FAMILIES, **maxpool.FAMILIES}


def evaluate(grade_id: str, answer: Any) -> Verdict:
    """Run the family registered under grade_id against the student's answer."""
    spec_for(grade_id)  # unknown ids fail loudly, before any student code runs
    return FAMILIES[grade_id](answer)


def check(grade_id: str, answer: Any) -> None:
    """Pass silently, or raise TestFailure whose message is the student's Spanish feedback."""
    verdict = evaluate(grade_id, answer)
    if not verdict.passed:
        raise TestFailure.from_verdict(spec_for(grade_id), verdict)


__all__ = ["FAMILIES", "Mistake", "TestFailure", "Verdict", "check", "evaluate"]
