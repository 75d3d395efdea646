"""A run of cells sent to the kernel in one request, while nbclient still sees one request, one reply per cell.

Each execute request costs the kernel and the grader about 6 ms of CPU beyond the cell's own code
(ipykernel's dispatch across two threads, the execute_input echo, the reply; nbclient's side of each),
and a graded notebook has dozens of cells whose outputs decide no grade. `CellBatch` stands in for the
kernel client while such a run executes: the first cell's `execute` sends one request that runs them
all (`autograder_stub.cells`), each under a message id chosen here, and every later `execute` of the
run just returns its cell's id. Each cell's reply arrives on its idle status, and is handed to nbclient
as if it came on the shell channel; timeouts, interrupts, dead kernels and output handling stay
nbclient's and GuardedExecute's, per cell. If the request ends before running a cell (its code broke
the runner), that cell is sent alone under the same id, so nothing is lost or run twice.

Graded cells are never batched: their requests are issued one at a time, as they run.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from queue import Empty
from typing import Any

from autograder.engine.messages import BATCH_CUT
from autograder_stub.cells import ENTRY, REPLY_FIELD

# Text that may make IPython run a cell on the event loop (top-level await): such a cell is sent alone, as
# ipykernel runs it, since the batch's runner runs cells synchronously.
LOOP_WORDS = ("await", "async")
# What a cell that the batch's runner left unfinished replies (the runner was stopped inside it).
UNFINISHED = {"status": "error", "ename": "CellFault", "evalue": BATCH_CUT, "traceback": [BATCH_CUT]}


def may_join(source: str) -> bool:
    """Whether a cell's code can run in a batch (the runner runs it as ipykernel would)."""
    return not any(word in source for word in LOOP_WORDS)


@dataclass
class BatchedCell:
    """One cell of a batch: its id, its code, and what has been seen of it."""

    msg_id: str
    source: str
    started: bool = False  # its busy status arrived
    reply: dict[str, Any] | None = None  # its execute reply, once its idle status arrived
    alone: bool = False  # sent as a request of its own: its reply comes on the shell channel


