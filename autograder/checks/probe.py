"""Carry a student's answer out of the untrusted kernel as plain data, and replay it where the verdict is computed.

In the kernel, `record()` runs a test family in probe mode: every case calls the student's function,
nothing is compared, and each call's outcome (result, exception, ops used, the inputs afterwards)
is encoded as JSON: dtypes, shapes and raw bytes, never pickle. In the trusted grader, `Replay`
plays those outcomes back to the very same family code, which builds the inputs and the references
itself with a torch that student code never touched.
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import linecache
import math
import signal
import threading
import traceback
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch

from .. import tracing
from ..catalog import PROBE_MIME

RECORD_VERSION = 1
# Results larger than this travel as shape and dtype only (no expected result is anywhere near it).
MAX_NUMEL = 1_000_000
MAX_ITEMS = 64
MAX_TEXT = 300
# Wall-clock seconds one call of the student's function may take inside a test.
CALL_TIMEOUT = 5.0

# The dtypes a result may travel as; anything else (quantized, bits, float8…) arrives as an Opaque.
_DTYPES = {
    str(dtype).removeprefix("torch."): dtype
    for dtype in (
        torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.complex64, torch.complex128,
        torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.bool,
    )
}
_recording: contextvars.ContextVar[list[dict[str, Any]] | None] = contextvars.ContextVar("recording", default=None)


class CallTimeout(BaseException):
    """The student's function ran past CALL_TIMEOUT (a BaseException, so `except Exception` in it can't swallow it)."""


class ReplayedError(Exception):
    """Stands for the exception the student's function raised in the kernel: name, message, the student's line."""

    def __init__(self, name: str, message: str, where: str = "") -> None:
        self.name = name
        self.where = where
        super().__init__(message)


class ReplayedNotImplemented(NotImplementedError):
    """Stands for a NotImplementedError raised in the kernel (the untouched template)."""


class ProbeMissing(Exception):
    """The record holds fewer calls than the test makes: the kernel's probe did not finish."""


@dataclass
class Opaque:
    """A non-tensor, non-literal answer seen in the kernel: its type name and repr, nothing executable."""

    type_name: str
    text: str

    def __repr__(self) -> str:
        return self.text


def probing() -> bool:
    """True while a family runs in the kernel to record calls (no comparisons, every case called)."""
    return _recording.get() is not None


# -- encoding ------------------------------------------------------------------------------


def encode_value(value: Any, depth: int = 0) -> dict[str, Any]:
    """A JSON description of a value: tensors with their bytes, literals as they are, anything else by type and repr."""
    if isinstance(value, torch.Tensor):
        try:
            return _encode_tensor(value)
        except Exception:  # sparse, nested, subclasses that refuse: described, not carried
            return {"kind": "opaque", "type": f"Tensor ({type(value).__name__})", "repr": _safe_repr(value)}
    if value is None or isinstance(value, (bool, int, float)):
        return {"kind": "literal", "value": value}
    if isinstance(value, str):
        return {"kind": "literal", "value": value[:MAX_TEXT]}
    if isinstance(value, (list, tuple)) and depth < 4 and len(value) <= MAX_ITEMS:
        return {"kind": type(value).__name__, "items": [encode_value(item, depth + 1) for item in value]}
    return {"kind": "opaque", "type": type(value).__name__[:80], "repr": _safe_repr(value)}


def _encode_tensor(tensor: torch.Tensor) -> dict[str, Any]:
    plain = torch.Tensor.as_subclass(tensor, torch.Tensor).detach()
    dtype = str(plain.dtype).removeprefix("torch.")
    if plain.layout != torch.strided or dtype not in _DTYPES:
        return {"kind": "opaque", "type": f"Tensor ({plain.layout}, {dtype})", "repr": _safe_repr(plain)}
    encoded: dict[str, Any] = {
        "kind": "tensor",
        "dtype": str(plain.dtype).removeprefix("torch."),
        "shape": list(plain.shape),
        "device": plain.device.type,
        "data": None,
    }
    if plain.numel() <= MAX_NUMEL and plain.device.type != "meta":
        raw = plain.cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        encoded["data"] = base64.b64encode(raw).decode("ascii")
    return encoded


def decode_value(data: Any, device: torch.device) -> Any:
    """The value an encode_value description stands for; malformed data decodes to an Opaque, never raises."""
    if not isinstance(data, dict):
        return Opaque("desconocido", "<dato ilegible>")
    kind = data.get("kind")
    try:
        if kind == "tensor":
            return _decode_tensor(data, device)
        if kind == "literal" and (data.get("value") is None or isinstance(data.get("value"), (bool, int, float, str))):
            return data.get("value")
        if kind in ("list", "tuple") and isinstance(data.get("items"), list):
            items = [decode_value(item, device) for item in data["items"][:MAX_ITEMS]]
            return items if kind == "list" else tuple(items)
    except (ValueError, TypeError, RuntimeError, KeyError, OverflowError, RecursionError):
        return Opaque("desconocido", "<dato ilegible>")
    return Opaque(str(data.get("type", "objeto"))[:80], str(data.get("repr", "<objeto>"))[:MAX_TEXT])


