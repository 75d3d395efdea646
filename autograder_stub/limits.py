"""Output cut at its source: a cell's prints stop reaching the grader once past its budget, and no message outgrows the cap.

Without this, a correct function with leftover debug prints could flood hundreds of megabytes through
ZeroMQ into the grader, which drops them anyway but only after reading them: on a loaded machine the
cell then runs out of time and its test is lost.
"""

from __future__ import annotations

import threading
from typing import Any

from .protocol import MAX_MESSAGE_BYTES

# What the kernel lets through past the grader's budget, so the grader still sees the budget was passed.
OVERSHOOT = 1024
_NOTE = "[salida demasiado grande: {size} MB; no se muestra]"


def install(budget: int) -> None:
    """Cap stream output per executed cell at budget (+ a little) characters, and every message at MAX_MESSAGE_BYTES."""
    from ipykernel.iostream import OutStream
    from jupyter_client.session import Session

    used: dict[str, int] = {}
    lock = threading.Lock()
    write = OutStream.write

    def capped_write(self: Any, string: str) -> int | None:
        if not isinstance(string, str):
            return write(self, string)
        parent = getattr(self, "parent_header", {}) or {}
        key = str(parent.get("msg_id", "")) if isinstance(parent, dict) else ""
        with lock:
            if len(used) > 1000:
                used.clear()
            seen = used.get(key, 0)
            used[key] = seen + len(string)
        room = budget + OVERSHOOT - seen
        if room <= 0:
            return len(string)
        write(self, string[:room])
        return len(string)

    serialize = Session.serialize

    def capped_serialize(self: Any, msg: dict[str, Any], ident: Any = None) -> list[bytes]:
        frames = serialize(self, msg, ident)
        size = sum(len(frame) for frame in frames)
        if size <= MAX_MESSAGE_BYTES:
            return frames
        note = _NOTE.format(size=round(size / 2**20))
        msg = dict(msg)
        msg_type = msg.get("header", {}).get("msg_type") if isinstance(msg.get("header"), dict) else None
        if msg_type == "stream":
            msg["content"] = {"name": "stdout", "text": note}
        elif msg_type in ("display_data", "execute_result", "update_display_data"):
            content = {"data": {"text/plain": note}, "metadata": {}}
            if msg_type == "execute_result":
                content["execution_count"] = msg.get("content", {}).get("execution_count")
            msg["content"] = content
        else:  # replies and the like carry no student output: left as they are
            return frames
        return serialize(self, msg, ident)

    OutStream.write = capped_write
    Session.serialize = capped_serialize
