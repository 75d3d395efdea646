"""Several notebook cells run in one request, each under its own message id, so the grader saves a round trip per cell.

The grader sends one execute request whose code calls `run`; the cells (their message ids, chosen by
the grader, and their sources) ride in the request's content, not in its code, so IPython never
tokenizes, hashes and compiles them as one more cell's text. Each cell runs as if it had been sent alone: `status: busy` under its
id (with the execution count it takes), its outputs under its id, then `status: idle` under its id carrying what its execute reply would
have carried (status, execution count, error). A cell may carry a request of the grader as a third field: it
then runs as a graded test cell sent alone would, the request in its parent's content and out of the history.
The grader batches cells whose outputs decide no grade, and, apart from them, runs of consecutive hidden
tests (cells that only call the stub); it checks everything it reads here as it would any message from the kernel.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

from .protocol import REQUEST_FIELD

# Where a cell's execute reply rides on its idle status.
REPLY_FIELD = "autograder_reply"
# Where the request's content carries the cells: [[msg_id, source], ...], or [msg_id, source, request] for a test cell.
CELLS_FIELD = "autograder_cells"
# How long a cell's end waits for the IOPub thread to send it (ipykernel's stream flush waits as long).
SENT_WAIT_S = 10.0
# The code of the grader's request.
ENTRY = "__import__('autograder_stub.cells').cells.run()"


class CellEndNotSent(RuntimeError):
    """The IOPub thread did not send a batched cell's end in time: the batch stops (the grader runs what is left alone)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the IOPub thread did not send the cell's end within {seconds:g} s")
        self.seconds = seconds

    def __reduce__(self):  # picklable with its field
        return (type(self), (self.seconds,))


def run() -> None:
    """Run the cells of this request's content in order, each under its own parent; the request's parent is restored after."""
    from IPython import get_ipython

    shell = get_ipython()
    kernel = shell.kernel
    outer = kernel.get_parent()
    cells = outer.get("content", {}).get(CELLS_FIELD)
    if not isinstance(cells, list) or not all(
        isinstance(cell, list) and len(cell) in (2, 3) and all(isinstance(part, str) for part in cell) for cell in cells
    ):
        raise ValueError("autograder_stub.cells.run: this request carries no cells to run")
    own = {key: value for key, value in outer["content"].items() if key != CELLS_FIELD}  # a cell's parent carries no cells
    ident = _ident(kernel)
    try:
        for msg_id, source, *request in cells:
            content = {**own, REQUEST_FIELD: request[0]} if request else own  # a test cell's request, as if sent alone
            parent = {**outer, "header": {**outer["header"], "msg_id": msg_id}, "msg_id": msg_id, "content": content}
            kernel.set_parent(ident, parent)  # the kernel's own parent too: comms and displays from threads follow it
            _status(kernel, "busy", parent, execution_count=shell.execution_count)  # the count this cell takes
            result = shell.run_cell(source, store_history=not request, silent=False)  # a request never enters `In`
            _end(kernel, parent, _reply(shell, result))
    finally:
        _flush()
        kernel.set_parent(ident, outer)


def _ident(kernel: Any) -> Any:
    """The routing identity of the request being run (ipykernel keeps it beside the parent)."""
    try:
        return kernel._shell_parent_ident.get()
    except (AttributeError, LookupError):
        return None


def _reply(shell: Any, result: Any) -> dict[str, Any]:
    """What ipykernel's execute reply would say of this cell."""
    error = result.error_before_exec if result.error_before_exec is not None else result.error_in_exec
    reply: dict[str, Any] = {"execution_count": shell.execution_count - 1}
    if result.success and not getattr(shell, "_last_traceback_during_displayhook", False):
        reply["status"] = "ok"
    else:
        reply.update(status="error", ename=type(error).__name__, evalue=_text(error))
        reply["traceback"] = list(getattr(shell, "_last_traceback", None) or [])
    shell.payload_manager.clear_payload()  # a request's payloads (pager, next input) would ride on this one's reply
    return reply


def _text(error: BaseException | None) -> str:
    """str() of the cell's exception, which the cell's own code defines and may make raise."""
    try:
        return str(error)
    except Exception:
        return ""


def _end(kernel: Any, parent: dict[str, Any], reply: dict[str, Any]) -> None:
    """The cell's prints, then its idle status with its reply, out of the kernel before the next cell starts.

    Handed to the IOPub thread as one task, which queues the streams' messages, then the idle, then the
    wake-up of this thread, in that order: one wait on that thread instead of a stream flush's wait
    before and after the idle (each about 0.15 ms of the kernel's CPU). Streams that are not exactly
    ipykernel's, on that thread, are flushed as before. If the thread does not send it in time, no later
    cell may start (its messages would be queued before this one's end): the request stops here.
    """
    from ipykernel.iostream import OutStream  # the kernel's; the grader only reads this module's names

    thread = getattr(kernel, "iopub_thread", None)
    streams = [stream for stream in (sys.stdout, sys.stderr) if stream is not None]
    alive = thread is not None and getattr(getattr(thread, "thread", None), "is_alive", lambda: False)()
    if not alive or not all(type(stream) is OutStream and stream.pub_thread is thread for stream in streams):
        _flush()
        _status(kernel, "idle", parent, **{REPLY_FIELD: reply})
        _flush()  # waits until the IOPub thread has sent the idle: the next cell starts only after this one's end left
        return
    sent = threading.Event()
    failed: list[BaseException] = []

    def send_end() -> None:  # in the IOPub thread: each send it makes is queued behind the ones before
        try:
            for stream in streams:
                stream._flush()
            _status(kernel, "idle", parent, **{REPLY_FIELD: reply})
        except BaseException as error:  # handed back to the cell's thread, which raises it
            failed.append(error)
            sent.set()
            return
        thread.schedule(sent.set)

    thread.schedule(send_end)
    if not sent.wait(SENT_WAIT_S):
        raise CellEndNotSent(SENT_WAIT_S)
    if failed:
        raise failed[0]


def _flush() -> None:
    """Wait until everything published so far has left through the IOPub thread (a stream's flush waits for it)."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()


def _status(kernel: Any, state: str, parent: dict[str, Any], **fields: Any) -> None:
    """A status message under the cell's parent (nbclient reads an execution_count from any message that has one)."""
    content: dict[str, Any] = {"execution_state": state, **fields}
    topic = kernel._topic("status") if hasattr(kernel, "_topic") else None
    kernel.session.send(kernel.iopub_socket, "status", content, parent=parent, ident=topic)
