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
from autograder_stub.protocol import public_op_name

# The checks' own torch work is a few tiny tensors: one thread, as in the kernels (the sandbox sets
# OMP_NUM_THREADS=1). With a thread per core, every pooling call woke a second thread that the other,
# busy core could not run at once: Verify took 0.052 s a submission in a 2-worker batch, 0.018 s with one.
torch.set_num_threads(1)

# Small tensors are printed in full in messages; larger ones only by shape.
SMALL_NUMEL = 36
# Significant digits of a number shown to a student: what a person reads, not float32's noise.
SHOWN_DIGITS = 4


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
    # False: evidence for a diagnosis only (a call that tells two mistakes apart); it never fails the test.
    scored: bool = True


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


def shown(value: Any) -> str:
    """A number, or nested lists of numbers, as a person reads them: floats to SHOWN_DIGITS significant digits."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, float):
        text = f"{value:.{SHOWN_DIGITS}g}"
        return text if any(c in text for c in ".ein") else f"{text}.0"  # a float still reads as one: 1.0, not 1
    if isinstance(value, (list, tuple)):
        inner = ", ".join(shown(item) for item in value)
        return f"({inner}{',' if len(value) == 1 else ''})" if isinstance(value, tuple) else f"[{inner}]"
    return repr(value)


def dtype_name(dtype: torch.dtype) -> str:
    """A dtype as the student writes it after `torch.`: float32, int64."""
    return str(dtype).replace("torch.", "")


def kind_name(value: Any) -> str:
    """The kind of a non-tensor value in the student's words: its own type's name, never the grader's stand-ins."""
    if isinstance(value, tuple):
        return msg.KIND_TUPLE.format(count=len(value))
    if isinstance(value, list):
        return msg.KIND_LIST.format(count=len(value))
    return msg.KIND_OBJECT.format(kind=value.type_name if isinstance(value, probe.Opaque) else type(value).__name__)


def describe(value: Any) -> str:
    """A short Spanish description of a value; small tensors include their values (rounded)."""
    if isinstance(value, tuple) and value and all(isinstance(item, torch.Tensor) for item in value):
        return kind_name(value) + ": " + "; ".join(describe(item).splitlines()[0] for item in value)
    if not isinstance(value, torch.Tensor):
        text = shown(value) if isinstance(value, (int, float, list, tuple)) else repr(value)
        return f"{kind_name(value)}: {text}"[:300]
    text = msg.TENSOR.format(shape=tuple(value.shape), dtype=dtype_name(value.dtype))
    if value.device.type != "cpu":
        text = msg.TENSOR_ON.format(shape=tuple(value.shape), dtype=dtype_name(value.dtype), device=value.device)
    if value.numel() <= SMALL_NUMEL and value.device.type != "meta":
        text += f"\n    {shown(value.detach().cpu().tolist())}"
    return text


def describe_call(func: str, args: Sequence[Any], kwargs: dict[str, Any]) -> str:
    """How the student's function was called, with tensors summarised and numbers rounded."""
    parts = []
    for arg in args:
        parts.append(f"<{describe(arg).splitlines()[0]}>" if isinstance(arg, torch.Tensor) else shown(arg))
    parts.extend(f"{key}={shown(value)}" for key, value in kwargs.items())
    text = msg.CALL.format(func=func, args=", ".join(parts))
    tensors = [a for a in args if isinstance(a, torch.Tensor) and a.numel() <= SMALL_NUMEL]
    for tensor in tensors:
        text += f"\n    entrada = {shown(tensor.detach().cpu().tolist())}"
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
    """The operators to show, as students spell them: those of this part, whatever else a record claims."""
    named = [op for op in ops if op in part.forbidden_ops] or [str(op)[:80] for op in ops[:3]]
    return list(dict.fromkeys(public_op_name(op) for op in named))


def check_callable(part: Part, what: str, fn: Any) -> Verdict | None:
    """A failing verdict when the answer is not a function at all."""
    if not callable(fn):
        return Verdict.fail(Mistake.NOT_CALLABLE, msg.NOT_CALLABLE.format(what=what, kind=kind_name(fn)))
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
            hint=msg.HINT_REFERENCE_OP,
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
    reveal: bool = True,
) -> Verdict:
    """Compare a result with the reference: type, then shape, dtype, device and values, in that order.

    reveal=False keeps the expected values out of the message (where they are the answer itself).
    """
    tried = msg.TRIED.format(what=call)
    want = msg.EXPECTED.format(what=describe(expected) if reveal else describe(expected).splitlines()[0])
    if not isinstance(got, torch.Tensor):
        have = msg.GOT.format(what=describe(got))
        return Verdict.fail(Mistake.NOT_TENSOR, msg.NOT_TENSOR.format(kind=kind_name(got)), tried, want, have)
    have = msg.GOT.format(what=describe(got))
    if tuple(got.shape) != tuple(expected.shape):
        hint = msg.HINT_SHAPE_FLAT if got.numel() == expected.numel() else hint_shape
        return Verdict.fail(Mistake.WRONG_SHAPE, msg.WRONG_SHAPE, tried, want, have, hint=hint)
    if got.dtype != expected.dtype:
        wrong = msg.WRONG_DTYPE_OF.format(got=dtype_name(got.dtype), expected=dtype_name(expected.dtype))
        # float32 for a float64 input: most often a new tensor made without a dtype (the default one).
        default = got.dtype == torch.get_default_dtype() and expected.is_floating_point()
        hint = msg.HINT_DTYPE_DEFAULT if default else msg.HINT_DTYPE
        return Verdict.fail(Mistake.WRONG_DTYPE, wrong, tried, want, have, hint=hint)
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
            _differences(got.detach(), expected, same) if reveal else _positions(same),
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


