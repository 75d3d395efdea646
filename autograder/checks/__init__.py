"""The test families behind every graded cell, looked up by the cell's grade_id.

In a grading kernel, `check` only records what the student's answer does (see probe.py) and
shows a local verdict; the verdict that counts is `verdict_from_record`, run by the grader
in its own process.
"""

from __future__ import annotations

from typing import Any, Callable

from ..catalog import spec_for
from . import kernel, maxpool, probe, relu
from .core import Mistake, TestFailure, Verdict, device

FAMILIES: dict[str, Callable[[Any], Verdict]] = {**kernel.FAMILIES, **relu.FAMILIES, **maxpool.FAMILIES}


def evaluate(grade_id: str, answer: Any) -> Verdict:
    """Run the family registered under grade_id against the student's answer."""
    spec_for(grade_id)  # unknown ids fail loudly, before any student code runs
    return FAMILIES[grade_id](answer)


def record(grade_id: str, answer: Any) -> dict[str, Any]:
    """Run the family in probe mode: call the answer on every case and return the record, as JSON-ready data."""
    spec_for(grade_id)
    with probe.recording() as calls:
        FAMILIES[grade_id](answer)
    return probe.build_record(grade_id, answer, calls)


def verdict_from_record(grade_id: str, data: dict[str, Any]) -> Verdict:
    """The verdict for a record that came out of a kernel: references and comparisons computed here."""
    if not isinstance(data, dict) or data.get("grade_id") != grade_id or data.get("version") != probe.RECORD_VERSION:
        return Verdict.fail(Mistake.NOT_EVALUATED, "El registro de la prueba no corresponde a esta celda.")
    return evaluate(grade_id, probe.answer_from_record(data, device()))


def check(grade_id: str, answer: Any) -> None:
    """In a test cell: publish the record for the grader, then pass silently or raise TestFailure with the feedback."""
    data = record(grade_id, answer)
    _publish(data)
    verdict = verdict_from_record(grade_id, data)
    if not verdict.passed:
        raise TestFailure.from_verdict(spec_for(grade_id), verdict)


def _publish(data: dict[str, Any]) -> None:
    """Send the record to the grader as a display output of this cell (nothing is shown to the student)."""
    try:
        from IPython.core.interactiveshell import InteractiveShell
        from IPython.display import display
    except ImportError:  # outside IPython there is no grader listening
        return
    if InteractiveShell.initialized():  # an empty text/plain: front-ends show nothing instead of "no renderer"
        display({probe.PROBE_MIME: data, "text/plain": ""}, raw=True)


__all__ = ["FAMILIES", "Mistake", "TestFailure", "Verdict", "check", "evaluate", "record", "verdict_from_record"]
