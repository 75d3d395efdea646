"""The grader's side of a test's conversation with the kernel: plan the calls, then replay the kernel's outcomes.

A test family runs twice in the grader's process, never in the kernel. First in *planning* mode:
every case builds its inputs (from the grading's secret) and the calls are collected into the
request the kernel's stub receives (autograder_stub.runner). Then, with the kernel's record, the
same family runs again against a `Replay`: each call of the student's function is answered with the
outcome the kernel recorded for that very input, and the family compares it with the reference it
computes here. Values travel as JSON (autograder_stub.codec), never pickle.
"""

from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch

from autograder_stub.codec import MAX_NUMEL, MAX_TEXT, Opaque, decode_value, encode_value
from autograder_stub.protocol import CALL_CPU_SECONDS, CALL_WALL_SECONDS
from autograder_stub.runner import CallTimeout
from autograder_stub.runner import time_limit as stub_time_limit

__all__ = ["MAX_NUMEL", "CallTimeout", "Opaque", "decode_value", "encode_value"]

# CPU seconds one call of the student's function may take inside a test (the kernel's stub enforces it).
CALL_TIMEOUT = CALL_CPU_SECONDS
MAX_OPS = 20

_planned: contextvars.ContextVar[list[tuple[tuple[Any, ...], dict[str, Any]]] | None] = contextvars.ContextVar(
    "planned", default=None
)


class ReplayedError(Exception):
    """Stands for the exception the student's function raised in the kernel: name, message, the student's line."""

    def __init__(self, name: str, message: str, where: str = "") -> None:
        self.name = name
        self.where = where
        super().__init__(message)


class ReplayedNotImplemented(NotImplementedError):
    """Stands for a NotImplementedError raised in the kernel (the untouched template)."""


class ProbeMissing(Exception):
    """The record holds fewer calls than the test makes: the kernel's stub did not finish."""


class Missing:
    """The answer's name was not defined in the kernel when the test ran."""


class Planned:
    """Stands for the student's function while a family's calls are being planned (it is never called)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise ProbeMissing()


# -- planning -------------------------------------------------------------------------------


def planning() -> bool:
    """True while a family runs only to collect the calls it will make."""
    return _planned.get() is not None


@contextlib.contextmanager
def plan_calls() -> Iterator[list[tuple[tuple[Any, ...], dict[str, Any]]]]:
    """Collect the (args, kwargs) of every call a family would make inside this block."""
    calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    token = _planned.set(calls)
    try:
        yield calls
    finally:
        _planned.reset(token)


def note_planned(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    calls = _planned.get()
    if calls is not None:
        calls.append((args, dict(kwargs)))


def encode_call(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """One planned call as the kernel receives it: inputs with their exact strides."""
    return {
        "args": [encode_value(arg, layout=True) for arg in args],
        "kwargs": {key: encode_value(value, layout=True) for key, value in kwargs.items()},
    }


# -- a local call (the answer runs in this process: an instructor's check, unit tests) ---------


def time_limit(seconds: float = CALL_TIMEOUT) -> contextlib.AbstractContextManager[None]:
    """The stub's own limit for a local call: CallTimeout after `seconds` of CPU time (or the wall-clock backstop)."""
    return stub_time_limit(seconds, CALL_WALL_SECONDS)


# -- replaying the kernel's record ------------------------------------------------------------


@dataclass
class CallReplay:
    """One recorded call, ready to be played back."""

    result: Any = None
    error: BaseException | None = None
    forbidden_ops: list[str] = field(default_factory=list)
    shares_input: bool = False


class Replay:
    """Plays a recorded function back: the same family code calls it and gets the kernel's outcomes, in order."""

    def __init__(self, calls: list[dict[str, Any]], device: torch.device) -> None:
        self.calls = list(calls) if isinstance(calls, list) else []
        self.device = device
        self.position = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:  # only reached outside call_student
        raise ProbeMissing()

    def replay(self, args: tuple[Any, ...]) -> CallReplay:
        """The next recorded outcome; the inputs are set to what the kernel saw after its call."""
        if self.position >= len(self.calls) or not isinstance(self.calls[self.position], dict):
            return CallReplay(error=ProbeMissing())
        call = self.calls[self.position]
        self.position += 1
        self._restore_inputs(args, call.get("args_after"))
        ops = [str(op)[:80] for op in call.get("ops", []) if isinstance(op, str)][:MAX_OPS]
        error = call.get("error")
        if isinstance(error, dict):
            blocked = error.get("blocked")
            if isinstance(blocked, str) and blocked[:80] not in ops:
                ops.append(blocked[:80])
            return CallReplay(error=_decode_error(error), forbidden_ops=ops)
        result = decode_value(call.get("result"), self.device)
        return CallReplay(result=result, forbidden_ops=ops, shares_input=bool(call.get("shares_input")))

    def _restore_inputs(self, args: tuple[Any, ...], after: Any) -> None:
        if not isinstance(after, list):
            return
        for arg, data in zip(args, after):
            if not isinstance(arg, torch.Tensor) or data is None:
                continue
            seen = decode_value(data, self.device)
            if isinstance(seen, torch.Tensor) and seen.shape == arg.shape and seen.device == arg.device:
                with torch.no_grad():
                    arg.copy_(seen.to(arg.dtype))


def _decode_error(error: dict[str, Any]) -> BaseException:
    if error.get("timeout"):
        return CallTimeout()
    name, message = str(error.get("type", "Exception"))[:80], str(error.get("message", ""))[:MAX_TEXT]
    if error.get("not_implemented"):
        return ReplayedNotImplemented(message)
    return ReplayedError(name, message, str(error.get("where", ""))[:200])


def answer_from_record(record: dict[str, Any], device: torch.device) -> Any:
    """The answer a family is evaluated against: a Replay of the calls, the decoded value, or Missing."""
    answer = record.get("answer")
    if isinstance(answer, dict) and answer.get("kind") == "callable":
        return Replay(record.get("calls", []), device)
    if isinstance(answer, dict) and answer.get("kind") == "missing":
        return Missing()
    return decode_value(answer, device)