def _decode_tensor(data: dict[str, Any], device: torch.device) -> torch.Tensor:
    dtype = _DTYPES[str(data["dtype"])]
    shape = [int(n) for n in data["shape"]]
    if len(shape) > 16 or any(n < 0 for n in shape) or math.prod(shape) > 2**48:
        raise ValueError("implausible shape")
    target = device if data.get("device") == device.type else torch.device(str(data.get("device", "cpu")))
    if data.get("data") is None or target.type not in ("cpu", device.type) or math.prod(shape) > MAX_NUMEL:
        return torch.empty(shape, dtype=dtype, device="meta")
    raw = bytearray(base64.b64decode(str(data["data"]), validate=True))
    flat = torch.frombuffer(raw, dtype=torch.uint8) if raw else torch.empty(0, dtype=torch.uint8)
    return flat.view(dtype).reshape(shape).to(target)


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)[:MAX_TEXT]
    except Exception:  # a student's __repr__ may raise anything
        return f"<{type(value).__name__}>"


# -- the kernel side: recording calls -------------------------------------------------------


@contextlib.contextmanager
def recording() -> Iterator[list[dict[str, Any]]]:
    """Collect every call_student outcome made inside this block."""
    tracing.prime()  # the tracer's one-time imports happen here, never inside a student's timed call
    calls: list[dict[str, Any]] = []
    token = _recording.set(calls)
    try:
        yield calls
    finally:
        _recording.reset(token)


def note_call(outcome: Any, args: tuple[Any, ...]) -> None:
    """Add one call's outcome to the active recording, if any."""
    calls = _recording.get()
    if calls is None:
        return
    error = outcome.error
    first = args[0] if args else None
    shares = (
        isinstance(first, torch.Tensor)
        and isinstance(outcome.result, torch.Tensor)
        and _same_storage(outcome.result, first)
    )
    calls.append(
        {
            "result": None if error is not None else encode_value(outcome.result),
            "shares_input": bool(shares),
            "error": None if error is None else _encode_error(error),
            "ops": list(outcome.forbidden_ops),
            "args_after": [encode_value(arg) if isinstance(arg, torch.Tensor) else None for arg in args],
        }
    )


def _encode_error(error: BaseException) -> dict[str, Any]:
    return {
        "type": type(error).__name__[:80],
        "message": str(error)[:MAX_TEXT] if not isinstance(error, CallTimeout) else "",
        "not_implemented": isinstance(error, NotImplementedError),
        "timeout": isinstance(error, CallTimeout),
        "where": _student_line(error),
    }


def _student_line(error: BaseException) -> str:
    """The innermost line of the student's own notebook code the error passed through ("línea 3: return z + 1")."""
    where = ""
    for frame, line in traceback.walk_tb(error.__traceback__):
        filename = frame.f_code.co_filename
        if "ipykernel_" in filename or filename.startswith("<ipython-input"):
            code = linecache.getline(filename, line).strip()
            where = f"{line}: {code}" if code else str(line)
    return where[:200]


def _same_storage(a: torch.Tensor, b: torch.Tensor) -> bool:
    try:
        return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()
    except RuntimeError:
        return False


@contextlib.contextmanager
def time_limit(seconds: float = CALL_TIMEOUT) -> Iterator[None]:
    """Raise CallTimeout in the student's call after `seconds` (main thread only; elsewhere no limit)."""
    if threading.current_thread() is not threading.main_thread() or not probing():
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise CallTimeout()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def encode_answer(answer: Any) -> dict[str, Any]:
    """How the answer itself travels: a function by its type name only, a value (Gx) encoded."""
    if callable(answer) and not isinstance(answer, torch.Tensor):
        return {"kind": "callable", "type": type(answer).__name__[:80]}
    return encode_value(answer)


def build_record(grade_id: str, answer: Any, calls: list[dict[str, Any]]) -> dict[str, Any]:
    return {"version": RECORD_VERSION, "grade_id": grade_id, "answer": encode_answer(answer), "calls": calls}


# -- the trusted side: replaying calls ------------------------------------------------------


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
        ops = [str(op)[:80] for op in call.get("ops", []) if isinstance(op, str)][:20]
        error = call.get("error")
        if isinstance(error, dict):
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
    """The answer a family is evaluated against on the trusted side: a Replay, or the decoded value."""
    answer = record.get("answer")
    if isinstance(answer, dict) and answer.get("kind") == "callable":
        return Replay(record.get("calls", []), device)
    return decode_value(answer, device)