class CellBatch:
    """nbclient's kernel client while a run of cells executes in one request (everything else is the real client's)."""

    def __init__(self, client: Any, sources: list[str]) -> None:
        self.client = client
        self.cells = [BatchedCell(uuid.uuid4().hex, source) for source in sources]
        self._by_id = {cell.msg_id: cell for cell in self.cells}
        self._next = 0
        self.request_id: str | None = None
        self.ended = False  # the batch's request finished: no more cells run in it
        self.awaited: BatchedCell | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._injected: deque[dict[str, Any]] = deque()
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
        """The next cell of the batch: its id (the batch is sent with the first); anything else goes to the real client."""
        cell = self.cells[self._next] if not self.done else None
        plain = not silent and store_history and not user_expressions and not allow_stdin and not stop_on_error
        if cell is None or code != cell.source or not plain:
            raise RuntimeError("CellBatch: a request that is not the batch's next cell")
        self._next += 1
        self.awaited = cell
        if self.request_id is None:
            payload = json.dumps([[c.msg_id, c.source] for c in self.cells])
            self.request_id = self.client.execute(f"{ENTRY}({payload!r})", silent=True, store_history=False,
                                                  allow_stdin=False, stop_on_error=False)
        elif self.ended:
            self._settle(cell)
        return cell.msg_id

    # -- what the kernel sends -----------------------------------------------------------
    def _observe(self, msg: dict[str, Any]) -> None:
        """Note a batched cell's start and end, and the end of the batch's request."""
        if not isinstance(msg, dict) or msg.get("msg_type") != "status":
            return
        content = msg.get("content")
        parent = msg.get("parent_header")
        if not isinstance(content, dict) or not isinstance(parent, dict):
            return
        state = content.get("execution_state")
        cell = self._by_id.get(parent.get("msg_id"))  # type: ignore[arg-type]
        if cell is not None and not cell.alone:
            if state == "busy":
                cell.started = True
            elif state == "idle" and REPLY_FIELD in content and cell.reply is None:
                cell.reply = _as_reply(msg, content.pop(REPLY_FIELD))
                self._wake()
        elif parent.get("msg_id") == self.request_id and self.request_id is not None and state == "idle":
            self.ended = True
            if self.awaited is not None:
                self._settle(self.awaited)
            self._wake()

    def _settle(self, cell: BatchedCell) -> None:
        """The batch's request ended: a cell it never ran is sent alone; one it left unfinished is ended here."""
        if cell.reply is not None or cell.alone:
            return
        if not cell.started:
            cell.alone = True
            self._send_alone(cell)
        else:
            cell.reply = _as_reply(None, dict(UNFINISHED), cell.msg_id)
            self._injected.append(_idle_of(cell.msg_id))

    def _send_alone(self, cell: BatchedCell) -> None:
        session = self.client.session
        header = session.msg_header("execute_request")
        header["msg_id"] = cell.msg_id
        content = {"code": cell.source, "silent": False, "store_history": True, "user_expressions": {},
                   "allow_stdin": False, "stop_on_error": False}
        self.client.shell_channel.send(session.msg("execute_request", content, header=header))

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def _reply_of(self, cell: BatchedCell, timeout: float | None) -> dict[str, Any]:
        """The awaited cell's reply, from its idle status or (sent alone) the shell channel; Empty past the timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if cell.alone:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                return await self.client.shell_channel.get_msg(timeout=left)
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


class _ShellChannel:
    """The shell channel as nbclient reads it: the awaited batched cell's reply, else the real channel."""

    def __init__(self, batch: CellBatch) -> None:
        self._batch = batch

    def __getattr__(self, name: str) -> Any:
        return getattr(self._batch.client.shell_channel, name)

    async def get_msg(self, timeout: float | None = None) -> dict[str, Any]:
        cell = self._batch.awaited
        if cell is None:
            return await self._batch.client.shell_channel.get_msg(timeout=timeout)
        reply = await self._batch._reply_of(cell, timeout)
        if reply.get("parent_header", {}).get("msg_id") == cell.msg_id:
            self._batch.awaited = None  # answered: a later read is the real channel's
        return reply


class _IOPubChannel:
    """The IOPub channel as nbclient reads it: every message, noted by the batch on its way."""

    def __init__(self, batch: CellBatch) -> None:
        self._batch = batch

    def __getattr__(self, name: str) -> Any:
        return getattr(self._batch.client.iopub_channel, name)

    async def get_msg(self, timeout: float | None = None) -> dict[str, Any]:
        if self._batch._injected:
            return self._batch._injected.popleft()
        msg = await self._batch.client.iopub_channel.get_msg(timeout=timeout)
        self._batch._observe(msg)
        return msg


def _as_reply(status: dict[str, Any] | None, content: Any, msg_id: str | None = None) -> dict[str, Any]:
    """An execute_reply message with this content, dated and parented as the idle status that carried it."""
    header = dict(status.get("header") or {}) if status else {"date": datetime.now(timezone.utc)}
    header.update(msg_type="execute_reply")
    parent = status.get("parent_header") if status else {"msg_id": msg_id}
    return {"header": header, "parent_header": parent, "msg_type": "execute_reply", "metadata": {},
            "content": content if isinstance(content, dict) else {}}


def _idle_of(msg_id: str) -> dict[str, Any]:
    """The idle status a cell the batch's runner left unfinished never sent."""
    header = {"msg_id": uuid.uuid4().hex, "msg_type": "status", "date": datetime.now(timezone.utc)}
    return {"header": header, "parent_header": {"msg_id": msg_id}, "msg_type": "status", "metadata": {},
            "content": {"execution_state": "idle"}}
