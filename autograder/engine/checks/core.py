"""Run one student answer against PyTorch's reference and turn the comparison into a verdict."""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import enum
import hashlib
import hmac
import io
import os
import warnings
import zlib
from typing import Iterator
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch

from autograder.engine import messages as msg
from autograder.engine.lesson import Part, TestSpec
from autograder.engine.mistakes import Mistake
from autograder.engine.tracing import OpTrace, prime
from autograder.engine.checks import probe

# Small tensors are printed in full in messages; larger ones only by shape.
SMALL_NUMEL = 36


@dataclass(frozen=True)
class Verdict:
    """The outcome of one test family: passed, or the first failing case explained."""

    passed: bool
    mistake: enum.Enum | None = None  # a Mistake, or a lesson's own (str enums, compared by value)
    details: tuple[str, ...] = ()
    hint: str = ""

    @classmethod
    def ok(cls) -> "Verdict":
        return cls(True)

    @classmethod
    def fail(cls, mistake: enum.Enum, *details: str, hint: str = "") -> "Verdict":
        return cls(False, mistake, tuple(line for line in details if line), hint)

    def recognised(self, mistake: enum.Enum, hint: str) -> "Verdict":
        """The same failure, named more precisely and with the hint for that mistake."""
        return dataclasses.replace(self, mistake=mistake, hint=hint)

    def lines(self) -> list[str]:
        """The explanation, hint last."""
        return [*self.details, *([msg.HINT.format(text=self.hint)] if self.hint else [])]


class TestFailure(AssertionError):
    """Raised in a graded test cell when the answer fails; its text is the student's feedback."""

    __test__ = False  # not a pytest test class

    def __init__(self, spec: TestSpec, verdict: Verdict) -> None:
        self.spec = spec
        self.verdict = verdict
        super().__init__(self.render())

    @classmethod
    def from_verdict(cls, spec: TestSpec, verdict: Verdict) -> "TestFailure":
        return cls(spec, verdict)

    def render(self) -> str:
        lines = [msg.FAILED.format(name=self.spec.name), *self.verdict.lines()]
        return "\n".join(lines)


@dataclass(frozen=True)
class Case:
    """One call to try: `make()` builds fresh inputs every time, so strides and values are exact."""

    label: str
    make: Callable[[], tuple[Any, ...]]
    kwargs: dict[str, Any] = field(default_factory=dict)


def device() -> torch.device:
    """Where test inputs live: CPU unless AUTOGRADER_DEVICE names another (e.g. cuda)."""
    return torch.device(os.environ.get("AUTOGRADER_DEVICE", "cpu"))


_SECRET: contextvars.ContextVar[bytes | None] = contextvars.ContextVar("inputs_secret", default=None)


@contextlib.contextmanager
def inputs_secret(secret: bytes | None) -> Iterator[None]:
    """Draw the random test inputs inside this block from `secret` (a grading's own; never sent to the kernel)."""
    token = _SECRET.set(secret)
    try:
        yield
    finally:
        _SECRET.reset(token)


def generator(test_id: str, salt: int = 0) -> torch.Generator:
    """A CPU generator for one case's inputs: seeded from the grading's secret, or from the test's id alone outside a grading."""
    secret = _SECRET.get()
    if secret is None:
        return torch.Generator().manual_seed(zlib.crc32(test_id.encode()) + salt)
    digest = hmac.new(secret, f"{test_id}/{salt}".encode(), hashlib.sha256).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "big") & (2**63 - 1))


def describe(value: Any) -> str:
    """A short Spanish description of a value; small tensors include their values."""
    if not isinstance(value, torch.Tensor):
        return f"{type(value).__name__} {value!r}"[:300]
    text = msg.TENSOR.format(shape=tuple(value.shape), dtype=str(value.dtype).replace("torch.", ""))
    if value.device.type != "cpu":
        text = msg.TENSOR_ON.format(
            shape=tuple(value.shape), dtype=str(value.dtype).replace("torch.", ""), device=value.device
        )
    if value.numel() <= SMALL_NUMEL and value.device.type != "meta":
        values = repr(value.detach().cpu().tolist())
        text += f"\n    {values}"
    return text


def describe_call(func: str, args: Sequence[Any], kwargs: dict[str, Any]) -> str:
    """How the student's function was called, with tensors summarised."""
    parts = []
    for arg in args:
        parts.append(f"<{describe(arg).splitlines()[0]}>" if isinstance(arg, torch.Tensor) else repr(arg))
    parts.extend(f"{key}={value!r}" for key, value in kwargs.items())
    text = msg.CALL.format(func=func, args=", ".join(parts))
    tensors = [a for a in args if isinstance(a, torch.Tensor) and a.numel() <= SMALL_NUMEL]
    for tensor in tensors:
        text += f"\n    entrada = {tensor.detach().cpu().tolist()!r}"
    return text


