"""The stub a graded test cell runs: the grader's request in, the student's outcomes out, nothing decided here.

The grader rewrites each graded test cell, at the moment it runs, into one call of `run()` whose
execute request carries REQUEST in its content. REQUEST names the student's answer and, for a function, the inputs to call it on (drawn by the
grader from a secret the kernel never sees). The stub calls the function on each input under a
CPU-time limit, with its prints discarded, and publishes one record: each call's result or error,
the blocked operators it reached, its inputs as they were after the call, and the tampering the
guard noticed. The grader compares the results with references it computes itself; a record it
did not ask for counts for nothing.
"""

from __future__ import annotations

import contextlib
import io
import json
import linecache
import signal
import threading
import traceback
import warnings
from typing import Any, Iterator

import torch

from . import guard
from .codec import MAX_TEXT, decode_value, encode_value
from .protocol import CALL_CPU_SECONDS, CALL_WALL_SECONDS, KIND_CALLS, RECORD_MIME, REQUEST_FIELD, VERSION


class CallTimeout(BaseException):
    """The student's function ran past its limit (a BaseException, so `except Exception` in it can't swallow it)."""


class StoppedAfterTimeout(Exception):
    """Ends a test cell whose function ran out of time: the grader already has its record."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"«{name}» no terminó a tiempo; el resto de esta celda no se ejecuta.")


class _Discard(io.TextIOBase):
    """Where the student's prints go during a call: nowhere (they would flood the grader or zero the cell)."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        return len(text)


def run() -> None:
    """Answer the grader's request this cell's execute request carries: publish the record of what the student's answer does."""
    from IPython import get_ipython

    text = get_ipython().kernel.get_parent().get("content", {}).get(REQUEST_FIELD)
    if not isinstance(text, str):
        raise ValueError("autograder_stub.runner.run: this execute request carries no request of the grader")
    request = json.loads(text)
    if not _intact():
        guard.OBSERVED.tampered("modificó el código del calificador en el núcleo (autograder_stub)")
    record = answer(request, _namespace())
    publish(record)
    if any(call["error"] and call["error"]["timeout"] for call in record["calls"]):
        # The rest of the cell (its visible checks) would call the same function and hang until the cell's limit.
        raise StoppedAfterTimeout(str(record.get("name")))


def answer(request: dict[str, Any], namespace: dict[str, Any]) -> dict[str, Any]:
    """The record for a request, given the namespace the student's answers live in."""
    name = str(request.get("name", ""))
    record: dict[str, Any] = {"version": VERSION, "request": request.get("request"), "name": name, "calls": []}
    if name not in namespace:
        record["answer"] = {"kind": "missing"}
    else:
        value = namespace[name]
        wants_calls = request.get("kind") == KIND_CALLS
        if wants_calls and callable(value) and not isinstance(value, torch.Tensor):
            record["answer"] = {"kind": "callable", "type": type(value).__name__[:80]}
            limits = (float(request.get("cpu_s", CALL_CPU_SECONDS)), float(request.get("wall_s", CALL_WALL_SECONDS)))
            for call in request.get("calls", []):
                outcome = _call(value, call, limits)
                record["calls"].append(outcome)
                if outcome["error"] and outcome["error"]["timeout"]:
                    break  # the rest would only time out as well
        else:
            record["answer"] = encode_value(value)
    if not guard.block_intact():
        guard.OBSERVED.tampered("desactivó el bloqueo de las operaciones que el ejercicio pide implementar")
    record["tamper"] = list(guard.OBSERVED.tamper)
    return record


def _call(function: Any, call: dict[str, Any], limits: tuple[float, float]) -> dict[str, Any]:
    args = tuple(decode_value(item) for item in call.get("args", []))
    kwargs = {str(key): decode_value(item) for key, item in (call.get("kwargs") or {}).items()}
    result: Any = None
    error: BaseException | None = None
    guard.OBSERVED.take_ops()
    sink = _Discard()
    with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        warnings.simplefilter("ignore")
        try:
            with time_limit(*limits):
                result = function(*args, **kwargs)
        except (Exception, CallTimeout) as raised:  # the student's own failure, reported back to them
            error = raised
    ops = guard.OBSERVED.take_ops()
    first = args[0] if args else None
    shares = isinstance(first, torch.Tensor) and isinstance(result, torch.Tensor) and _same_storage(result, first)
    return {
        "result": None if error is not None else encode_value(result),
        "shares_input": bool(shares),
        "error": None if error is None else _encode_error(error),
        "ops": ops[:20],
        "args_after": [encode_value(arg) if isinstance(arg, torch.Tensor) else None for arg in args],
    }


@contextlib.contextmanager
def time_limit(cpu_seconds: float, wall_seconds: float) -> Iterator[None]:
    """CallTimeout after cpu_seconds of the process's CPU time or wall_seconds of real time (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise CallTimeout()

    previous = signal.signal(signal.SIGPROF, expire), signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_PROF, cpu_seconds)
    signal.setitimer(signal.ITIMER_REAL, wall_seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGPROF, previous[0])
        signal.signal(signal.SIGALRM, previous[1])


def _encode_error(error: BaseException) -> dict[str, Any]:
    timeout = isinstance(error, CallTimeout)
    return {
        "type": type(error).__name__[:80],
        "message": "" if timeout else _text(error),
        "not_implemented": isinstance(error, NotImplementedError),
        "timeout": timeout,
        "blocked": error.op if isinstance(error, guard.BlockedOperator) else None,
        "where": _student_line(error),
    }


def _text(error: BaseException) -> str:
    try:
        return str(error)[:MAX_TEXT]
    except Exception:  # a student's exception whose __str__ raises
        return ""


def _student_line(error: BaseException) -> str:
    """The innermost line of the student's own notebook code the error passed through ("3: return z + 1")."""
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


def _namespace() -> dict[str, Any]:
    from IPython import get_ipython

    shell = get_ipython()
    return shell.user_ns if shell is not None else {}


def publish(record: dict[str, Any]) -> None:
    """Send the record as a display output of this cell (front-ends show nothing for it)."""
    from IPython.display import display

    display({RECORD_MIME: record, "text/plain": ""}, raw=True)


# What run() relies on, as imported: a notebook that swaps any of them is noted for review.
_GENUINE = {name: globals()[name] for name in ("answer", "_call", "time_limit", "_encode_error", "publish", "_namespace")}
_GENUINE_GUARD = {name: getattr(guard, name) for name in ("block_intact", "OBSERVED", "BlockedOperator")}


def _intact() -> bool:
    """Whether the stub and its guard are still the code this kernel started with."""
    return all(globals().get(name) is value for name, value in _GENUINE.items()) and all(
        getattr(guard, name, None) is value for name, value in _GENUINE_GUARD.items()
    )
