"""A run of cells sent to the kernel in one request, while nbclient still sees one request, one reply per cell.

Each execute request costs the kernel and the grader about 6 ms of CPU beyond the cell's own code
(ipykernel's dispatch across two threads, the execute_input echo, the reply; nbclient's side of each),
and a graded notebook has dozens of cells whose outputs decide no grade. `CellBatch` stands in for the
kernel client while such a run executes: the first cell's `execute` sends one request that runs them
all (`autograder_stub.cells`), each under a message id chosen here, and every later `execute` of the
run just returns its cell's id. Each cell's reply arrives on its idle status, and is handed to nbclient
as if it came on the shell channel; timeouts, interrupts, dead kernels and output handling stay
nbclient's and GuardedExecute's, per cell. If the request ends before a cell's reply (a cell broke the
runner, or forged the request's end), the batch is `broken`: that cell ends at once, and GuardedExecute
treats it as a fault of the batch: the kernel is rebuilt and the cell runs again alone.

A cell whose outputs grade something is never batched with cells that grade nothing: its request (a test
the grader decides) rides only in a batch of test cells, beside the tests next to it, so no cell a student
wrote runs in a request that carries a test's inputs.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from queue import Empty
from typing import Any

from autograder.adapter.requestcarrier import send_execute
from autograder_stub.cells import CELLS_FIELD, ENTRY, REPLY_FIELD

# Text that may make IPython run a cell on the event loop (top-level await): such a cell is sent alone, as
# ipykernel runs it, since the batch's runner runs cells synchronously.
LOOP_WORDS = ("await", "async")


def may_join(source: str) -> bool:
    """Whether a cell's code can run in a batch (the runner runs it as ipykernel would)."""
    return not any(word in source for word in LOOP_WORDS)


# The reply of a cell the batch's request ended without: aborted, as the protocol says of a request not run
# (no error output of ours reaches the cell; GuardedExecute runs it again alone).
BROKEN = {"status": "aborted"}


class BatchBroken(RuntimeError):
    """A cell asked of a batch whose request already ended (GuardedExecute runs it again alone)."""

    def __init__(self, msg_id: str) -> None:
        super().__init__(f"the batched request ended before cell {msg_id} replied")
        self.msg_id = msg_id

    def __reduce__(self):  # picklable with its field
        return (type(self), (self.msg_id,))


@dataclass
class BatchedCell:
    """One cell of a batch: its id, its code, and what has been seen of it."""

    msg_id: str
    source: str
    request: str | None = None  # a test cell's request of the grader (JSON text), carried beside its code
    started: bool = False  # its busy status arrived
    reply: dict[str, Any] | None = None  # its execute reply, once its idle status arrived