class _Discard(io.TextIOBase):
    """Discards what student code prints during a check, so it can't reach stderr and zero a cell."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        return len(text)


@dataclass
class CallOutcome:
    """What happened when the student's callable ran: its result or its exception, and the ops it used."""

    result: Any = None
    error: BaseException | None = None
    forbidden_ops: list[str] = field(default_factory=list)
    shares_input: bool | None = None  # known from a record; None: ask the tensors themselves


def call_student(part: Part, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> CallOutcome:
    """Call the answer quietly, tracing the ATen ops it runs (a local call); a Replay plays back what the kernel recorded."""
    if isinstance(fn, probe.Replay):
        played = fn.replay(args)
        return CallOutcome(played.result, played.error, played.forbidden_ops, played.shares_input)
    outcome = CallOutcome()
    prime()  # the tracer's one-time imports, never inside the student's timed call
    sink = _Discard()
    with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        warnings.simplefilter("ignore")
        try:
            with OpTrace() as trace, probe.time_limit():
                outcome.result = fn(*args, **kwargs)
        except (Exception, probe.CallTimeout) as error:  # the student's own failure, reported back to them
            outcome.error = error
        outcome.forbidden_ops = trace.forbidden(part)
    return outcome


def _allowed_names(part: Part, ops: Sequence[str]) -> list[str]:
    """The operator names to show: those of this part, whatever else a record claims."""
    named = [op for op in ops if op in part.forbidden_ops]
    return named or [str(op)[:80] for op in ops[:3]]


def check_callable(part: Part, what: str, fn: Any) -> Verdict | None:
    """A failing verdict when the answer is not a function at all."""
    if not callable(fn):
        return Verdict.fail(Mistake.NOT_CALLABLE, msg.NOT_CALLABLE.format(what=what, kind=type(fn).__name__))
    return None


def outcome_failure(part: Part, what: str, call: str, outcome: CallOutcome) -> Verdict | None:
    """A failing verdict for an exception or a forbidden op; None when the call itself was fine."""
    if outcome.forbidden_ops:
        return Verdict.fail(
            Mistake.REFERENCE_OP,
            msg.REFERENCE_OP.format(
                what=what, ops=", ".join(_allowed_names(part, outcome.forbidden_ops)), spellings=part.spellings
            ),
            msg.TRIED.format(what=call),
        )
    if isinstance(outcome.error, NotImplementedError):
        return Verdict.fail(Mistake.NOT_IMPLEMENTED, msg.NOT_IMPLEMENTED.format(what=what), msg.TRIED.format(what=call))
    if isinstance(outcome.error, probe.CallTimeout):
        return Verdict.fail(
            Mistake.TIMEOUT, msg.CALL_TIMEOUT.format(what=what, seconds=probe.CALL_TIMEOUT), msg.TRIED.format(what=call)
        )
    if isinstance(outcome.error, probe.ProbeMissing):
        return Verdict.fail(Mistake.NOT_EVALUATED, msg.PROBE_INCOMPLETE.format(what=what), msg.TRIED.format(what=call))
    if outcome.error is not None:
        name = outcome.error.name if isinstance(outcome.error, probe.ReplayedError) else type(outcome.error).__name__
        error = f"{name}: {outcome.error}"
        if name == "MemoryError" or any(sign in str(outcome.error) for sign in msg.MEMORY_SIGNS):
            return Verdict.fail(Mistake.RAISED, msg.OUT_OF_MEMORY.format(what=what, error=error[:300]), msg.TRIED.format(what=call))
        where = outcome.error.where if isinstance(outcome.error, probe.ReplayedError) else ""
        return Verdict.fail(
            Mistake.RAISED,
            msg.RAISED.format(what=what, error=error[:500]),
            msg.RAISED_AT.format(where=where) if where else "",
            msg.TRIED.format(what=call),
        )
    return None


def compare(
    got: Any,
    expected: torch.Tensor,
    call: str,
    *,
    exact: bool = True,
    hint_values: str = "",
    hint_shape: str = "",
) -> Verdict:
    """Compare a result with the reference: type, then shape, dtype, device and values, in that order."""
    tried = msg.TRIED.format(what=call)
    want = msg.EXPECTED.format(what=describe(expected))
    if not isinstance(got, torch.Tensor):
        return Verdict.fail(Mistake.NOT_TENSOR, msg.NOT_TENSOR.format(kind=type(got).__name__), tried, want)
    have = msg.GOT.format(what=describe(got))
    if tuple(got.shape) != tuple(expected.shape):
        hint = msg.HINT_SHAPE_FLAT if got.numel() == expected.numel() else hint_shape
        return Verdict.fail(Mistake.WRONG_SHAPE, msg.WRONG_SHAPE, tried, want, have, hint=hint)
    if got.dtype != expected.dtype:
        return Verdict.fail(Mistake.WRONG_DTYPE, msg.WRONG_DTYPE, tried, want, have, hint=msg.HINT_DTYPE)
    if got.device != expected.device:
        return Verdict.fail(Mistake.WRONG_DEVICE, msg.WRONG_DEVICE, tried, want, have)
    same = _equal_mask(got.detach(), expected, exact)
    if not bool(same.all()):
        count = int((~same).sum())
        return Verdict.fail(
            Mistake.WRONG_VALUES,
            msg.WRONG_VALUES.format(count=count, total=same.numel()),
            tried,
            want,
            have,
            _differences(got.detach(), expected, same),
            hint=hint_values,
        )
    return Verdict.ok()


def _differences(got: torch.Tensor, expected: torch.Tensor, same: torch.Tensor, limit: int = 6) -> str:
    """The first positions where the values differ, each with the expected and the obtained value."""
    wrong = (~same).nonzero().tolist()
    items = [
        msg.DIFFERENT_ITEM.format(index=tuple(i), expected=_number(expected[tuple(i)]), got=_number(got[tuple(i)]))
        for i in wrong[:limit]
    ]
    more = msg.DIFFERENT_MORE.format(count=len(wrong) - limit) if len(wrong) > limit else ""
    return msg.DIFFERENT_AT.format(items="; ".join(items)) + more


def _number(value: torch.Tensor) -> str:
    number = value.item()
    return f"{number:g}" if isinstance(number, float) else str(number)


def _equal_mask(got: torch.Tensor, expected: torch.Tensor, exact: bool) -> torch.Tensor:
    """Elementwise agreement; NaN agrees with NaN, as PyTorch's own operators propagate it."""
    both_nan = torch.isnan(got) & torch.isnan(expected)
    if exact:
        return (got == expected) | both_nan
    return torch.isclose(got, expected, rtol=1e-5, atol=1e-6) | both_nan


def shares_memory(a: torch.Tensor, b: torch.Tensor) -> bool:
    """True when two tensors use the same storage (the result is the input or a view of it)."""
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()



Refine = Callable[[Case, tuple[Any, ...], Any, torch.Tensor, Verdict], Verdict]


def run_cases(
    part: Part,
    what: str,
    func_name: str,
    fn: Any,
    cases: Sequence[Case],
    reference: Callable[..., torch.Tensor],
    *,
    require_unmodified: bool = False,
    exact: bool = True,
    hint_values: str = "",
    hint_shape: str = "",
    refine: Refine | None = None,
) -> Verdict:
    """Call the student's function on every case and compare with the reference, stopping at the first failure."""
    not_callable = check_callable(part, what, fn)
    if not_callable is not None:
        return not_callable
    if probe.planning():
        for case in cases:
            probe.note_planned(case.make(), case.kwargs)
        return Verdict.ok()
    for case in cases:
        expected = reference(*case.make(), **case.kwargs)
        args = case.make()
        before = case.make() if require_unmodified else ()
        call = describe_call(func_name, args, case.kwargs)
        outcome = call_student(part, fn, args, case.kwargs)
        failure = outcome_failure(part, what, call, outcome)
        if failure is not None:
            return failure
        verdict = compare(outcome.result, expected, call, exact=exact, hint_values=hint_values, hint_shape=hint_shape)
        if not verdict.passed:
            return refine(case, args, outcome.result, expected, verdict) if refine else verdict
        if require_unmodified:
            verdict = _unmodified(args, before, outcome, call)
            if not verdict.passed:
                return verdict
    return Verdict.ok()


def _unmodified(args: tuple[Any, ...], before: tuple[Any, ...], outcome: CallOutcome, call: str) -> Verdict:
    """The inputs still hold their original values and the result is a tensor of its own."""
    tried = msg.TRIED.format(what=call)
    for arg, original in zip(args, before):
        if isinstance(arg, torch.Tensor) and not torch.equal(arg.detach(), original.detach()):
            return Verdict.fail(
                Mistake.INPUT_MODIFIED,
                msg.INPUT_MODIFIED,
                tried,
                msg.EXPECTED.format(what="la entrada sin cambios:\n    " + describe(original)),
                msg.GOT.format(what="la entrada después de la llamada:\n    " + describe(arg)),
                hint=msg.HINT_MODIFIED,
            )
    first = args[0] if args else None
    shares = outcome.shares_input
    if shares is None:
        shares = isinstance(first, torch.Tensor) and shares_memory(outcome.result, first)
    if shares:
        return Verdict.fail(Mistake.SHARES_INPUT, msg.SHARES_INPUT, tried, hint=msg.HINT_MODIFIED)
    return Verdict.ok()
