"""A kernel client that knows the kernel is ready when its IOPub answers, instead of after 0.2 s of IOPub silence.

jupyter_client's `wait_for_ready` sends kernel_info, then drains IOPub until nothing has arrived for
0.2 s: a fixed fifth of a second per kernel, more than the notebook's own work. Here the drain stops
at the idle status of that kernel_info request: IOPub is then connected (the reason for the check)
and, being ordered, has delivered everything the kernel published before it (the reason for the
drain). Every later reader filters IOPub by its request's id anyway.
"""

from __future__ import annotations

import math
import time
from queue import Empty
from typing import Any

from jupyter_client.asynchronous import AsyncKernelClient

# How long a reply and IOPub's status get per kernel_info attempt (as jupyter_client: 1 s and 0.2 s).
REPLY_S = 1.0
IOPUB_S = 0.2
READY, SUBSCRIBED, SILENT = "ready", "subscribed", "silent"


class ReadyClient(AsyncKernelClient):
    """jupyter_client's async client, ready as soon as a kernel_info round trip has come back on both channels."""

    async def wait_for_ready(self, timeout: float | None = None) -> None:  # type: ignore[override]
        """Ask kernel_info until a reply and an idle status answer it; RuntimeError if the kernel dies or times out.

        A request sent before IOPub's subscription reached the kernel has its statuses dropped: when the
        kernel's welcome on IOPub says the subscription is there, the next request goes out at once.
        """
        deadline = time.monotonic() + (math.inf if timeout is None else timeout)
        sent: list[str] = []
        while True:
            sent.append(self.kernel_info())
            reply = await self._reply(sent[-1], min(deadline, time.monotonic() + REPLY_S))
            heard = SILENT if reply is None else await self._iopub(sent, min(deadline, time.monotonic() + IOPUB_S))
            if heard == READY and reply is not None:
                self._handle_kernel_info_reply(reply)
                return
            if heard == SILENT and not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")

    async def _reply(self, msg_id: str, until: float) -> dict[str, Any] | None:
        """The kernel_info_reply to this request, or None by `until` (replies to earlier attempts are dropped)."""
        while (left := until - time.monotonic()) > 0:
            try:
                msg = await self.shell_channel.get_msg(timeout=left)
            except Empty:
                return None
            if msg["msg_type"] == "kernel_info_reply" and msg["parent_header"].get("msg_id") == msg_id:
                return msg
        return None

    async def _iopub(self, sent: list[str], until: float) -> str:
        """READY when IOPub brings the idle status of one of these requests (what came before it is drained),
        SUBSCRIBED when it brings the kernel's welcome first, SILENT when nothing of either comes by `until`."""
        while (left := until - time.monotonic()) > 0:
            try:
                msg = await self.iopub_channel.get_msg(timeout=left)
            except Empty:
                return SILENT
            if msg["msg_type"] == "iopub_welcome":
                return SUBSCRIBED
            if (
                msg["msg_type"] == "status"
                and msg["parent_header"].get("msg_id") in sent
                and msg["content"].get("execution_state") == "idle"
            ):
                return READY
        return SILENT