class CellBatch:
    """nbclient's kernel client while a run of cells executes in one request (everything else is the real client's)."""

    def __init__(self, client: Any, sources: list[str], requests: list[str | None] | None = None) -> None:
        self.client = client
        requests = requests if requests is not None else [None] * len(sources)
        if len(requests) != len(sources):
            raise ValueError("CellBatch: one request (or None) per cell")
        self.cells = [BatchedCell(uuid.uuid4().hex, source, request) for source, request in zip(sources, requests)]
        self._by_id = {cell.msg_id: cell for cell in self.cells}
        self._next = 0
        self.request_id: str | None = None
        self.ended = False  # the batch's request finished (or a cell made it look so): no more cells run in it
        self.broken = False  # it ended before the awaited cell's reply: that cell's run says nothing
        self._injected: deque[dict[str, Any]] = deque()
        self.awaited: BatchedCell | None = None
        self._waiter: asyncio.Future[None] | None = None
        self.shell_channel = _ShellChannel(self)
        self.iopub_channel = _IOPubChannel(self)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    @property
    def done(self) -> bool:
        """Every cell of the batch has been executed by nbclient."""
        return self._next >= len(self.cells)

    def execute(self, code: str, silent: bool = False, store_history: bool = True, user_expressions: Any = None,
                allow_stdin: bool | None = None, stop_on_error: bool = True) -> str:
        """The next cell of the batch: its id (the batch is sent with the first); anything else is refused.

        A test cell is sent out of the history, as GuardedExecute sends every test cell; any other cell into it.
        """
        cell = self.cells[self._next] if not self.done else None
        history = cell is not None and cell.request is None
        plain = not silent and store_history == history and not user_expressions and not allow_stdin and not stop_on_error
        if cell is None or code != cell.source or not plain:
            raise RuntimeError("CellBatch: a request that is not the batch's next cell")
        if self.ended:
            raise BatchBroken(cell.msg_id)
        self._next += 1
        self.awaited = cell
        if self.request_id is None:  # the cells ride in the content beside the code
            cells = {CELLS_FIELD: [[c.msg_id, c.source] + ([c.request] if c.request is not None else []) for c in self.cells]}
            self.request_id = send_execute(self.client, ENTRY, cells, silent=True, store_history=False, allow_stdin=False,
                                           stop_on_error=False)
        return cell.msg_id

    # -- what the kernel sends -----------------------------------------------------------
    def _observe(self, msg: Any) -> bool:
        """Note a batched cell's start and end, and the end of the batch's request; False: keep it from nbclient.

        An idle status of a batched cell reaches nbclient only with the reply it carries: nbclient stops
        reading a cell's messages at its idle, and the reply would be left unread (a cell can send a bare one).
        """
        if not isinstance(msg, dict) or msg.get("msg_type") != "status":
            return True
        content, parent = msg.get("content"), msg.get("parent_header")
        if not isinstance(content, dict) or not isinstance(parent, dict):
            return True
        msg_id, state = parent.get("msg_id"), content.get("execution_state")
        if not isinstance(msg_id, str):
            return True
        cell = self._by_id.get(msg_id)
        if cell is not None:
            if state == "busy":
                cell.started = True
            elif state == "idle":
                if REPLY_FIELD not in content:
                    return False
                reply = content.pop(REPLY_FIELD)
                if cell.reply is None:  # the first one counts (a cell may have forged one for a later cell: its own loss)
                    cell.reply = _as_reply(msg, reply)
                    self._wake()
        elif msg_id == self.request_id and state == "idle":
            self.ended = True
            awaited = self.awaited
            if awaited is not None and awaited.reply is None:  # it will never reply: end it now, as broken
                self.broken = True
                awaited.reply = _as_reply(_status_of(awaited.msg_id, "idle"), dict(BROKEN))
                self._injected.append(_status_of(awaited.msg_id, "idle"))
                self._wake()
        return True

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def _reply_of(self, cell: BatchedCell, timeout: float | None) -> dict[str, Any]:
        """The awaited cell's reply, from its idle status (or the broken batch's); Empty past the timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if cell.reply is not None:
                return cell.reply
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise Empty
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(self._waiter, left)
            except asyncio.TimeoutError:
                raise Empty from None
            finally:
                self._waiter = None


class _Channel:
    """One of the client's channels as nbclient reads it while the batch runs (everything but get_msg is the real one's)."""

    name = ""

    def __init__(self, batch: CellBatch) -> None:
        self._batch = batch

    @property
    def _real(self) -> Any:
        return getattr(self._batch.client, self.name)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._real, attr)


class _ShellChannel(_Channel):
    """The shell channel: the awaited batched cell's reply, else the real channel's messages."""

    name = "shell_channel"

    async def get_msg(self, timeout: float | None = None) -> dict[str, Any]:
        cell = self._batch.awaited
        if cell is None:
            return await self._real.get_msg(timeout=timeout)
        reply = await self._batch._reply_of(cell, timeout)
        self._batch.awaited = None  # answered: a later read is the real channel's
        return reply


class _IOPubChannel(_Channel):
    """The IOPub channel: every message, noted by the batch on its way (and the statuses it makes itself)."""

    name = "iopub_channel"

    async def get_msg(self, timeout: float | None = None) -> dict[str, Any]:
        while True:
            if self._batch._injected:
                return self._batch._injected.popleft()
            msg = await self._real.get_msg(timeout=timeout)
            if self._batch._observe(msg):
                return msg


def _as_reply(status: dict[str, Any], content: Any) -> dict[str, Any]:
    """An execute_reply message with this content, dated and parented as the idle status that carried it."""
    header = dict(status.get("header") or {})
    header.update(msg_type="execute_reply")
    return {"header": header, "parent_header": status.get("parent_header"), "msg_type": "execute_reply", "metadata": {},
            "content": content if isinstance(content, dict) else {}}


def _status_of(msg_id: str, state: str) -> dict[str, Any]:
    """A status message for a batched cell, made here (the kernel will send none)."""
    header = {"msg_id": uuid.uuid4().hex, "msg_type": "status", "date": datetime.now(timezone.utc)}
    return {"header": header, "parent_header": {"msg_id": msg_id}, "msg_type": "status", "metadata": {},
            "content": {"execution_state": state}}