def _positions(same: torch.Tensor, limit: int = 6) -> str:
    """The first positions where the values differ, without the expected values."""
    wrong = (~same).nonzero().tolist()
    more = msg.DIFFERENT_MORE.format(count=len(wrong) - limit) if len(wrong) > limit else ""
    return msg.DIFFERENT_POSITIONS.format(items="; ".join(str(tuple(i)) for i in wrong[:limit])) + more


def _number(value: torch.Tensor) -> str:
    return shown(value.item())


def _equal_mask(got: torch.Tensor, expected: torch.Tensor, exact: bool) -> torch.Tensor:
    """Elementwise agreement; NaN agrees with NaN, as PyTorch's own operators propagate it."""
    both_nan = torch.isnan(got) & torch.isnan(expected)
    if exact:
        return (got == expected) | both_nan
    return torch.isclose(got, expected, rtol=1e-5, atol=1e-6) | both_nan


def shares_memory(a: torch.Tensor, b: torch.Tensor) -> bool:
    """True when two tensors use the same storage (the result is the input or a view of it)."""
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()



@dataclass(frozen=True)
class Trial:
    """One case as it ran: the inputs (as the call left them), what came back, the reference and the case's verdict."""

    case: Case
    args: tuple[Any, ...]
    outcome: CallOutcome
    expected: torch.Tensor
    verdict: Verdict

    @property
    def result(self) -> Any:
        return self.outcome.result


def _never(trial: Trial) -> bool:
    return False


@dataclass(frozen=True)
class Diagnosis:
    """A typical mistake a lesson recognises from everything its function did on a test's cases.

    `explains(trial)`: this mistake gives what a failing case got. `would_fail(trial)`: this mistake
    certainly fails a case (so a case that passed rules it out). A diagnosis is given only when it
    explains every failing case and no passing one rules it out; otherwise the plain verdict stands.
    """

    mistake: enum.Enum
    hint: str
    explains: Callable[[Trial], bool]
    would_fail: Callable[[Trial], bool] = _never


# Failures after which the other cases say nothing more (or cannot run): reported as they are.
_DECISIVE = frozenset(
    {
        Mistake.REFERENCE_OP, Mistake.NOT_IMPLEMENTED, Mistake.TIMEOUT, Mistake.NOT_EVALUATED,
        Mistake.INPUT_MODIFIED, Mistake.SHARES_INPUT,
    }
)


def diagnose(trials: Sequence[Trial], diagnoses: Sequence[Diagnosis]) -> Verdict:
    """The first failing case's verdict, named after the first diagnosis consistent with every case."""
    failing = [trial for trial in trials if not trial.verdict.passed]
    first = next((trial for trial in failing if trial.case.scored), None)
    if first is None:
        return Verdict.ok()
    passing = [trial for trial in trials if trial.verdict.passed]
    for diagnosis in diagnoses:
        explained = all(_safely(diagnosis.explains, trial) for trial in failing)
        if explained and not any(_safely(diagnosis.would_fail, trial) for trial in passing):
            return first.verdict.recognised(diagnosis.mistake, diagnosis.hint)
    return first.verdict


def _safely(test: Callable[[Trial], bool], trial: Trial) -> bool:
    """A diagnosis's test on a student's odd result (a wrong dtype, a nested list): False rather than an error."""
    try:
        return bool(test(trial))
    except (RuntimeError, TypeError, ValueError, IndexError, AttributeError):
        return False


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
    diagnoses: Sequence[Diagnosis] = (),
) -> Verdict:
    """Call the student's function on every case, compare with the reference, and explain the first failure.

    A wrong result or an exception does not stop the run: every case is tried, so a diagnosis is
    checked against all of them. A decisive failure (the taught operation, a timeout…) stops it.
    """
    not_callable = check_callable(part, what, fn)
    if not_callable is not None:
        return not_callable
    if probe.planning():
        for case in cases:
            probe.note_planned(case.make(), case.kwargs)
        return Verdict.ok()
    trials: list[Trial] = []
    for case in cases:
        expected = reference(*case.make(), **case.kwargs)
        args = case.make()
        before = case.make() if require_unmodified else ()
        call = describe_call(func_name, args, case.kwargs)
        outcome = call_student(part, fn, args, case.kwargs)
        verdict = outcome_failure(part, what, call, outcome) or compare(
            outcome.result, expected, call, exact=exact, hint_values=hint_values, hint_shape=hint_shape
        )
        if verdict.passed and require_unmodified:
            verdict = _unmodified(args, before, outcome, call)
        if verdict.mistake in _DECISIVE:
            if case.scored:
                return verdict
            break  # an evidence call cannot fail the test
        trials.append(Trial(case, args, outcome, expected, verdict))
    return diagnose(trials, diagnoses)


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
