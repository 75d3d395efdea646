"""Run a test's step in a fork of the test process, and read back the one word it answers (the fork never returns)."""

from __future__ import annotations

import os
from typing import Callable


def answer_in_fork(step: Callable[[], bytes]) -> bytes:
    """`step()` in a fork of this process: its answer, or b"" if it raised (the fork ends either way)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(write, step())
        finally:
            os._exit(0)
    os.close(write)
    try:
        return os.read(read, 1024)
    finally:
        os.close(read)
        os.waitpid(pid, 0)
